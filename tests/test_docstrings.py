"""The tiny examples in every module's docstrings run and print what they claim."""

import doctest
import importlib
import inspect
import pkgutil

import pytest
import torch
from torch import nn

import mha_lib

MODULES = sorted(
    [m.name for m in pkgutil.walk_packages(mha_lib.__path__, "mha_lib.")] + ["mha_lib", "benchmarks.code_hash"]
)


def _defines_public_code(module) -> bool:
    """True if the module itself defines a public function or class (re-exports do not count)."""
    return any(
        (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__
        for name, obj in vars(module).items()
        if not name.startswith("_")
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"torch": torch, "nn": nn}, optionflags=doctest.NORMALIZE_WHITESPACE)
    if _defines_public_code(module):
        assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0

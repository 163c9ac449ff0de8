"""The tiny examples in every module's docstrings run and print what they claim."""

import doctest
import importlib

import pytest
import torch
from torch import nn

MODULES = [
    "mha_lib.attention",
    "mha_lib.masks",
    "mha_lib.heads",
    "mha_lib.modules",
    "mha_lib.efficient",
    "mha_lib.data",
    "mha_lib.checks",
    "mha_lib.viz",
    "mha_lib.widgets",
    "benchmarks.code_hash",
    "benchmarks.efficient",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"torch": torch, "nn": nn}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0

"""The tiny examples in the core modules' docstrings run and print what they claim."""

import doctest
import importlib

import pytest
import torch
from torch import nn

CORE = ["mha_lib.attention", "mha_lib.masks", "mha_lib.heads", "mha_lib.modules", "mha_lib.data"]


@pytest.mark.parametrize("name", CORE)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"torch": torch, "nn": nn}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0

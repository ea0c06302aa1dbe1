"""The examples in matcalc.autograd's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["matcalc.autograd"] + [f"matcalc.autograd.{m}" for m in (
    "mode", "tensor", "primitives", "functions", "engine", "functional", "creation", "printing")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_module_says_its_job():
    for name in MODULES:
        doc = importlib.import_module(name).__doc__
        assert doc and len(doc.strip().splitlines()[0]) > 20, name

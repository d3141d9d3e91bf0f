"""Run the examples in every module's docstrings (they are part of the documentation)."""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil

import pytest

import transactive

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(transactive.__path__, "transactive.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional layer whose extra is not installed (never in CI)
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name}: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

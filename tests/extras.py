"""Tests that need an optional extra skip cleanly where it is not installed: ``needs("torch")``
marks one test (or one ``pytest.param`` case), without importing the extra at collection."""

from __future__ import annotations

import importlib.util

import pytest


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def needs(module: str, extra: str | None = None) -> pytest.MarkDecorator:
    """Skip unless ``module`` is installed (``extra``: the phasesim extra that brings it, when it
    is not named after the module: httpx comes with ``openai``)."""
    return pytest.mark.skipif(not installed(module), reason=f"needs {module} "
                              f"(pip install 'phasesim[{extra or module}]')")

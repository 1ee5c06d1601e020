"""The tiny settings of every study, for the tests that run the whole DAG.

Each study gives its tiny settings once, as ``TINY`` in its test module
(``tests/studies/test_<name>.py``); a test that runs the DAG takes them for every registered
study and replaces the keys it needs (its layers, a recipe it tests). A new study is then
in every such test without touching it.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from featviz import studies


def tiny(name: str) -> dict[str, Any]:
    """Study ``name``'s tiny settings (its test module's ``TINY``)."""
    module = importlib.import_module(f"tests.studies.test_{name}")
    return copy.deepcopy(module.TINY)


def sections(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every registered study's section: its tiny settings, with the keys of ``overrides``
    (by study name) replacing theirs."""
    unknown = set(overrides) - set(studies.REGISTRY)
    if unknown:
        raise ValueError(f"Not studies: {', '.join(sorted(unknown))}.")
    return {name: {**tiny(name), **overrides.get(name, {})} for name in studies.REGISTRY}

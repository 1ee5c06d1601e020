"""The studies, in the order the report shows them (the seed's figure order).

Each name is a module of this package holding one
:class:`~featviz.studies.base.Study` as ``STUDY`` (see :mod:`featviz.studies.base`
for the shape). A new study is its module, its section of
``config/schema.yaml``, its test module (with its tiny settings, ``TINY``), and its name
in :data:`REGISTRY`: the workflow's rules, the report's order and the tests follow.
"""

from __future__ import annotations

import importlib

from featviz.studies.base import Study

REGISTRY: tuple[str, ...] = (
    "activations",
    "convergence",
    "joint",
    "filters",
    "directions",
    "ablation",
    "recommended",
    "dictionary",
    "deconv",
    "redundancy",
)


def get(name: str) -> Study:
    """The study called ``name``.

    Raises:
        ValueError: naming the unknown study and listing the known ones.
    """
    if name not in REGISTRY:
        raise ValueError(f"Unknown study '{name}'. Studies: {', '.join(REGISTRY)}.")
    return importlib.import_module(f"featviz.studies.{name}").STUDY


def every() -> list[Study]:
    """Every study, in report order."""
    return [get(name) for name in REGISTRY]


def sections() -> dict[str, str]:
    """Every report section the studies fill, in report order: key -> title."""
    return {key: title for study in every() for key, title in study.sections.items()}

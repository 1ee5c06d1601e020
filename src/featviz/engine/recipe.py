"""Render settings from plain data (a config section) to engine objects, and back to words.

A *recipe* is the JSON-able description of how to render: parameterization,
transforms and regularizers. Workflow rules pass it to the CLI; captions
describe it with :func:`describe`.

    {"parameterization": "fourier", "decorrelate": true, "transforms": "auto",
     "regularizers": {"l2": 0.05, "blur": {"sigma": 0.5, "every": 8}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras

from featviz.engine import regularizers as reg
from featviz.engine.objectives import Objective
from featviz.engine.params import Parameterization, fourier, pixel
from featviz.engine.render import RenderResult, render
from featviz.engine.transforms import Transform, preset

EDITS = {
    "decay": (reg.decay, ("rate", "every")),
    "blur": (reg.gaussian_blur, ("sigma", "every")),
    "bilateral": (reg.bilateral, ("sigma_spatial", "sigma_color", "every")),
    "clip_norm": (reg.clip_norm, ("percentile", "every")),
    "clip_contribution": (reg.clip_contribution, ("percentile", "every")),
}
PENALTIES = {"l1": reg.l1, "l2": reg.l2, "tv": reg.total_variation}


@dataclass(frozen=True)
class Recipe:
    param: Parameterization
    transforms: Transform | None
    regularizers: list[reg.Regularizer]


def build(settings: Mapping[str, Any], image_shape: tuple[int, int, int]) -> Recipe:
    """Engine objects for ``settings`` and a model taking ``image_shape`` images.

    ``transforms: auto`` picks the preset for the input: ``grey28`` for one
    channel, ``colour32`` for three.
    """
    kind = settings.get("parameterization", "pixel")
    decorrelate = bool(settings.get("decorrelate", False)) and image_shape[-1] == 3
    if kind == "pixel":
        param = pixel(decorrelate=decorrelate)
    elif kind == "fourier":
        param = fourier(decay=float(settings.get("fourier_decay", 1.0)), decorrelate=decorrelate)
    else:
        raise ValueError(f"Unknown parameterization '{kind}'. Known: pixel, fourier.")
    name = settings.get("transforms", "none")
    if name == "auto":
        name = "colour32" if image_shape[-1] == 3 else "grey28"
    transforms = None if name == "none" else preset(name)
    regs: list[reg.Regularizer] = []
    for key, value in (settings.get("regularizers") or {}).items():
        if key in PENALTIES:
            if value:
                regs.append(PENALTIES[key](float(value)))
        elif key in EDITS:
            if value:
                make, fields = EDITS[key]
                regs.append(make(**{f: value[f] for f in fields if f in value}))
        else:
            known = ", ".join([*PENALTIES, *EDITS])
            raise ValueError(f"Unknown regularizer '{key}'. Known: {known}.")
    return Recipe(param, transforms, regs)


def describe(recipe: Recipe) -> str:
    """A caption fragment: 'pixel space; transforms pad(2), ...; regularizers L2 0.05, ...'."""
    parts = [f"{recipe.param.name} parameterization"]
    parts.append(f"transforms {recipe.transforms.name}" if recipe.transforms else "no transforms")
    parts.append(
        "regularizers " + ", ".join(r.name for r in recipe.regularizers)
        if recipe.regularizers
        else "no regularizer"
    )
    return "; ".join(parts)


def input_shape(model: keras.Model) -> tuple[int, int, int]:
    return tuple(int(s) for s in model.inputs[0].shape[1:])  # type: ignore[return-value]


def render_with(
    model: keras.Model,
    objectives: list[Objective],
    settings: Mapping[str, Any] | None,
    **kwargs: Any,
) -> tuple[RenderResult, str]:
    """:func:`~featviz.engine.render` with the recipe ``settings``; also returns its description."""
    cooked = build(settings or {}, input_shape(model))
    result = render(
        model,
        objectives,
        param=cooked.param,
        transforms=cooked.transforms,
        regularizers=cooked.regularizers,
        **kwargs,
    )
    return result, describe(cooked)

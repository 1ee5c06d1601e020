"""Render settings from plain data (a config section) to engine objects, and back to words.

A *recipe* is the JSON-able description of how to render: learning rate and
seed, parameterization, transforms and regularizers, as ``$defs/render`` of
``config/schema.yaml`` declares them with their defaults. Studies hand their
config section here; captions describe the recipe with :func:`describe`.

    {"parameterization": "fourier", "decorrelate": true, "transforms": "auto",
     "regularizers": {"l2": 0.05, "blur": {"sigma": 0.5, "every": 8}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from featviz.engine import regularizers as reg
from featviz.engine.objectives import Objective
from featviz.engine.params import Parameterization, fourier, latent, maco, pixel
from featviz.engine.render import RenderResult, render
from featviz.engine.starts import Start
from featviz.engine.transforms import Transform, preset
from featviz.settings import validate_definition

EDITS = {
    "decay": (reg.decay, ("rate", "every")),
    "blur": (reg.gaussian_blur, ("sigma", "every")),
    "bilateral": (reg.bilateral, ("sigma_spatial", "sigma_color", "every")),
    "clip_norm": (reg.clip_norm, ("percentile", "every")),
    "clip_contribution": (reg.clip_contribution, ("percentile", "every")),
}
PENALTIES = {
    "l1": reg.l1,
    "l2": reg.l2,
    "tv": reg.total_variation,
    "anchor": reg.anchor,
    "feature_anchor": reg.feature_anchor,
}
RELU_WORDS = {
    "pre_activation": "pre-activations climbed while a unit is off",
    "redirected": "redirected ReLU gradients",
}


@dataclass(frozen=True)
class Recipe:
    param: Parameterization
    transforms: Transform | None
    regularizers: list[reg.Regularizer]
    start: Start = Start()
    relu_gradient: str = "plain"


@dataclass(frozen=True)
class Resources:
    """What some parameterizations need besides settings: data, or a trained model.

    Attributes:
        spectrum: the dataset's mean amplitude spectrum ``(C, H, W)``, for ``maco``.
        generator: the learned prior's decoder, for ``prior``.
        images: real images in [0, 1] ``(M, H, W, C)`` (the training split), for the
            ``noise`` and ``natural`` starts.
    """

    spectrum: np.ndarray | None = None
    generator: keras.Model | None = None
    images: np.ndarray | None = None


#: Parameterizations that start from images (the others begin from their own statistics).
STARTS_FROM_IMAGES = ("pixel", "fourier")


def needs_images(settings: Mapping[str, Any]) -> bool:
    """Whether a recipe's start draws on real images (:class:`Resources` ``images``)."""
    return settings["start"] != "grey" and settings["parameterization"] in STARTS_FROM_IMAGES


def build(
    settings: Mapping[str, Any],
    image_shape: tuple[int, int, int],
    resources: Resources | None = None,
) -> Recipe:
    """Engine objects for the render ``settings`` and a model taking ``image_shape`` images.

    Settings absent from ``settings`` take the schema's defaults (``$defs/render``
    of ``config/schema.yaml``). ``transforms: auto`` picks the preset for the
    input: ``grey28`` for one channel, ``colour32`` for three.

    Raises:
        SettingsError: a setting the schema does not accept.
        ValueError: ``maco`` without the dataset's spectrum, ``prior`` without a generator.
    """
    settings = validate_definition("render", settings, "render")
    resources = resources or Resources()
    decorrelate = settings["decorrelate"] and image_shape[-1] == 3
    kind = settings["parameterization"]
    if kind == "fourier":
        param = fourier(decay=float(settings["fourier_decay"]), decorrelate=decorrelate)
    elif kind == "maco":
        if resources.spectrum is None:
            raise ValueError("The maco parameterization needs the dataset's amplitude spectrum.")
        param = maco(resources.spectrum)
    elif kind == "prior":
        if resources.generator is None:
            raise ValueError("The prior parameterization needs the learned prior's decoder.")
        param = latent(resources.generator)
        param.name = "learned prior (autoencoder latent)"
    else:
        param = pixel(decorrelate=decorrelate)
    name = settings["transforms"]
    if name == "auto":
        name = "colour32" if image_shape[-1] == 3 else "grey28"
    transforms = None if name == "none" else preset(name)
    regs: list[reg.Regularizer] = []
    for key, value in settings["regularizers"].items():
        if key in PENALTIES and value:
            regs.append(PENALTIES[key](float(value)))
        elif key in EDITS and value:
            make, fields = EDITS[key]
            regs.append(make(**{f: value[f] for f in fields}))
    if needs_images(settings) and resources.images is None:
        raise ValueError(
            f"The '{settings['start']}' start draws on real images, and none were given: pass "
            "Resources(images=...) (the training split, in [0, 1]), or set start: grey."
        )
    start = Start(settings["start"] if needs_images(settings) else "grey", resources.images)
    return Recipe(param, transforms, regs, start, settings["relu_gradient"])


def describe(recipe: Recipe, precision: str = "float32") -> str:
    """A caption fragment: 'pixel space; transforms pad(2), ...; regularizers L2 0.05, ...'
    (and the steps' precision where it is not float32)."""
    parts = [f"{recipe.param.name} parameterization"]
    parts.append(f"transforms {recipe.transforms.name}" if recipe.transforms else "no transforms")
    parts.append(
        "regularizers " + ", ".join(r.name for r in recipe.regularizers)
        if recipe.regularizers
        else "no regularizer"
    )
    if recipe.start.kind != "grey" and recipe.param.invertible:
        parts.append(recipe.start.describe())
    if recipe.relu_gradient != "plain":
        parts.append(RELU_WORDS[recipe.relu_gradient])
    if precision != "float32":
        parts.append(f"steps in {precision}")
    return "; ".join(parts)


def input_shape(model: keras.Model) -> tuple[int, int, int]:
    return tuple(int(s) for s in model.inputs[0].shape[1:])  # type: ignore[return-value]


def render_with(
    model: keras.Model,
    objectives: list[Objective],
    settings: Mapping[str, Any] | None,
    resources: Resources | None = None,
    **kwargs: Any,
) -> tuple[RenderResult, str]:
    """:func:`~featviz.engine.render` with the render ``settings`` (learning rate, seed,
    parameterization, transforms, regularizers); also returns the recipe's description.

    ``kwargs`` go to :func:`~featviz.engine.render` (``steps``, ``batch_size``, ...).
    """
    settings = validate_definition("render", settings or {}, "render")
    cooked = build(settings, input_shape(model), resources)
    result = render(
        model,
        objectives,
        param=cooked.param,
        transforms=cooked.transforms,
        regularizers=cooked.regularizers,
        start=cooked.start,
        relu_gradient=cooked.relu_gradient,
        learning_rate=settings["learning_rate"],
        seed=settings["seed"],
        precision=settings["precision"],
        **kwargs,
    )
    return result, describe(cooked, settings["precision"])

"""Activation maximization for any Keras 3 model.

Four kinds of composable pieces, each a module with one shape:

- :mod:`~featviz.engine.objectives`: model activations -> one scalar per image;
- :mod:`~featviz.engine.params`: trainable variables -> a valid image batch;
- :mod:`~featviz.engine.transforms`: an image batch -> a randomly transformed batch;
- :mod:`~featviz.engine.regularizers`: a penalty, or an edit of the image;
- :mod:`~featviz.engine.starts`: where each image begins (grey, noise, real images, or
  each objective's best exemplars);

and :func:`render`, which optimizes a whole batch of objectives at once
inside one compiled step.
"""

from featviz.engine.objectives import (
    Objective,
    channel,
    class_logit,
    class_probability,
    direction,
    diversity,
    for_units,
    neuron,
    unit,
)
from featviz.engine.params import colour_correlation, fourier, latent, maco, pixel
from featviz.engine.regularizers import (
    anchor,
    bilateral,
    clip_contribution,
    clip_norm,
    decay,
    default_set,
    feature_anchor,
    gaussian_blur,
    l1,
    l2,
    total_variation,
)
from featviz.engine.render import RenderError, RenderResult, Variant, evaluate, render
from featviz.engine.starts import Start
from featviz.engine.transforms import compose, jitter, pad, preset, rotate, scale

__all__ = [
    "Objective",
    "RenderError",
    "RenderResult",
    "Start",
    "Variant",
    "anchor",
    "bilateral",
    "channel",
    "class_logit",
    "class_probability",
    "clip_contribution",
    "clip_norm",
    "colour_correlation",
    "compose",
    "decay",
    "default_set",
    "feature_anchor",
    "direction",
    "evaluate",
    "diversity",
    "for_units",
    "fourier",
    "gaussian_blur",
    "jitter",
    "l1",
    "l2",
    "latent",
    "maco",
    "neuron",
    "pad",
    "pixel",
    "preset",
    "render",
    "rotate",
    "scale",
    "total_variation",
    "unit",
]

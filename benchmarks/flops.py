"""Multiply-accumulates of a model's convolutions and dense layers: the one count the
benchmarks build their floating-point figures from (render steps, training steps)."""

from __future__ import annotations

import keras
import numpy as np


def layer_macs(layer: keras.layers.Layer, out: int | None = None) -> int:
    """One image's multiply-accumulates in ``layer`` (0 for a layer without a kernel), for
    ``out`` of its output channels (all when not given)."""
    if not isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
        return 0
    kernel = tuple(int(d) for d in layer.kernel.shape)
    positions = (
        int(np.prod(layer.output.shape[1:3])) if isinstance(layer, keras.layers.Conv2D) else 1
    )
    return positions * int(np.prod(kernel[:-1])) * (kernel[-1] if out is None else out)

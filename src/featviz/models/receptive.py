"""Receptive fields: which input pixels a position of a spatial layer sees.

For a chain of convolutions and poolings, a position ``(y, x)`` of layer ``l``
sees the square of side ``size`` whose first row and column are
``start + stride * (y, x) - (size - 1) / 2`` rounded down; ``size``, ``stride``
and ``start`` (the input coordinate of the centre of position 0) follow from the
kernels, strides and padding of the layers below::

    size_l   = size_{l-1} + (k - 1) * stride_{l-1}
    stride_l = stride_{l-1} * s
    start_l  = start_{l-1} + ((k - 1) / 2 - pad_before) * stride_{l-1}

with Keras' ``same`` padding putting ``floor(total / 2)`` pixels before. Layers
that keep positions (batch norm, activations, dropout) keep the field; where
branches merge (``Add``) the field is the smallest square holding both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np


@dataclass(frozen=True)
class Field:
    """The receptive field of every position of one layer.

    Attributes:
        size: side of the field, in input pixels.
        stride: input pixels between the fields of neighbouring positions.
        start: input coordinate (row or column) of the centre of position 0.
    """

    size: int
    stride: int
    start: float

    def window(self, y: int, x: int, height: int, width: int) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` of position ``(y, x)``'s field, clipped to the image."""
        top = math.floor(self.start + self.stride * y - (self.size - 1) / 2)
        left = math.floor(self.start + self.stride * x - (self.size - 1) / 2)
        return (
            max(top, 0),
            max(left, 0),
            min(top + self.size, height),
            min(left + self.size, width),
        )


def _pad_before(size_in: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "valid":
        return 0
    size_out = math.ceil(size_in / stride)
    return max((size_out - 1) * stride + kernel - size_in, 0) // 2


def _step(field: Field, kernel: int, stride: int, padding: str, size_in: int) -> Field:
    return Field(
        size=field.size + (kernel - 1) * field.stride,
        stride=field.stride * stride,
        start=field.start
        + ((kernel - 1) / 2 - _pad_before(size_in, kernel, stride, padding)) * field.stride,
    )


def _merge(fields: list[Field]) -> Field:
    lows = [f.start - (f.size - 1) / 2 for f in fields]
    highs = [f.start + (f.size - 1) / 2 for f in fields]
    low, high = min(lows), max(highs)
    return Field(size=int(round(high - low)) + 1, stride=fields[0].stride, start=(low + high) / 2)


def receptive_fields(model: keras.Model) -> dict[str, Field]:
    """The :class:`Field` of every layer of ``model`` whose output has positions.

    Raises:
        ValueError: a spatial layer of a kind whose field is not known (naming it).
    """
    fields: dict[str, Field] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            fields[layer.name] = Field(1, 1, 0.0)
            continue
        if len(layer.output.shape) != 4:
            continue
        nodes = layer._inbound_nodes[0].input_tensors
        below = [fields.get(t._keras_history.operation.name) for t in nodes]
        if any(f is None for f in below):
            continue
        field = _merge(below) if len(below) > 1 else below[0]
        size_in = int(nodes[0].shape[1])
        if isinstance(layer, keras.layers.Conv2D):
            kernel, stride = layer.kernel_size[0], layer.strides[0]
            dilation = layer.dilation_rate[0]
            field = _step(field, dilation * (kernel - 1) + 1, stride, layer.padding, size_in)
        elif isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
            field = _step(field, layer.pool_size[0], layer.strides[0], layer.padding, size_in)
        elif int(layer.output.shape[1]) != size_in:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) changes the spatial size; its "
                "receptive field is not known."
            )
        fields[layer.name] = field
    return fields


def windows(field: Field | None, positions: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(..., 4)`` input windows ``(top, left, bottom, right)`` seen at ``positions``: the
    receptive ``field`` there, or the whole image for a layer without positions."""
    height, width = (int(s) for s in size)
    flat = positions.reshape(-1, 2)
    if field is None:
        boxes = np.tile([0, 0, height, width], (len(flat), 1))
    else:
        boxes = np.array([field.window(int(y), int(x), height, width) for y, x in flat])
    return boxes.reshape(*positions.shape[:-1], 4).astype(np.int64)

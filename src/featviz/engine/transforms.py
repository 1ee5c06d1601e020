"""Transforms: an image batch -> a randomly transformed batch (transformation robustness).

Each transform is called as ``transform(images, rng)`` inside the compiled
step, with ``rng`` a stateless stream for that step, and draws its own
random parameters per image. ``compose`` chains them. Padding makes images
larger; the render loop crops the result back to the model's input size
around the centre.

Presets hold good defaults for small inputs::

    preset("grey28")    # pad 2, jitter 2, rotate 5 deg, scale 0.95-1.05, jitter 1
    preset("colour32")  # pad 2, jitter 2, rotate 8 deg, scale 0.9-1.1, jitter 1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keras import ops

NEUTRAL = 0.5  # grey: the value padding and out-of-image samples take


@dataclass(frozen=True)
class Transform:
    """A named random transform; ``fn(images, rng) -> images``."""

    name: str
    fn: Callable[[Any, Any], Any]

    def __call__(self, images: Any, rng: Any) -> Any:
        return self.fn(images, rng)


def _affine(images: Any, a: Any, b: Any, tx: Any, ty: Any) -> Any:
    """Resample each image by the inverse map ``(x, y) -> A (x - c, y - c) + c + t``."""
    h, w = int(images.shape[1]), int(images.shape[2])
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    # A = [[a, -b], [b, a]] (rotation and scale); keras' transform maps output -> input.
    a0, a1, b0, b1 = a, -b, b, a
    a2 = cx - a0 * cx - a1 * cy + tx
    b2 = cy - b0 * cx - b1 * cy + ty
    zeros = ops.zeros_like(a)
    transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return ops.image.affine_transform(
        images, transform, interpolation="bilinear", fill_mode="constant", fill_value=NEUTRAL
    )


def pad(pixels: int) -> Transform:
    """Pad every side with ``pixels`` of neutral grey."""

    def fn(images, rng):
        return ops.pad(
            images, [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]], constant_values=NEUTRAL
        )

    return Transform(f"pad({pixels})", fn)


def jitter(pixels: int) -> Transform:
    """Shift each image by a random whole number of pixels in [-pixels, pixels] on each axis."""

    def fn(images, rng):
        n = images.shape[0]
        shift = ops.floor(rng.uniform((n, 2), -pixels, pixels + 1.0))
        ones = ops.ones((n,))
        return _affine(images, ones, ops.zeros((n,)), shift[:, 0], shift[:, 1])

    return Transform(f"jitter({pixels})", fn)


def rotate(degrees: float) -> Transform:
    """Rotate each image by a random angle in [-degrees, degrees] about its centre."""

    def fn(images, rng):
        n = images.shape[0]
        angle = rng.uniform((n,), -degrees, degrees) * (math.pi / 180.0)
        zero = ops.zeros((n,))
        return _affine(images, ops.cos(angle), ops.sin(angle), zero, zero)

    return Transform(f"rotate({degrees:g})", fn)


def scale(low: float, high: float) -> Transform:
    """Scale each image by a random factor in [low, high] about its centre."""
    if not 0 < low <= high:
        raise ValueError(f"scale needs 0 < low <= high, got {low} and {high}.")

    def fn(images, rng):
        n = images.shape[0]
        factor = rng.uniform((n,), low, high)
        zero = ops.zeros((n,))
        return _affine(images, 1.0 / factor, zero, zero, zero)

    return Transform(f"scale({low:g}, {high:g})", fn)


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order."""
    transforms = list(transforms)

    def fn(images, rng):
        for t in transforms:
            images = t(images, rng)
        return images

    return Transform(", ".join(t.name for t in transforms) or "none", fn)


def center_crop(images: Any, height: int, width: int) -> Any:
    """Crop a batch to ``height x width`` around the centre (no-op at that size)."""
    h, w = int(images.shape[1]), int(images.shape[2])
    if (h, w) == (height, width):
        return images
    if h < height or w < width:
        raise ValueError(
            f"Transforms made {h}x{w} images, smaller than the model's {height}x{width}."
        )
    top, left = (h - height) // 2, (w - width) // 2
    return images[:, top : top + height, left : left + width, :]


PRESETS: dict[str, Callable[[], Transform]] = {
    "none": lambda: compose([]),
    "grey28": lambda: compose([pad(2), jitter(2), rotate(5), scale(0.95, 1.05), jitter(1)]),
    "colour32": lambda: compose([pad(2), jitter(2), rotate(8), scale(0.9, 1.1), jitter(1)]),
}


def preset(name: str) -> Transform:
    """A named set of transforms with good defaults (see the module docstring)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown transform preset '{name}'. Presets: {', '.join(PRESETS)}.")
    return PRESETS[name]()

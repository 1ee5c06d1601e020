"""Regularizers: keep optimized images from turning into high-frequency noise.

Two shapes, both combinable in one render:

- *penalties* add ``weight * penalty(image)`` to what is minimized: :func:`l1`,
  :func:`l2` (decay as a penalty) and :func:`total_variation`; :func:`anchor` and
  :func:`feature_anchor` compare the image with its start, in pixels or in features;
- *image edits* change the image every ``every`` steps, inside the compiled
  step, and write it back through the parameterization: :func:`decay`,
  :func:`gaussian_blur`, :func:`bilateral`, :func:`clip_norm` and
  :func:`clip_contribution` (Yosinski et al. 2015).

"Zero" for a [0, 1] image is neutral grey (0.5): decay pulls towards it and
clipping sets small pixels to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from keras import ops

from featviz.settings import declared


def _edit_default(edit: str, key: str):
    """An image edit's default as the schema declares it (``regularizers.<edit>.<key>``)."""
    return declared(f"$defs.regularizers.{edit}.{key}")


NEUTRAL = 0.5


@dataclass(frozen=True)
class Regularizer:
    """A penalty (``penalty`` and ``weight``) or an image edit (``edit`` and ``every``)."""

    name: str
    weight: float = 0.0
    penalty: Callable[[Any], Any] | None = None
    every: int = 0
    edit: Callable[[Any, Any], Any] | None = None
    needs_image_grad: bool = False
    #: How far (pixels) an edit reads from each pixel; it must stay inside the image.
    reach: int = 0
    #: The setting that decides ``reach``, for messages.
    reach_setting: str = ""
    #: The penalty compares the image with its start: ``penalty(images, starts)``.
    reads_start: bool = False
    #: Where a start-reading penalty compares: ``pixels``, or ``features`` (the render
    #: hands it the activations of the layer below each objective's, image and start).
    space: str = "pixels"

    @property
    def is_penalty(self) -> bool:
        return self.penalty is not None


def _mean_per_image(x: Any) -> Any:
    return ops.mean(ops.reshape(x, (x.shape[0], -1)), axis=1)


def l1(weight: float) -> Regularizer:
    """``weight * mean |x - 0.5|``: favours few pixels away from grey."""
    return Regularizer(f"L1 {weight:g}", weight, lambda x: _mean_per_image(ops.abs(x - NEUTRAL)))


def l2(weight: float) -> Regularizer:
    """``weight * mean (x - 0.5)^2``: L2 decay as a penalty."""
    return Regularizer(f"L2 {weight:g}", weight, lambda x: _mean_per_image(ops.square(x - NEUTRAL)))


def total_variation(weight: float) -> Regularizer:
    """``weight * mean of squared differences between neighbouring pixels``."""

    def penalty(x):
        dy = ops.square(x[:, 1:, :, :] - x[:, :-1, :, :])
        dx = ops.square(x[:, :, 1:, :] - x[:, :, :-1, :])
        return _mean_per_image(dy) + _mean_per_image(dx)

    return Regularizer(f"TV {weight:g}", weight, penalty)


def anchor(weight: float) -> Regularizer:
    """``weight * mean (x - start)^2``: keeps the image close to the one it started from.

    With starts from a unit's natural exemplars this is feature accentuation (Hamblin et
    al. 2024): the exemplar changed as little as it takes to drive the unit harder, which
    shows *what* in a natural image the unit responds to.
    """
    return Regularizer(
        f"anchor {weight:g}",
        weight,
        lambda x, start: _mean_per_image(ops.square(x - start)),
        reads_start=True,
    )


def feature_anchor(weight: float) -> Regularizer:
    """``weight * |f(x) - f(start)|^2 / |f(start)|^2``, ``f`` the layer below the objective's.

    Feature accentuation with the penalty in the model's own feature space, as Hamblin et
    al. (2024) prefer: the image may change any pixel the layer below does not see, but
    keeps what that layer makes of its exemplar. ``f`` is the nearest layer with weights
    before the objective's layer (pixels for the first such layer); the distance is relative
    to the start's own, so one weight serves every layer.
    """

    def penalty(features, start):
        change = _mean_per_image(ops.square(features - start))
        return change / (_mean_per_image(ops.square(start)) + 1e-8)

    return Regularizer(
        f"feature anchor {weight:g}", weight, penalty, reads_start=True, space="features"
    )


def _check_every(every: int) -> None:
    if every < 1:
        raise ValueError(f"An image edit needs every >= 1, got {every}.")


def decay(rate: float, every: int = _edit_default("decay", "every")) -> Regularizer:
    """Pull every pixel a fraction ``rate`` of the way back to grey."""
    _check_every(every)
    return Regularizer(
        f"decay {rate:g}/{every}",
        every=every,
        edit=lambda x, g: NEUTRAL + (1.0 - rate) * (x - NEUTRAL),
    )


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalized 1-D Gaussian of radius ``ceil(3 sigma)``."""
    radius = max(1, math.ceil(3 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def blur(images: Any, sigma: float) -> Any:
    """Separable Gaussian blur of each channel, reflecting at the borders."""
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    c = int(images.shape[-1])
    x = ops.pad(images, [[0, 0], [r, r], [r, r], [0, 0]], mode="reflect")
    kv = ops.convert_to_tensor(np.tile(k[:, None, None, None], (1, 1, c, 1)))
    kh = ops.convert_to_tensor(np.tile(k[None, :, None, None], (1, 1, c, 1)))
    x = ops.depthwise_conv(x, kv, padding="valid")
    return ops.depthwise_conv(x, kh, padding="valid")


def gaussian_blur(sigma: float, every: int = _edit_default("blur", "every")) -> Regularizer:
    """Blur the image with a Gaussian of ``sigma`` pixels every ``every`` steps."""
    _check_every(every)
    return Regularizer(
        f"blur {sigma:g}/{every}",
        every=every,
        edit=lambda x, g: blur(x, sigma),
        reach=len(gaussian_kernel(sigma)) // 2,
        reach_setting="regularizers.blur.sigma",
    )


def spatial_kernel(win_size: int, sigma: float) -> np.ndarray:
    """The bilateral filter's spatial weights: a ``win_size`` square Gaussian of ``sigma``."""
    t = np.arange(win_size) - win_size // 2
    yy, xx = np.meshgrid(t, t, indexing="ij")
    return np.exp(-0.5 * (yy**2 + xx**2) / sigma**2).astype(np.float32)


def bilateral_filter(
    images: Any,
    sigma_spatial: float,
    sigma_color: float,
    win_size: int | None = None,
    mode: str = "reflect",
    weights: np.ndarray | None = None,
) -> Any:
    """Edge-preserving smoothing of a ``(B, H, W, C)`` batch, in tensor ops.

    Each output pixel is the average of its ``win_size``-square neighbourhood
    weighted by ``spatial(dy, dx) * exp(-|v - centre|^2 / (2 sigma_color^2))``,
    with ``|.|`` the Euclidean distance over channels. The window defaults to
    scikit-image's ``max(5, 2 ceil(3 sigma_spatial) + 1)``; borders are
    padded by ``mode`` (``reflect``, ``symmetric`` or ``constant``).

    ``weights`` replaces the spatial Gaussian with any ``win_size`` square
    table (the tests pass scikit-image's own table this way).
    """
    win = win_size or max(5, 2 * math.ceil(3 * sigma_spatial) + 1)
    ext = win // 2
    spatial = spatial_kernel(win, sigma_spatial) if weights is None else np.asarray(weights)
    if spatial.shape != (win, win):
        raise ValueError(f"Spatial weights of shape {spatial.shape}, expected ({win}, {win}).")
    h, w = int(images.shape[1]), int(images.shape[2])
    padded = ops.pad(images, [[0, 0], [ext, ext], [ext, ext], [0, 0]], mode=mode)
    inv = -0.5 / float(sigma_color) ** 2
    num = ops.zeros_like(images)
    den = ops.zeros_like(images[..., :1])
    for dy in range(win):
        for dx in range(win):
            nb = padded[:, dy : dy + h, dx : dx + w, :]
            dist2 = ops.sum(ops.square(nb - images), axis=-1, keepdims=True)
            weight = float(spatial[dy, dx]) * ops.exp(inv * dist2)
            num = num + weight * nb
            den = den + weight
    return num / den


def bilateral(
    sigma_spatial: float = _edit_default("bilateral", "sigma_spatial"),
    sigma_color: float = _edit_default("bilateral", "sigma_color"),
    every: int = _edit_default("bilateral", "every"),
    win_size: int | None = None,
) -> Regularizer:
    """Bilateral filter every ``every`` steps: blurs flat regions, keeps edges (Tyka 2016)."""
    _check_every(every)
    return Regularizer(
        f"bilateral {sigma_spatial:g},{sigma_color:g}/{every}",
        every=every,
        edit=lambda x, g: bilateral_filter(x, sigma_spatial, sigma_color, win_size),
        reach=(win_size or max(5, 2 * math.ceil(3 * sigma_spatial) + 1)) // 2,
        reach_setting="regularizers.bilateral.sigma_spatial",
    )


def _percentile_mask(score: Any, percentile: float) -> Any:
    """Per image, True where ``score`` (``(B, H, W)``) is at or above its ``percentile``."""
    if not 0 <= percentile < 100:
        raise ValueError(f"percentile must be in [0, 100), got {percentile}.")
    n = int(score.shape[1]) * int(score.shape[2])
    flat = ops.sort(ops.reshape(score, (score.shape[0], n)), axis=-1)
    k = int(percentile / 100.0 * (n - 1))
    threshold = ops.reshape(flat[:, k], (-1, 1, 1))
    return ops.expand_dims(score >= threshold, -1)


def clip_norm(percentile: float, every: int = _edit_default("clip_norm", "every")) -> Regularizer:
    """Set the pixels whose norm (distance from grey) is below ``percentile`` to grey."""
    _check_every(every)

    def edit(x, g):
        norm = ops.sqrt(ops.sum(ops.square(x - NEUTRAL), axis=-1))
        return ops.where(_percentile_mask(norm, percentile), x, NEUTRAL)

    return Regularizer(f"clip norm p{percentile:g}/{every}", every=every, edit=edit)


def clip_contribution(
    percentile: float, every: int = _edit_default("clip_contribution", "every")
) -> Regularizer:
    """Set to grey the pixels whose contribution ``|sum_c (x - 0.5) dObj/dx|`` is smallest."""
    _check_every(every)

    def edit(x, g):
        contribution = ops.abs(ops.sum((x - NEUTRAL) * g, axis=-1))
        return ops.where(_percentile_mask(contribution, percentile), x, NEUTRAL)

    return Regularizer(
        f"clip contribution p{percentile:g}/{every}", every=every, edit=edit, needs_image_grad=True
    )


def default_set() -> list[Regularizer]:
    """A good general-purpose set: mild L2 and TV penalties plus a blur every 8 steps."""
    return [l2(0.05), total_variation(0.5), gaussian_blur(0.5, every=8)]

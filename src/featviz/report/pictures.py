"""Small pictures for web pages: images as PNG thumbnails, strips of crops, traces as SVG.

Every thumbnail of the atlas is written by :func:`save_png`, so they all share
one scale rule (nearest-neighbour upscaling, so a pixel stays a pixel), one
colour mapping (the model's input range [0, 1], clipped) and one background
(NaN pixels: padding between crops). PNGs are written by Pillow without
metadata, so the same array gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from featviz.io import atomic_path
from featviz.plotting import tile

#: Grey level (in [0, 1]) of padding and gaps.
BACKGROUND = 0.93


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, C)`` image in [0, 1] as 8-bit, NaN as :data:`BACKGROUND`."""
    image = np.where(np.isfinite(image), image, BACKGROUND)
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def save_png(image: np.ndarray, path: str | os.PathLike[str], scale: int = 1) -> Path:
    """Write an ``(H, W, 1)`` grey or ``(H, W, 3)`` colour image in [0, 1] as a PNG, each
    pixel ``scale`` pixels wide.

    Raises:
        ValueError: an array of another shape, naming it.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: expected an (H, W, 1) or (H, W, 3) image, got {image.shape}.")
    pixels = to_uint8(image)
    if scale > 1:
        pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return path


def crop(image: np.ndarray, window: Sequence[int]) -> np.ndarray:
    """The ``(top, left, bottom, right)`` window of an ``(H, W, C)`` image."""
    top, left, bottom, right = (int(v) for v in window)
    return image[top:bottom, left:right]


def strip(images: Sequence[np.ndarray], gap: int = 1) -> np.ndarray:
    """Images of different sizes side by side, each centred in a cell of the largest size,
    with ``gap`` pixels between cells; padding is NaN (the background)."""
    if not images:
        raise ValueError("A strip needs at least one image.")
    height = max(im.shape[0] for im in images)
    width = max(im.shape[1] for im in images)
    cells = np.full((len(images), height, width, images[0].shape[-1]), np.nan)
    for cell, im in zip(cells, images, strict=True):
        top, left = (height - im.shape[0]) // 2, (width - im.shape[1]) // 2
        cell[top : top + im.shape[0], left : left + im.shape[1]] = im
    return tile(cells, len(images), gap)


def kernels_image(kernel: np.ndarray, columns: int = 8, gap: int = 1) -> np.ndarray:
    """The filters of a first convolution, ``(kh, kw, in, out)`` with ``in`` 1 or 3, as one
    image: each filter scaled to [0, 1] on its own (so its pattern shows), in a grid."""
    cin = kernel.shape[2]
    if cin not in (1, 3):
        raise ValueError(f"A kernel image needs 1 or 3 input channels, got {cin}.")
    filters = np.moveaxis(np.asarray(kernel, dtype=np.float64), -1, 0)
    lo = filters.min(axis=(1, 2, 3), keepdims=True)
    hi = filters.max(axis=(1, 2, 3), keepdims=True)
    flat = hi <= lo
    scaled = np.where(flat, 0.5, (filters - lo) / np.where(flat, 1.0, hi - lo))
    return tile(scaled, columns, gap)


def trace_svg(
    steps: Sequence[float],
    values: Sequence[float],
    mark: float | None = None,
    width: int = 320,
    height: int = 120,
    label: str = "objective",
) -> str:
    """An objective over steps as an inline SVG line plot (NaN values left out), with the
    first and last step and the lowest and highest value written on the axes, and an
    optional vertical ``mark`` (the step where the objective plateaued)."""
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    kept = np.isfinite(y)  # a run stopped at its plateau has no values after it
    x, y = x[kept], y[kept]
    pad_left, pad_bottom, pad = 56, 18, 6
    w, h = width - pad_left - pad, height - pad_bottom - pad
    x0, x1 = float(x.min()), float(x.max()) if x.max() > x.min() else float(x.min()) + 1
    y0, y1 = float(np.nanmin(y)), float(np.nanmax(y))
    if y1 <= y0:
        y1 = y0 + 1.0

    def px(v: float) -> float:
        return pad_left + (v - x0) / (x1 - x0) * w

    def py(v: float) -> float:
        return pad + (1 - (v - y0) / (y1 - y0)) * h

    points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, y, strict=True))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label} over steps">',
        f'<rect x="{pad_left}" y="{pad}" width="{w}" height="{h}" class="plot-area"/>',
        f'<polyline points="{points}" class="trace"/>',
        f'<text x="{pad_left - 4}" y="{pad + 8}" text-anchor="end">{y1:.3g}</text>',
        f'<text x="{pad_left - 4}" y="{pad + h}" text-anchor="end">{y0:.3g}</text>',
        f'<text x="{pad_left}" y="{height - 4}">{x0:g}</text>',
        f'<text x="{pad_left + w}" y="{height - 4}" text-anchor="end">{x1:g} steps</text>',
    ]
    if mark is not None and x0 <= mark <= x1:
        parts.append(
            f'<line x1="{px(mark):.1f}" x2="{px(mark):.1f}" y1="{pad}" y2="{pad + h}" '
            'class="mark"/>'
        )
        parts.append(f'<text x="{px(mark) + 3:.1f}" y="{pad + 20}">plateau {mark:g}</text>')
    parts.append("</svg>")
    return "".join(parts)

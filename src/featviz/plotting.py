"""One matplotlib look for every figure, and atomic PNG + PDF output.

Figures are written as a 300 dpi PNG (for Markdown and HTML) and a vector
PDF (for LaTeX) side by side. Nothing here calls ``show()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from featviz.io import atomic_path  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.interpolation": "nearest",
    "pdf.fonttype": 42,
    "svg.hashsalt": "featviz",
    "path.simplify": False,
}


def new_figure(width: float, height: float) -> Figure:
    """A figure in the house style, not attached to any GUI."""
    with plt.style.context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, png: str | os.PathLike[str]) -> list[Path]:
    """Save ``fig`` as ``png`` and as the PDF beside it; return both paths."""
    png = Path(png)
    paths = [png, png.with_suffix(".pdf")]
    with plt.style.context(STYLE):
        for path in paths:
            with atomic_path(path) as tmp:
                # Fixed metadata keeps the files byte-identical between runs.
                meta = (
                    {"Software": None}
                    if path.suffix == ".png"
                    else {"CreationDate": None, "Producer": None}
                )
                fig.savefig(tmp, format=path.suffix[1:], metadata=meta)
    return paths


def show_image(
    ax, image: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "gray"
) -> None:
    """Draw one image (``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``) without axes clutter."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
    else:
        ax.imshow(np.clip(image, 0, 1) if image.dtype.kind == "f" else image)
    ax.set_xticks([])
    ax.set_yticks([])
    # A hairline frame: optimized images are often mostly white or black, and would
    # otherwise merge with the page and with each other.
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_linewidth(0.4)
        spine.set_color("0.6")


def image_row(
    images: np.ndarray, labels: Sequence[str], title: str, png: str | os.PathLike[str]
) -> list[Path]:
    """One row of images on the input range [0, 1], each titled with its label."""
    n = len(labels)
    fig = new_figure(0.95 * n + 0.2, 1.45)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, image, label in zip(axes, images, labels, strict=True):
        show_image(ax, image, 0.0, 1.0)
        ax.set_title(label, fontsize=6)
    fig.suptitle(title)
    return save_figure(fig, png)


def tile(maps: np.ndarray, columns: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tile ``(N, H, W)`` maps into one ``(rows*(H+pad)-pad, columns*(W+pad)-pad)`` mosaic.

    Gaps are ``fill`` (NaN draws as the colormap's 'bad' colour, a neutral frame).
    """
    n, h, w = maps.shape
    rows = -(-n // columns)
    mosaic = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad), fill, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, columns)
        mosaic[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = maps[i]
    return mosaic

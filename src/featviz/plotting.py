"""One matplotlib look for every figure, and atomic PNG + PDF output.

Figures are written as a 300 dpi PNG (for Markdown and HTML) and a vector
PDF (for LaTeX) side by side. Nothing here calls ``show()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

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
    # A PDF keeps each image as its own object: compositing them first resampled every
    # image onto the whole page (20 s for a table of 300 crops).
    "image.composite_image": False,
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


def _imshow(
    ax, image: np.ndarray, vmin: float | None, vmax: float | None, cmap: str = "gray", **kwargs
) -> None:
    """``imshow`` of a grey (``(H, W)``, ``(H, W, 1)``) or colour (``(H, W, 3)``) image."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, **kwargs)
    else:
        ax.imshow(np.clip(image, 0, 1) if image.dtype.kind == "f" else image, **kwargs)


def show_image(
    ax, image: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "gray"
) -> None:
    """Draw one image (``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``) without axes clutter."""
    _imshow(ax, image, vmin, vmax, cmap)
    ax.set_xticks([])
    ax.set_yticks([])
    # A hairline frame: optimized images are often mostly white or black, and would
    # otherwise merge with the page and with each other.
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_linewidth(0.4)
        spine.set_color("0.6")


def image_table(
    cells: Mapping[tuple[int, int], np.ndarray],
    width: float,
    height: float,
    *,
    titles: Mapping[tuple[int, int], str] | None = None,
    row_labels: Sequence[str] | None = None,
    column_titles: Mapping[int, str] | None = None,
    column_align: str = "center",
    title: str | None = None,
    title_size: float = 6,
    label_size: float = 5,
) -> Figure:
    """A table of images on the input range [0, 1], drawn in one axes.

    ``cells[(row, column)]`` is an image; each is scaled to fill its square
    cell, keeping its aspect, and framed by a hairline, as :func:`show_image`
    draws it. One axes instead of one per cell: matplotlib's cost grows with
    the number of axes (a 16 x 19 table took 20 s to lay out and save that
    way), much less with the number of images in one axes.
    """
    titles = dict(titles or {})
    gap, above = 0.12, (0.32 if titles else 0.0)
    rows = max(1 + max((r for r, _ in cells), default=0), len(row_labels or ()))
    cols = 1 + max((c for _, c in cells), default=0)
    pitch_x, pitch_y = 1.0 + gap, 1.0 + gap + above
    fig = new_figure(width, height)
    with plt.style.context(STYLE):
        ax = fig.add_subplot()
    frames = []
    for (r, c), image in cells.items():
        h, w = np.asarray(image).shape[:2]
        scale = 1.0 / max(h, w)
        dw, dh = w * scale, h * scale
        left, top = c * pitch_x + (1.0 - dw) / 2, r * pitch_y + above + (1.0 - dh) / 2
        _imshow(
            ax, image, 0.0, 1.0, extent=(left, left + dw, top + dh, top), interpolation="nearest"
        )
        frames.append(Rectangle((left, top), dw, dh))
        if (r, c) in titles:
            x, y = c * pitch_x + 0.5, r * pitch_y + above - 0.04
            ax.text(x, y, titles[r, c], ha="center", va="bottom", fontsize=title_size)
    ax.add_collection(PatchCollection(frames, facecolor="none", edgecolor="0.6", linewidth=0.4))
    for r, label in enumerate(row_labels or []):
        y = r * pitch_y + above + 0.5
        ax.text(-0.08, y, label, ha="right", va="center", fontsize=label_size)
    for c, text in (column_titles or {}).items():
        x = c * pitch_x + (0.5 if column_align == "center" else 0.0)
        ax.text(x, above - 0.04, text, ha=column_align, va="bottom", fontsize=label_size)
    ax.set_xlim(0.0, cols * pitch_x - gap)
    ax.set_ylim(rows * pitch_y - gap, 0.0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def image_row(
    images: np.ndarray, labels: Sequence[str], title: str, png: str | os.PathLike[str]
) -> list[Path]:
    """One row of images on the input range [0, 1], each titled with its label."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    fig = image_table(
        {(0, c): image for c, image in enumerate(images)},
        0.95 * len(labels) + 0.2,
        1.45,
        titles={(0, c): label for c, label in enumerate(labels)},
        title=title,
    )
    return save_figure(fig, png)


def tile(images: np.ndarray, columns: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tile ``(N, H, W)`` maps or ``(N, H, W, C)`` images into one mosaic of ``columns``
    columns, ``pad`` pixels between cells and none around them (scikit-image's montage).

    Gaps and empty cells are ``fill`` (NaN draws as the colormap's 'bad' colour, a neutral
    frame).
    """
    from skimage.util import montage

    images = np.asarray(images)
    rows = -(-len(images) // columns)
    channels = images.ndim == 4
    mosaic = montage(
        images,
        fill=[fill] * images.shape[-1] if channels else fill,  # one value per channel
        grid_shape=(rows, columns),
        padding_width=pad,
        channel_axis=-1 if channels else None,
    )
    return mosaic[pad : mosaic.shape[0] - pad, pad : mosaic.shape[1] - pad]


def signed_to_grey(projection: np.ndarray) -> np.ndarray:
    """A projection shown on grey: 0.5 is zero, black and white the largest magnitude."""
    peak = float(np.abs(projection).max()) or 1.0
    return 0.5 + 0.5 * projection / peak


def plot_grid(
    images: np.ndarray,
    values: np.ndarray,
    labels: Sequence[str],
    title: str,
    png: str | Path,
    order: Sequence[int] | None = None,
    columns: int = 8,
) -> list[Path]:
    """A grid of rendered images titled with their label and final objective value."""
    order = list(range(len(labels))) if order is None else list(order)
    columns = columns if len(order) <= 64 else 16
    rows = -(-len(order) // columns)
    slots = [divmod(slot, columns) for slot in range(len(order))]
    fig = image_table(
        {rc: images[i] for rc, i in zip(slots, order, strict=True)},
        columns * 0.9,
        rows * 1.05 + 0.3,
        titles={rc: f"{labels[i]}  {values[i]:.3g}" for rc, i in zip(slots, order, strict=True)},
        title=title,
    )
    return save_figure(fig, png)

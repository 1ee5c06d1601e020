"""Filters maximized together, and directions in activation space (seed figures 5-6).

Individual filters are the basis directions of a layer's activation space,
and nothing makes them more special than any other direction (Szegedy et al.
2013). Two studies look between them:

- *joint*: two filters ``a, b`` maximized together as ``w a + (1 - w) b``
  along a weight sweep, with each filter's own activation along the sweep
  (the trade-off); three filters on a simplex of weights when asked;
- *directions*: random unit vectors in a layer's activation space (seeded),
  each maximized as an objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from featviz.engine import Objective, channel, direction, recipe, unit
from featviz.engine.render import RenderResult
from featviz.io import write_npz
from featviz.plotting import new_figure, save_figure, show_image
from featviz.studies.filters import get_layer


def unit_objective(model: keras.Model, layer: str, index: int) -> Objective:
    spatial = len(get_layer(model, layer).output.shape) == 4
    return (channel if spatial else unit)(layer, index)


def simplex_weights(divisions: int) -> np.ndarray:
    """Weights ``(i, j, k) / divisions`` with ``i + j + k = divisions``: a triangle grid."""
    return (
        np.array(
            [
                (i, j, divisions - i - j)
                for i in range(divisions, -1, -1)
                for j in range(divisions - i, -1, -1)
            ],
            dtype=np.float64,
        )
        / divisions
    )


def weighted(objectives: Sequence[Objective], weights: Sequence[float]) -> Objective:
    """``sum w_i o_i``, skipping zero weights so the name says what is optimized."""
    terms = [float(w) * o for w, o in zip(weights, objectives, strict=True) if w != 0]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _render(model, objectives, *, steps, learning_rate, seed, settings):
    return recipe.render_with(
        model,
        objectives,
        settings,
        steps=steps,
        learning_rate=learning_rate,
        seed=seed,
        batch_size=len(objectives),
    )


def plot_row(result: RenderResult, labels: Sequence[str], title: str, png: Path) -> list[Path]:
    n = len(labels)
    fig = new_figure(0.95 * n + 0.2, 1.45)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, image, label in zip(axes, result.images, labels, strict=True):
        show_image(ax, image, 0.0, 1.0)
        ax.set_title(label, fontsize=6)
    fig.suptitle(title)
    return save_figure(fig, png)


def plot_tradeoff(weights, own: np.ndarray, names: Sequence[str], title: str, png: Path):
    """Each filter's own mean activation on the image optimized for each weight."""
    fig = new_figure(3.6, 2.6)
    ax = fig.subplots()
    for k, name in enumerate(names):
        ax.plot(weights, own[:, k], marker="o", markersize=3, label=name)
    ax.set_xlabel(f"weight w of {names[0]} (1 - w on {names[1]})")
    ax.set_ylabel("own mean activation")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, png)


def _simplex_xy(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    return weights @ corners, corners


def plot_simplex(
    result: RenderResult, weights: np.ndarray, names: Sequence[str], title: str, png: Path
) -> list[Path]:
    """The images placed at their barycentric weights on the triangle."""
    xy, corners = _simplex_xy(weights)
    fig = new_figure(4.2, 4.0)
    ax = fig.subplots()
    size = 0.9 / (round(1 / weights[weights > 0].min()) + 1)
    for (x, y), image in zip(xy, result.images, strict=True):
        inset = ax.inset_axes([x - size / 2, y - size / 2, size, size], transform=ax.transData)
        show_image(inset, image, 0.0, 1.0)
    for corner, name in zip(corners, names, strict=True):
        below = corner[1] == 0
        where = corner + np.array([0.0, -size * 0.75 if below else size * 0.75])
        ax.annotate(f"{name} only", where, ha="center", va="top" if below else "bottom", fontsize=7)
    ax.set_xlim(-0.15, 1.15)
    ax.set_ylim(-0.25, 1.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig.suptitle(title)
    return save_figure(fig, png)


def plot_simplex_tradeoff(
    weights: np.ndarray, own: np.ndarray, names: Sequence[str], title: str, png: Path
) -> list[Path]:
    """Each filter's own mean activation at every point of the simplex."""
    xy, _ = _simplex_xy(weights)
    fig = new_figure(7.0, 2.4)
    axes = fig.subplots(1, len(names))
    for k, (ax, name) in enumerate(zip(axes, names, strict=True)):
        points = ax.scatter(xy[:, 0], xy[:, 1], c=own[:, k], cmap="viridis", s=50)
        ax.set_title(f"{name} activation", fontsize=7)
        ax.set_aspect("equal")
        ax.set_axis_off()
        fig.colorbar(points, ax=ax, shrink=0.7)
    fig.suptitle(title)
    return save_figure(fig, png)


def run_joint(
    model_path: str | Path,
    layer: str,
    filters: Sequence[int],
    out_dir: str | Path,
    *,
    weights: Sequence[float],
    divisions: int,
    steps: int,
    learning_rate: float,
    seed: int,
    settings: dict | None = None,
) -> tuple[list[Path], str]:
    """Two filters along ``weights``, or three on a simplex of ``divisions``; write figures."""
    out_dir = Path(out_dir)
    model = keras.saving.load_model(model_path)
    if len(filters) not in (2, 3) or len(set(filters)) != len(filters):
        raise ValueError(f"Joint maximization takes 2 or 3 distinct filters, got {list(filters)}.")
    singles = [unit_objective(model, layer, int(f)) for f in filters]
    grid = (
        np.array([[w, 1.0 - w] for w in weights])
        if len(filters) == 2
        else simplex_weights(divisions)
    )
    objectives = [weighted(singles, w) for w in grid]
    result, how = _render(
        model, objectives, steps=steps, learning_rate=learning_rate, seed=seed, settings=settings
    )
    own = result.activations[layer][:, list(filters)]
    stem = out_dir / f"{layer}-{'-'.join(map(str, filters))}"
    write_npz(
        stem.with_suffix(".npz"),
        filters=np.array(filters),
        weights=grid,
        images=result.images,
        values=result.values,
        own_activations=own,
    )
    names = [o.name for o in singles]
    title = f"{' and '.join(names)} maximized together, {steps} steps"
    tradeoff = Path(f"{stem}_tradeoff.png")
    if len(filters) == 2:
        labels = [f"w={w:.2g}" for w in grid[:, 0]]
        figures = plot_row(result, labels, title, stem.with_suffix(".png"))
        figures += plot_tradeoff(
            grid[:, 0], own, names, f"{layer}: trade-off along the sweep", tradeoff
        )
    else:
        figures = plot_simplex(result, grid, names, title, stem.with_suffix(".png"))
        figures += plot_simplex_tradeoff(
            grid, own, names, f"{layer}: trade-off on the simplex", tradeoff
        )
    return figures, how


def random_directions(n_channels: int, count: int, seed: int) -> np.ndarray:
    """``count`` random unit vectors in R^n_channels (isotropic: normalized Gaussians)."""
    v = np.random.default_rng(seed).normal(size=(count, n_channels))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def run_directions(
    model_path: str | Path,
    layer: str,
    out_dir: str | Path,
    *,
    count: int,
    steps: int,
    learning_rate: float,
    seed: int,
    settings: dict | None = None,
) -> tuple[list[Path], str]:
    """Maximize ``count`` random directions of ``layer``; write ``<layer>.npz`` and the grid."""
    out_dir = Path(out_dir)
    model = keras.saving.load_model(model_path)
    n = int(get_layer(model, layer).output.shape[-1])
    vectors = random_directions(n, count, seed)
    objectives = [direction(layer, v, label=f"dir{k}") for k, v in enumerate(vectors)]
    result, how = _render(
        model, objectives, steps=steps, learning_rate=learning_rate, seed=seed, settings=settings
    )
    write_npz(
        out_dir / f"{layer}.npz", directions=vectors, images=result.images, values=result.values
    )
    labels = [f"dir {k}  {v:.3g}" for k, v in enumerate(result.values)]
    title = f"{layer}: {count} random directions (seed {seed}), {steps} steps"
    return plot_row(result, labels, title, out_dir / f"{layer}.png"), how

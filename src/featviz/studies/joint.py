"""Filters maximized together (seed figures 5-6).

Individual filters are the basis directions of a layer's activation space,
and nothing makes them more special than any other direction (Szegedy et al.
2013). Two filters ``a, b`` are maximized together as ``w a + (1 - w) b``
along a weight sweep, and each filter's own activation is recorded along the
way (the trade-off); three filters are maximized with weights on a simplex.
A job is one pair or triple: its key is ``<layer>-<a>-<b>[-<c>]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from featviz.io import write_npz
from featviz.models.layers import LayerTable
from featviz.plotting import image_row, new_figure, save_figure, show_image
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study

if TYPE_CHECKING:
    from featviz.engine.objectives import Objective


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
    return sum(float(w) * o for w, o in zip(weights, objectives, strict=True) if w != 0)


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
    images: np.ndarray, weights: np.ndarray, names: Sequence[str], title: str, png: Path
) -> list[Path]:
    """The images placed at their barycentric weights on the triangle."""
    xy, corners = _simplex_xy(weights)
    fig = new_figure(4.2, 4.0)
    ax = fig.subplots()
    size = 0.9 / (round(1 / weights[weights > 0].min()) + 1)
    for (x, y), image in zip(xy, images, strict=True):
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


def combo_key(layer: str, filters: Sequence[int]) -> str:
    """The job key of filters ``filters`` of ``layer``: ``conv1-6-9``."""
    return f"{layer}-" + "-".join(str(int(f)) for f in filters)


def parse_key(key: str, layer: str) -> list[int]:
    """The filters named by job ``key`` of ``layer`` (the inverse of :func:`combo_key`)."""
    prefix = f"{layer}-"
    parts = key[len(prefix) :].split("-") if key.startswith(prefix) else []
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(
            f"Joint job '{key}' does not name 2 or 3 filters of layer '{layer}' "
            f"(expected {layer}-<a>-<b> or {layer}-<a>-<b>-<c>)."
        )
    filters = [int(p) for p in parts]
    if len(set(filters)) != len(filters):
        raise ValueError(f"Joint maximization takes 2 or 3 distinct filters, got {filters}.")
    return filters


class Joint(Study):
    name = "joint"
    category = "Joint maximization"
    sections = {"joint": "Filters maximized together"}
    figures = {"figure": "{job}.png", "tradeoff": "{job}_tradeoff.png"}
    files = {"arrays": "{job}.npz"}
    plan_keys = ("pairs", "triples")

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        combos = [*settings["pairs"], *settings["triples"]]
        return [combo_key(settings["layer"], c) for c in combos]

    def check(self, settings: Settings, table: LayerTable) -> None:
        layer = settings["layer"]
        self.check_layer(table, layer)
        for combo in [*settings["pairs"], *settings["triples"]]:
            try:
                table.check_units(layer, combo)
            except ValueError as err:
                raise ValueError(f"joint: filters {combo}: {err}") from None

    def run(self, job: Job, settings: Settings) -> Result:
        """Two filters along the weights, or three on a simplex; write the arrays and figures."""
        from featviz.engine import channel, recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        layer = settings["layer"]
        filters = parse_key(job.key, layer)
        probe.layer_table(model).check_units(layer, filters)
        singles = [channel(layer, f) for f in filters]
        steps, lr, seed = settings["steps"], settings["learning_rate"], settings["seed"]
        grid = (
            np.array([[w, 1.0 - w] for w in settings["weights"]])
            if len(filters) == 2
            else simplex_weights(settings["divisions"])
        )
        objectives = [weighted(singles, w) for w in grid]
        result, how = recipe.render_with(
            model,
            objectives,
            settings,
            job.resources([settings]),
            steps=steps,
            batch_size=len(objectives),
        )
        own = result.activations[layer][:, filters]
        arrays = job.path(self.files["arrays"])
        write_npz(
            arrays,
            filters=np.array(filters),
            weights=grid,
            images=result.images,
            values=result.values,
            own_activations=own,
        )
        names = [o.name for o in singles]
        title = f"{' and '.join(names)} maximized together, {steps} steps"
        png, tradeoff = job.path(self.figures["figure"]), job.path(self.figures["tradeoff"])
        both = " and ".join(names)
        if len(filters) == 2:
            image_row(result.images, [f"w={w:.2g}" for w in grid[:, 0]], title, png)
            plot_tradeoff(grid[:, 0], own, names, f"{layer}: trade-off along the sweep", tradeoff)
            sweep = ", ".join(f"{w:g}" for w in settings["weights"])
            caption = (
                f"Filters {both} of {job.label} maximized together as w·{names[0]} + "
                f"(1 − w)·{names[1]} for w = {sweep}: {steps} Adam steps (lr {lr:g}, seed "
                f"{seed}; {how}); grey (or RGB) scale fixed to [0, 1]."
            )
            along = "each weight w of the sweep"
        else:
            plot_simplex(result.images, grid, names, title, png)
            plot_simplex_tradeoff(grid, own, names, f"{layer}: trade-off on the simplex", tradeoff)
            caption = (
                f"Filters {both} of {job.label} maximized together with weights on a simplex "
                f"({settings['divisions']} divisions), each image placed at its barycentric "
                f"weights: {steps} Adam steps (lr {lr:g}, seed {seed}; {how})."
            )
            along = "each point of the simplex"
        tradeoff_caption = (
            f"Trade-off between {both} of {job.label}: each filter's own mean activation "
            f"on the image optimized for {along}."
        )
        return Result(
            stage=self.name,
            job=job.key,
            figures=[
                Figure(png, caption, "joint"),
                Figure(tradeoff, tradeoff_caption, "joint"),
            ],
            files=[arrays],
            numbers={"layer": layer, "filters": filters, "images": len(objectives)},
            seeds={"render_seed": seed},
        )


STUDY = Joint()

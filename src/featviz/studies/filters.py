"""Activation-maximizing images for the filters, units or classes of a layer (seed figures 7-10).

Every filter of the layer is rendered in one batched call; the grid labels
each image with the filter index (or class name) and the final objective
value, on the fixed grey/RGB scale of the model's input range [0, 1].
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from featviz.engine import channel, class_logit, recipe, unit
from featviz.engine.render import RenderResult
from featviz.io import atomic_path, write_npz
from featviz.plotting import new_figure, save_figure, show_image


def get_layer(model: keras.Model, layer: str) -> keras.layers.Layer:
    """``model.get_layer`` with an error that lists the valid names."""
    try:
        return model.get_layer(layer)
    except ValueError:
        names = ", ".join(lay.name for lay in model.layers)
        raise ValueError(f"Unknown layer '{layer}'. Layers: {names}.") from None


def is_logits(model: keras.Model, layer: str) -> bool:
    return model.layers[-1].name == layer


def objective_for(
    model: keras.Model, layer: str, index: int, class_names: Sequence[str] | None = None
):
    """The natural objective of one unit: a channel (conv), a unit (dense) or a class logit."""
    target = get_layer(model, layer)
    if is_logits(model, layer):
        name = class_names[index] if class_names is not None else None
        return class_logit(layer, int(index), name)
    return (channel if len(target.output.shape) == 4 else unit)(layer, int(index))


def objectives_for(
    model: keras.Model,
    layer: str,
    indices: Sequence[int] | None,
    class_names: Sequence[str] | None = None,
):
    """Objectives for ``indices`` of ``layer`` (all if None), with the indices used."""
    n = int(get_layer(model, layer).output.shape[-1])
    indices = list(range(n)) if indices is None else list(indices)
    for i in indices:
        if not 0 <= i < n:
            raise ValueError(
                f"Index {i} out of range for layer '{layer}', which has {n} "
                f"units (valid: 0..{n - 1})."
            )
    return indices, [objective_for(model, layer, i, class_names) for i in indices]


def plot_grid(
    result: RenderResult,
    indices: Sequence[int],
    title: str,
    png: str | Path,
    order: Sequence[int] | None = None,
    columns: int = 8,
) -> list[Path]:
    """A grid of rendered images titled with index and final objective value."""
    order = list(range(len(indices))) if order is None else list(order)
    columns = columns if len(order) <= 64 else 16
    rows = -(-len(order) // columns)
    fig = new_figure(columns * 0.9, rows * 1.05 + 0.3)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for slot, i in enumerate(order):
        ax = axes.flat[slot]
        ax.set_axis_on()
        show_image(ax, result.images[i], 0.0, 1.0)
        label = result.names[i] if result.names[i].startswith("class") else f"#{indices[i]}"
        ax.set_title(f"{label}  {result.values[i]:.3g}", fontsize=6)
    fig.suptitle(title)
    return save_figure(fig, png)


def best_restart(result: RenderResult, restarts: int) -> RenderResult:
    """Per objective, the restart (consecutive group of ``restarts``) reaching the highest value."""
    if restarts == 1:
        return result
    values = result.values.reshape(-1, restarts)
    pick = np.arange(len(values)) * restarts + values.argmax(axis=1)
    return RenderResult(
        images=result.images[pick],
        values=result.values[pick],
        trace_steps=result.trace_steps,
        traces=result.traces[pick],
        names=[result.names[i] for i in pick],
        activations={k: v[pick] for k, v in result.activations.items()},
    )


def run(
    model_path: str | Path,
    layer: str,
    out_dir: str | Path,
    *,
    indices: Sequence[int] | None,
    steps: int,
    learning_rate: float,
    seed: int,
    batch_size: int,
    sort: bool,
    settings: dict | None = None,
    class_names: Sequence[str] | None = None,
    restarts: int = 1,
) -> tuple[list[Path], str]:
    """Render, then write ``<layer>.npz``, ``<layer>.csv`` and the grid figure to ``out_dir``.

    ``settings`` is the render recipe (see :mod:`featviz.engine.recipe`). With
    ``restarts > 1`` each unit is optimized from that many start images and the
    image reaching the highest objective is kept; every restart's final value
    is saved (``restart_values``), so the spread between restarts can be read.

    Returns:
        The files written, and a description of the recipe for captions.
    """
    out_dir = Path(out_dir)
    model = keras.saving.load_model(model_path)
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}.")
    indices, objectives = objectives_for(model, layer, indices, class_names)
    repeated = [o for o in objectives for _ in range(restarts)]
    every, how = recipe.render_with(
        model,
        repeated,
        settings,
        steps=steps,
        learning_rate=learning_rate,
        seed=seed,
        batch_size=batch_size,
    )
    result = best_restart(every, restarts)
    write_npz(
        out_dir / f"{layer}.npz",
        indices=np.array(indices),
        images=result.images,
        values=result.values,
        trace_steps=result.trace_steps,
        traces=result.traces,
        restart_values=every.values.reshape(len(indices), restarts),
    )
    table = out_dir / f"{layer}.csv"
    with atomic_path(table) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "objective", "start_objective"])
        for i, index in enumerate(indices):
            writer.writerow([index, f"{result.values[i]:.6g}", f"{result.traces[i, 0]:.6g}"])
    order = np.argsort(-result.values, kind="stable") if sort else None
    what = "class logit" if is_logits(model, layer) else "mean activation"
    title = f"{layer}: {what} maximized, {steps} Adam steps, lr {learning_rate:g}, seed {seed}"
    figures = plot_grid(result, indices, title, out_dir / f"{layer}.png", order)
    return [*figures, table], how

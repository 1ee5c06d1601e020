"""Activation-maximizing images for the filters, units or classes of a layer (seed figures 7-10).

Every unit asked for is rendered in one batched call; the grid labels each
image with the unit's index (or class name) and the final objective value, on
the fixed grey/RGB scale of the model's input range [0, 1]. With ``restarts``
each unit starts from several images and the one reaching the highest
objective is shown; every restart's value is kept.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featviz.data.prepare import load_prepared
from featviz.io import atomic_path, write_npz
from featviz.models.layers import LayerTable
from featviz.plotting import new_figure, save_figure, show_image
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study, format_units, layers_and_classes


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
    fig = new_figure(columns * 0.9, rows * 1.05 + 0.3)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for slot, i in enumerate(order):
        ax = axes.flat[slot]
        ax.set_axis_on()
        show_image(ax, images[i], 0.0, 1.0)
        ax.set_title(f"{labels[i]}  {values[i]:.3g}", fontsize=6)
    fig.suptitle(title)
    return save_figure(fig, png)


def best_restart(values: np.ndarray, restarts: int) -> np.ndarray:
    """Per objective, the position of its best restart (restarts are consecutive)."""
    grouped = np.asarray(values).reshape(-1, restarts)
    return np.arange(len(grouped)) * restarts + grouped.argmax(axis=1)


def _indices(settings: Settings, layer: str) -> list[int] | None:
    chosen = settings["units"].get(layer, "all")
    return None if chosen == "all" else [int(i) for i in chosen]


class Filters(Study):
    name = "filters"
    category = "Filters"
    sections = {
        "filters": "Filters and units that maximize their activation",
        "classes": "Classes",
    }
    files = {"arrays": "{job}.npz", "table": "{job}.csv"}
    plan_keys = ("classes",)

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return layers_and_classes(settings["units"], settings["classes"], table)

    def job_settings(self, settings: Settings, key: str) -> dict[str, Any]:
        units = {key: settings["units"].get(key, "all")}
        return {**super().job_settings(settings, key), "units": units}

    def check(self, settings: Settings, table: LayerTable) -> None:
        for layer in self.jobs(settings, table):
            self.check_layer(table, layer)
            try:
                table.check_units(layer, _indices(settings, layer))
            except ValueError as err:
                raise ValueError(f"filters.units.{layer}: {err}") from None

    def run(self, job: Job, settings: Settings) -> Result:
        """Render, then write ``<layer>.npz``, ``<layer>.csv`` and the grid figure.

        The arrays hold the shown images and values, their traces, and every
        restart's final value (``restart_values``), so the spread between
        restarts can be read.
        """
        from featviz.engine import for_units, recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        table = probe.layer_table(model)
        layer, restarts = job.key, settings["restarts"]
        classes = layer == table.logits
        names = None
        if classes and job.data is not None:
            names = [str(c) for c in load_prepared(job.data)["class_names"]]
        indices, objectives = for_units(table, layer, _indices(settings, layer), names)
        every, how = recipe.render_with(
            model,
            [o for o in objectives for _ in range(restarts)],
            settings,
            job.resources([settings]),
            steps=settings["steps"],
            batch_size=settings["batch_size"],
        )
        pick = best_restart(every.values, restarts)
        images, values, traces = every.images[pick], every.values[pick], every.traces[pick]
        arrays, table_path = job.path(self.files["arrays"]), job.path(self.files["table"])
        write_npz(
            arrays,
            indices=np.array(indices),
            images=images,
            values=values,
            trace_steps=every.trace_steps,
            traces=traces,
            restart_values=every.values.reshape(len(indices), restarts),
        )
        with atomic_path(table_path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["index", "objective", "start_objective"])
            for i, index in enumerate(indices):
                writer.writerow([index, f"{values[i]:.6g}", f"{traces[i, 0]:.6g}"])
        by_objective = settings["sort"] == "objective"
        order = np.argsort(-values, kind="stable") if by_objective else None
        what = "class logit" if classes else "mean activation"
        steps, lr, seed = settings["steps"], settings["learning_rate"], settings["seed"]
        title = f"{layer}: {what} maximized, {steps} Adam steps, lr {lr:g}, seed {seed}"
        labels = [every.names[i] if classes else f"#{indices[k]}" for k, i in enumerate(pick)]
        png = job.path(self.figures["figure"])
        plot_grid(images, values, labels, title, png, order)
        which = format_units(_indices(settings, layer), "class" if classes else "unit")
        caption = (
            f"Images that maximize {'the logit' if classes else 'the mean activation'} of "
            f"{which} of {layer} of {job.label}: {steps} Adam steps at learning rate {lr:g} "
            f"from seed {seed}{f', best of {restarts} restarts' if restarts > 1 else ''}; "
            f"{how}. Each image is titled with its {'class' if classes else 'index'} and the "
            "objective reached; grey (or RGB) scale fixed to the input range "
            f"[0, 1]{', sorted by objective' if by_objective else ''}."
        )
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "classes" if classes else "filters")],
            files=[arrays, table_path],
            numbers={
                "layer": layer,
                "units": len(indices),
                "mean_objective": float(values.mean()),
                "mean_start_objective": float(traces[:, 0].mean()),
            },
            seeds={"render_seed": seed},
        )


STUDY = Filters()

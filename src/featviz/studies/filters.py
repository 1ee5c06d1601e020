"""Activation-maximizing images for the filters, units or classes of a layer (seed figures 7-10),
and the test images that drive each unit most and least.

Every unit asked for is rendered in one batched call; the grid labels each
image with the unit's index (or class name) and the final objective value, on
the fixed grey/RGB scale of the model's input range [0, 1]. With ``restarts``
each unit starts from several images and the one reaching the highest
objective is shown; every restart's value is kept.

Beside the rendered image, each unit's *top examples*: the test images with the
highest and lowest score (its mean activation, the same objective), found in one
pass over the test split, each with the position of the unit's largest
activation and the window of the input it sees there (its receptive field,
:mod:`featviz.models.receptive`). The deconvnet study and the atlas build on them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featviz import metrics
from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import atomic_path, write_npz
from featviz.models.layers import LayerTable
from featviz.plateau import budget, describe_steps
from featviz.plotting import image_table, plot_grid, save_figure
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study, format_units, layers_and_classes
from featviz.units import best_restart, describe_reach


def plot_examples(
    images: np.ndarray,
    test: np.ndarray,
    ranked: dict[str, np.ndarray],
    labels: Sequence[str],
    rows: int,
    png: Path,
) -> list[Path]:
    """Per unit: its rendered image, then its top and bottom test images cropped to the field."""
    k = ranked["top"].shape[1]
    cols = 1 + 2 * k
    cells = {}
    for r in range(rows):
        cells[r, 0] = images[r]
        for c, end in enumerate(("top", "bottom")):
            for j in range(k):
                top, left, bottom, right = ranked[f"{end}_windows"][r, j]
                cells[r, 1 + c * k + j] = test[ranked[end][r, j], top:bottom, left:right]
    fig = image_table(
        cells,
        0.55 * cols + 0.6,
        0.6 * rows + 0.4,
        row_labels=list(labels[:rows]),
        column_titles={1: "most", 1 + k: "least"},
    )
    return save_figure(fig, png)


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
    figures = {"figure": "{job}.png", "examples": "{job}_examples.png"}
    files = {"arrays": "{job}.npz", "table": "{job}.csv"}
    plan_keys = ("classes",)

    def units_of(self, settings: Settings, table: LayerTable, key: str) -> list[int]:
        """The layer's units the settings ask for (every one for 'all' and for classes)."""
        chosen = _indices(settings, key) if key != table.logits else None
        return chosen if chosen is not None else list(range(table.get(key).units))

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
        from featviz.models.receptive import receptive_fields, windows

        model = probe.load_model(job.model)
        table = probe.layer_table(model)
        layer, restarts = job.key, settings["restarts"]
        classes = layer == table.logits
        table.check_units(layer, _indices(settings, layer))  # before reading any data
        data = load_prepared(job.require_data(self.name))
        names = [str(c) for c in data["class_names"]] if classes else None
        indices, objectives = for_units(table, layer, _indices(settings, layer), names)
        every, how = recipe.render_with(
            model,
            [o for o in objectives for _ in range(restarts)],
            settings,
            job.resources([settings]),
            batch_size=settings["batch_size"],
            **budget(settings),
        )
        pick = best_restart(every.values, restarts)
        images, values, traces = every.images[pick], every.values[pick], every.traces[pick]
        test = to_model_input(data["x_test"])
        ranked = probe.rank_images(model, layer, test, indices, settings["examples"])
        fields = receptive_fields(model)
        for end in ("top", "bottom"):
            ranked[f"{end}_windows"] = windows(
                fields.get(layer), ranked[f"{end}_positions"], test.shape[1:3]
            )
        reached = metrics.reach(
            values, traces[:, 0], ranked["top_scores"][:, 0], ranked["active_share"]
        )
        arrays, table_path = job.path(self.files["arrays"]), job.path(self.files["table"])
        write_npz(
            arrays,
            indices=np.array(indices),
            images=images,
            values=values,
            trace_steps=every.trace_steps,
            traces=traces,
            restart_values=every.values.reshape(len(indices), restarts),
            stopped=every.stopped[pick],
            **ranked,
        )
        with atomic_path(table_path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["index", "objective", "start_objective"])
            for i, index in enumerate(indices):
                writer.writerow([index, f"{values[i]:.6g}", f"{traces[i, 0]:.6g}"])
        by_objective = settings["sort"] == "objective"
        order = np.argsort(-values, kind="stable") if by_objective else None
        what = "class logit" if classes else "mean activation"
        steps = describe_steps(settings, every.stopped)
        lr, seed = settings["learning_rate"], settings["seed"]
        title = f"{layer}: {what} maximized, lr {lr:g}, seed {seed}"
        labels = [every.names[i] if classes else f"#{indices[k]}" for k, i in enumerate(pick)]
        png = job.path(self.figures["figure"])
        plot_grid(images, values, labels, title, png, order)
        chosen = _indices(settings, layer)
        if classes and chosen is not None:
            chosen = [names[i] for i in chosen]
        which = format_units(chosen, "class" if classes else "unit")
        caption = (
            f"Images that maximize {'the logit' if classes else 'the mean activation'} of "
            f"{which} of {layer} of {job.label}: {steps} at learning rate {lr:g} "
            f"from seed {seed}{f', best of {restarts} restarts' if restarts > 1 else ''}; "
            f"{how}. Each image is titled with its {'class' if classes else 'index'} and the "
            "objective reached; grey (or RGB) scale fixed to the input range "
            f"[0, 1]{', sorted by objective' if by_objective else ''}. {describe_reach(reached)}"
        )
        shown = min(settings["example_rows"], len(indices))
        examples = job.path(self.figures["examples"])
        plot_examples(images, test, ranked, labels, shown, examples)
        noun = "class" if classes else "unit"
        k = settings["examples"]
        listed = [names[i] for i in indices[:shown]] if classes else indices[:shown]
        examples_caption = (
            f"What drives {layer} of {job.label}: for {format_units(listed, noun)}, "
            f"the image that maximizes it (left), then the {k} test images that drive it most "
            f"and the {k} that drive it least (by {'logit' if classes else 'mean activation'} "
            f"over the {len(test)} test images), each cropped to the {noun}'s receptive field "
            "at the position of its largest activation."
        )
        section = "classes" if classes else "filters"
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, section), Figure(examples, examples_caption, section)],
            files=[arrays, table_path],
            numbers={
                "layer": layer,
                "units": len(indices),
                "mean_objective": float(values.mean()),
                "mean_start_objective": float(traces[:, 0].mean()),
                "recipe": how,
                **reached,
            },
            seeds={"render_seed": seed},
        )

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        """Per dataset, model and layer: the live units the recipe left at their start and
        those its images drive less than their best test image."""
        rows = [
            {
                "dataset": r.labels.get("dataset", ""),
                "model": r.labels.get("model", ""),
                **{k: r.numbers[k] for k in ("layer", "units", "live", "stuck", "below_best")},
            }
            for r in results
            if "live" in r.numbers
        ]
        if not rows:
            return None
        recipes = sorted({r.numbers["recipe"] for r in results if "recipe" in r.numbers})
        return {"rows": rows, "recipes": recipes}


STUDY = Filters()

"""How many optimization steps does activation maximization need? (seed figure 4)

A seeded sample of filters of a layer (or every class of the logits layer)
is optimized for a long run while the objective is recorded every ``k``
steps. The sample is drawn from the units the start image turns on (activation
above zero somewhere on it), since a ReLU unit that is zero everywhere on its
start has no gradient and its objective never moves under the seed's recipe
(such units are counted, not plotted; the filters study counts the *live* units,
:func:`featviz.units.live_units`, that the start leaves behind). The *plateau step*
of a trace is the first recorded step after which the objective rises by no more
than ``plateau_tolerance`` (relative) over the following ``plateau_window`` share of
the run (both are settings of the ``convergence`` section). A trace that never
satisfies this before its last window has not plateaued within the run.

The seed study stopped every optimization at :data:`SEED_STEPS`; the report
says what the plateaus found here make of that choice.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from featviz.data.prepare import load_prepared
from featviz.io import atomic_path, write_npz
from featviz.models.layers import LayerTable
from featviz.plateau import plateau_step as plateau_at
from featviz.plotting import new_figure, save_figure
from featviz.results import Figure, Result
from featviz.settings import declared
from featviz.studies.base import Job, Settings, Study, layers_and_classes
from featviz.units import sample_units

#: The seed's steps per image, as the schema declares them (the ceiling of ``steps: auto``).
SEED_STEPS = declared("$defs.budget.max_steps")


def plateau_step(
    steps: np.ndarray, trace: np.ndarray, *, window: float, tolerance: float
) -> int | None:
    """:func:`featviz.plateau.plateau_step` with the window as a share of the run
    (``steps[-1]``): the criterion the render loop stops at under ``steps: auto``."""
    return plateau_at(
        steps, trace, window=window * float(np.asarray(steps)[-1]), tolerance=tolerance
    )


def plot_traces(steps, traces, names, plateaus, title, png, budget: int | None = None):
    """Objective against step, one line per objective, plateau steps marked."""
    fig = new_figure(5.0, 3.0)
    ax = fig.subplots()
    for trace, name, plateau in zip(traces, names, plateaus, strict=True):
        (line,) = ax.plot(steps, trace, label=name, linewidth=1)
        if plateau is not None:
            k = int(np.searchsorted(steps, plateau))
            ax.plot([plateau], [trace[k]], "o", color=line.get_color(), markersize=4)
    if budget is not None and budget <= steps[-1]:
        ax.axvline(budget, color="0.5", linestyle="--", linewidth=0.8, label=f"{budget:,} steps")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("objective")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, png)


def plateau_numbers(
    layer: str, plateaus: Sequence[int | None], steps: int, on_at_start: int, units: int
) -> dict[str, Any]:
    """What one job reports: each objective's plateau step (None: still rising) and a summary."""
    reached = [p for p in plateaus if p is not None]
    return {
        "layer": layer,
        "objectives": len(plateaus),
        "steps": steps,
        "plateaus": list(plateaus),
        "median_plateau": float(np.median(reached)) if reached else None,
        "max_plateau": max(reached) if reached else None,
        "not_plateaued": len(plateaus) - len(reached),
        "on_at_start": on_at_start,
        "units": units,
    }


def verdict(run: int, total: int, rising: int, latest: int | None) -> str:
    """What plateaus within a ``run``-step run make of the seed's :data:`SEED_STEPS` steps."""
    if rising:
        return (
            f"{rising} of {total} objectives were still rising at the end of the "
            f"{run:,}-step run, so these runs cannot confirm that {SEED_STEPS:,} steps "
            "suffice"
            + (
                " (the runs are shorter than the seed's)."
                if run < SEED_STEPS
                else f": {SEED_STEPS:,} steps are too few for them."
            )
        )
    if latest is not None and latest <= SEED_STEPS:
        return (
            f"Every one of the {total} objectives plateaued within the {run:,}-step run, by step "
            f"{latest:,} at the latest, within the seed's {SEED_STEPS:,} steps: the seed's "
            "choice is confirmed on these models"
            + (
                f" (about {SEED_STEPS // max(latest, 1):,}x what the slowest one needed by "
                "this criterion)."
                if latest * 2 <= SEED_STEPS
                else "."
            )
        )
    return (
        f"The objectives plateaued by step {latest:,}, later than the seed's "
        f"{SEED_STEPS:,} steps: its choice is not confirmed on these models."
    )


class Convergence(Study):
    name = "convergence"
    category = "Convergence"
    sections = {"convergence": "How many steps? Convergence of the objective"}
    files = {"arrays": "{job}.npz", "table": "{job}.csv"}
    plan_keys = ("layers", "classes")

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return layers_and_classes(settings["layers"], settings["classes"], table)

    def run(self, job: Job, settings: Settings) -> Result:
        """Record long runs for a sample of the layer; write ``<layer>.npz/.csv`` and the figure."""
        import keras

        from featviz.engine import for_units, recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        table = probe.layer_table(model)
        layer, seed = job.key, settings["seed"]
        n = table.get(layer).units
        classes = layer == table.logits
        shape = recipe.input_shape(model)
        resources = job.resources([settings])
        param = recipe.build(settings, shape, resources).param.bind(shape)
        start = keras.ops.convert_to_numpy(
            param.to_image(keras.ops.convert_to_tensor(param.init(1, seed)))
        )
        on = list(range(n)) if classes else probe.units_on(model, layer, start[:1])
        if not on:
            raise ValueError(
                f"Every unit of layer '{layer}' is zero on the start image: nothing to track."
            )
        chosen = on if classes else sample_units(on, settings["filters_per_layer"], seed)
        names = None
        if classes and job.data is not None:
            names = [str(c) for c in load_prepared(job.data)["class_names"]]
        indices, objectives = for_units(table, layer, chosen, names)
        steps, every, lr = settings["steps"], settings["record_every"], settings["learning_rate"]
        window, tolerance = settings["plateau_window"], settings["plateau_tolerance"]
        result, how = recipe.render_with(
            model,
            objectives,
            settings,
            resources,
            steps=steps,
            trace_every=every,
            batch_size=len(objectives),
        )
        plateaus = [
            plateau_step(result.trace_steps, t, window=window, tolerance=tolerance)
            for t in result.traces
        ]
        arrays, table_path = job.path(self.files["arrays"]), job.path(self.files["table"])
        write_npz(
            arrays,
            indices=np.array(indices),
            steps=result.trace_steps,
            traces=result.traces,
            plateau=np.array([-1 if p is None else p for p in plateaus]),
        )
        with atomic_path(table_path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "layer",
                    "index",
                    "objective_name",
                    "plateau_step",
                    "final_objective",
                    "steps",
                    "on_at_start",
                    "units",
                ]
            )
            for p, i in enumerate(indices):
                writer.writerow(
                    [
                        layer,
                        i,
                        result.names[p],
                        "" if plateaus[p] is None else plateaus[p],
                        f"{result.values[p]:.6g}",
                        steps,
                        len(on),
                        n,
                    ]
                )
        title = (
            f"{layer}: objective every {every} steps (lr {lr:g}); "
            f"dots: plateau (+{tolerance:.0%} within {window:.0%} of the run)"
        )
        png = job.path(self.figures["figure"])
        plot_traces(
            result.trace_steps, result.traces, result.names, plateaus, title, png, SEED_STEPS
        )
        numbers = plateau_numbers(layer, plateaus, steps, on_at_start=len(on), units=n)
        reached = numbers["objectives"] - numbers["not_plateaued"]
        rising = f", {numbers['not_plateaued']} still rising" if numbers["not_plateaued"] else ""
        found = (
            f"median plateau at step {numbers['median_plateau']:,.0f}, latest "
            f"{numbers['max_plateau']:,}"
            if reached
            else "no objective plateaued"
        )
        caption = (
            f"Convergence at {layer} of {job.label}: the objective of {len(indices)} "
            f"{'classes' if classes else 'sampled units'} against the step, recorded every "
            f"{every} of {steps:,} Adam steps (lr {lr:g}, seed {seed}; {how}). Dots mark the "
            f"plateau: the first step after which the objective rises by at most "
            f"{tolerance:.0%} over the next {window:.0%} of the run; {found}{rising}."
        )
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "convergence")],
            files=[arrays, table_path],
            numbers=numbers,
            seeds={"render_seed": seed},
        )

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        """Per dataset, model and layer: the plateau steps; and the verdict on the seed's steps."""
        rows = []
        for r in results:
            n = r.numbers
            rows.append(
                {
                    "dataset": r.labels.get("dataset", ""),
                    "model": r.labels.get("model", ""),
                    "layer": n["layer"],
                    "objectives": n["objectives"],
                    "steps": n["steps"],
                    "median": None if n["median_plateau"] is None else int(n["median_plateau"]),
                    "latest": n["max_plateau"],
                    "rising": n["not_plateaued"],
                    "on_at_start": f"{n['on_at_start']} of {n['units']}",
                }
            )
        if not rows:
            return None
        latest = max((r["latest"] for r in rows if r["latest"] is not None), default=None)
        text = verdict(
            run=max(r["steps"] for r in rows),
            total=sum(r["objectives"] for r in rows),
            rising=sum(r["rising"] for r in rows),
            latest=latest,
        )
        return {"rows": rows, "verdict": text, "seed_steps": SEED_STEPS}


STUDY = Convergence()

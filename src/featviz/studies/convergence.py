"""How many optimization steps does activation maximization need? (seed figure 4)

A seeded sample of filters of a layer (or every class of the logits layer)
is optimized for a long run while the objective is recorded every ``k``
steps. The sample is drawn from the *live* units: those whose activation is
above zero somewhere on the start image, since a ReLU unit that is zero
everywhere has no gradient and its objective never moves (such dead units
are counted, not plotted). The *plateau step* of a trace is the first recorded step after which
the objective rises by no more than ``tolerance`` (relative, 1 % by default)
over the following ``window`` share of the run (a tenth by default). A trace
that never satisfies this before its last window has not plateaued within
the run.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from featviz.engine import recipe
from featviz.io import atomic_path, write_npz
from featviz.plotting import new_figure, save_figure
from featviz.studies.filters import get_layer, is_logits, objectives_for


def plateau_step(
    steps: np.ndarray, trace: np.ndarray, window: float = 0.1, tolerance: float = 0.01
) -> int | None:
    """First recorded step after which ``trace`` rises by at most ``tolerance`` over ``window``.

    Args:
        steps: increasing recorded steps, starting at 0.
        trace: the objective at those steps.
        window: share of the run (``steps[-1]``) to look ahead.
        tolerance: largest relative rise (of the value at the step) still called flat.

    Returns:
        The plateau step, or None when the objective still rises in every window.
    """
    steps = np.asarray(steps)
    trace = np.asarray(trace, dtype=np.float64)
    ahead = window * steps[-1]
    for i, step in enumerate(steps):
        if step + ahead > steps[-1]:
            return None
        j = int(np.searchsorted(steps, step + ahead))
        rise = trace[i : j + 1].max() - trace[i]
        if rise <= tolerance * abs(trace[i]) + 1e-12:
            return int(step)
    return None


def sample_units(candidates: Sequence[int], count: int, seed: int) -> list[int]:
    """``count`` distinct members of ``candidates`` drawn by ``seed``, sorted (all if fewer)."""
    candidates = list(candidates)
    if count >= len(candidates):
        return sorted(candidates)
    picked = np.random.default_rng(seed).choice(len(candidates), count, replace=False)
    return sorted(candidates[int(i)] for i in picked)


def live_units(model: keras.Model, layer: str, start: np.ndarray) -> list[int]:
    """Units of ``layer`` whose activation is above zero somewhere on the ``start`` image."""
    probe = keras.Model(model.inputs[0], get_layer(model, layer).output)
    acts = np.asarray(keras.ops.convert_to_numpy(probe(start[:1])))[0]
    peak = acts.reshape(-1, acts.shape[-1]).max(axis=0)
    return [int(i) for i in np.flatnonzero(peak > 0)]


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


def run(
    model_path: str | Path,
    layer: str,
    out_dir: str | Path,
    *,
    count: int,
    steps: int,
    record_every: int,
    learning_rate: float,
    seed: int,
    window: float,
    tolerance: float,
    settings: dict | None = None,
    class_names: Sequence[str] | None = None,
    budget: int | None = None,
) -> tuple[list[Path], dict]:
    """Record long runs for a sample of ``layer``; write ``<layer>.npz/.csv`` and the figure.

    Returns:
        The files written and a summary (plateau steps, objectives that never plateaued).
    """
    out_dir = Path(out_dir)
    model = keras.saving.load_model(model_path)
    n = int(get_layer(model, layer).output.shape[-1])
    shape = recipe.input_shape(model)
    param = recipe.build(settings or {}, shape).param.bind(shape)
    start = keras.ops.convert_to_numpy(
        param.to_image(keras.ops.convert_to_tensor(param.init(1, seed)))
    )
    live = list(range(n)) if is_logits(model, layer) else live_units(model, layer, start)
    if not live:
        raise ValueError(
            f"Every unit of layer '{layer}' is zero on the start image: nothing to track."
        )
    chosen = live if is_logits(model, layer) else sample_units(live, count, seed)
    indices, objectives = objectives_for(model, layer, chosen, class_names)
    result, how = recipe.render_with(
        model,
        objectives,
        settings,
        steps=steps,
        learning_rate=learning_rate,
        seed=seed,
        trace_every=record_every,
        batch_size=len(objectives),
    )
    plateaus = [plateau_step(result.trace_steps, t, window, tolerance) for t in result.traces]
    write_npz(
        out_dir / f"{layer}.npz",
        indices=np.array(indices),
        steps=result.trace_steps,
        traces=result.traces,
        plateau=np.array([-1 if p is None else p for p in plateaus]),
    )
    table = out_dir / f"{layer}.csv"
    with atomic_path(table) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "layer",
                "index",
                "objective_name",
                "plateau_step",
                "final_objective",
                "steps",
                "live_units",
                "units",
            ]
        )
        for i, p in zip(indices, range(len(indices)), strict=True):
            writer.writerow(
                [
                    layer,
                    i,
                    result.names[p],
                    "" if plateaus[p] is None else plateaus[p],
                    f"{result.values[p]:.6g}",
                    steps,
                    len(live),
                    n,
                ]
            )
    title = (
        f"{layer}: objective every {record_every} steps (lr {learning_rate:g}); "
        f"dots: plateau (+{tolerance:.0%} within {window:.0%} of the run)"
    )
    figures = plot_traces(
        result.trace_steps,
        result.traces,
        result.names,
        plateaus,
        title,
        out_dir / f"{layer}.png",
        budget,
    )
    reached = [p for p in plateaus if p is not None]
    summary = {
        "layer": layer,
        "objectives": len(indices),
        "steps": steps,
        "median_plateau": float(np.median(reached)) if reached else None,
        "max_plateau": max(reached) if reached else None,
        "not_plateaued": len(plateaus) - len(reached),
        "live_units": len(live),
        "units": n,
        "recipe": how,
    }
    return [*figures, table], summary

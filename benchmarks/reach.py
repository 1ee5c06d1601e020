"""Which start reaches every live unit? The remedies for units stuck at their start, measured.

A ReLU unit that is zero everywhere on its start image has no gradient: rendered
from the seed's grey start, it stays there. For every unit of conv1, conv2, conv3 and
the fc1 units the demo renders, on a trained model of each demo dataset, each remedy
renders the unit with the seed's recipe otherwise (pixel space, no regularizer) and
counts, per layer:

- *stuck*: live units (active on at least 1 % of test images) whose objective ended at 0;
- *below best*: live units whose image activates them less than their best test image;
- the median of the final activation over the best test image's, and the seconds taken.

Remedies: the seed's grey start (``grey``), pixel noise with the data's spread
(``noise``), random training images (``natural``), each unit's most activating training
images (``exemplars``); each with plain ReLU gradients (the seed's), with the
pre-activation climbed where it is highest while the unit is off, and with Lucid's
redirected ReLU. Each at the demo's budget of the recommended study (32 steps) and at the
schema's (256), one start per unit.

Run from a directory holding the demo's trained models (``make demo`` first)::

    python -m benchmarks.reach [--results results] [--steps 256]

Writes ``benchmarks/reach.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DATASETS = ("synthetic-digits", "synthetic-house-numbers")
LAYERS = {"conv1": None, "conv2": None, "conv3": None, "fc1": list(range(16))}
REMEDIES = {
    f"{start}{'' if relu == 'plain' else ' + ' + relu.replace('_', '-')}": {
        "start": start,
        "relu_gradient": relu,
    }
    for start in ("grey", "noise", "natural", "exemplars")
    for relu in ("plain", "pre_activation", "redirected")
}


def measure(
    results: Path, budgets: list[int], remedies: dict[str, dict], datasets=DATASETS
) -> list[dict]:
    from featviz import metrics
    from featviz.data.prepare import load_prepared, to_model_input
    from featviz.engine import for_units, recipe
    from featviz.models import probe

    rows = []
    for dataset in datasets:
        data = load_prepared(results / dataset / "data" / "dataset.npz")
        model = probe.load_model(results / dataset / "cnn3" / "model.keras")
        table = probe.layer_table(model)
        test, train = to_model_input(data["x_test"]), to_model_input(data["x_train"])
        resources = recipe.Resources(images=train)
        for layer, chosen in LAYERS.items():
            indices, objectives = for_units(table, layer, chosen)
            scores = probe.unit_scores(model, layer, test)[:, indices]
            best = scores.max(axis=0)
            live = metrics.live(metrics.active_share(scores))
            for steps, (name, settings) in itertools.product(budgets, remedies.items()):
                began = time.perf_counter()
                result, _ = recipe.render_with(
                    model, objectives, settings, resources, steps=steps, progress=False
                )
                seconds = time.perf_counter() - began
                ratio = result.values[live] / np.maximum(best[live], 1e-12)
                row = {
                    "dataset": dataset,
                    "layer": layer,
                    "remedy": name,
                    "steps": steps,
                    "units": len(indices),
                    "live": int(live.sum()),
                    "stuck": int((live & (result.values <= 0)).sum()),
                    "below_best": int((live & (result.values < best)).sum()),
                    "median_over_best": float(np.median(ratio)) if live.any() else None,
                    "seconds": round(seconds, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--steps", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--out", type=Path, default=HERE / "reach.json")
    args = parser.parse_args()
    rows = measure(args.results, args.steps, REMEDIES, args.datasets)
    totals = []
    for steps, name in itertools.product(args.steps, REMEDIES):
        mine = [r for r in rows if r["remedy"] == name and r["steps"] == steps]
        total = {"remedy": name, "steps": steps}
        for key in ("live", "stuck", "below_best", "seconds"):
            total[key] = round(sum(r[key] for r in mine), 2)
        totals.append(total)
    for t in totals:
        base = next(b for b in totals if b["remedy"] == "grey" and b["steps"] == t["steps"])
        print(
            f"{t['steps']:4d} steps  {t['remedy']:30s} stuck {t['stuck']:4d} / {t['live']}"
            f"  below best {t['below_best']:4d}  {t['seconds']:7.1f} s"
            f" ({t['seconds'] / base['seconds']:.2f}x the seed's)"
        )
    args.out.write_text(json.dumps({"rows": rows, "totals": totals}, indent=1) + "\n")


if __name__ == "__main__":
    main()

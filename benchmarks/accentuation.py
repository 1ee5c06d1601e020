"""Feature accentuation: the anchor in pixels or in the model's features, and its weight.

Feature accentuation (Hamblin et al. 2024) starts from a unit's natural exemplar and
raises the unit while a penalty keeps the image near that exemplar. The penalty can
compare pixels (``anchor``) or the activations of the layer below the unit's
(``feature_anchor``, relative to the exemplar's own). Which, and how strong?

On a trained model of each demo dataset, for a seeded sample of live units of conv1,
conv2, conv3 and fc1, every anchor is swept over its weight (0 is the exemplar start
without a penalty) under the recommended studies' machinery (exemplar starts,
pre-activation gradients, ``references`` maximizing and minimizing images per unit), and
each is measured per layer:

- *2-AFC*: the machine two-alternative score with the images as references, against the
  natural-exemplar ceiling on the same queries, and its paired bootstrap interval to the
  best variant of that layer (inside it: a tie);
- *gain*: the median of the unit's final activation over its exemplar start's;
- *above best*: the share of units whose image beats their best test image;
- *pixels moved*: the root mean square change from the exemplar, in [0, 1] units;
- the seconds taken.

Run from a directory holding the demo's trained models (``make demo`` first)::

    python -m benchmarks.accentuation [--results results] [--steps 128]

Writes ``benchmarks/accentuation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DATASETS = ("synthetic-digits", "synthetic-house-numbers")
LAYERS = ("conv1", "conv2", "conv3", "fc1")
WEIGHTS = (0.1, 1.0, 10.0, 100.0)
VARIANTS = {
    "exemplar, no anchor": {},
    **{f"pixel anchor {w:g}": {"anchor": w} for w in WEIGHTS},
    **{f"feature anchor {w:g}": {"feature_anchor": w} for w in WEIGHTS},
}


BATCH = {"batch_size": 256}


def _settings(regularizers: dict) -> dict:
    """Render settings: exemplar starts, pre-activation gradients, these penalties."""
    from featviz.settings import validate_definition

    return validate_definition(
        "render",
        {"start": "exemplars", "relu_gradient": "pre_activation", "regularizers": regularizers},
        "accentuation",
    )


def measure(
    results: Path, steps: int, units: int, references: int, datasets=DATASETS
) -> list[dict]:
    from featviz import metrics
    from featviz.data.prepare import load_prepared, to_model_input
    from featviz.engine import for_units, recipe
    from featviz.models import probe
    from featviz.settings import declared
    from featviz.units import live_units, render_both_ends, sample_units, score_units

    queries = declared("$defs.two_afc.queries")
    rows = []
    for dataset in datasets:
        data = load_prepared(results / dataset / "data" / "dataset.npz")
        model = probe.load_model(results / dataset / "cnn3" / "model.keras")
        judge = probe.load_model(results / dataset / "judge" / "model.keras")
        table, judged = probe.layer_table(model), probe.layer_table(judge)
        test, train = to_model_input(data["x_test"]), to_model_input(data["x_train"])
        embed = judged.embedding_layer()
        natural = probe.activations(judge, test, [embed], batch_size=256)[embed]
        resources = recipe.Resources(images=train)
        for layer in LAYERS:
            every = probe.unit_scores(model, layer, test)
            indices = sample_units(live_units(every), units, seed=0)
            _, objectives = for_units(table, layer, indices)
            scores = every[:, indices]
            best = scores.max(axis=0)
            found = {}
            # the exemplars the images start from, one Adam step in (a render takes >= 1)
            first = render_both_ends(
                model, objectives, references, _settings({}), resources, {**BATCH, "steps": 1}
            ).images[0]
            for name, regularizers in VARIANTS.items():
                began = time.perf_counter()
                ends = render_both_ends(
                    model,
                    objectives,
                    references,
                    _settings(regularizers),
                    resources,
                    {**BATCH, "steps": steps},
                )
                seconds = time.perf_counter() - began
                n, k = len(indices), references
                emb = probe.activations(judge, ends.flat_images(), [embed])[embed]
                emb = emb.reshape(2, n, k, -1)
                scored = score_units(natural, scores, emb[0], emb[1], ends.images[0], k, queries)
                moved = np.sqrt(np.square(ends.images[0] - first).mean(axis=(2, 3, 4)))
                gain = ends.values[0] / np.maximum(ends.starts[0], 1e-12)
                found[name] = scored.two_afc
                row = {
                    "dataset": dataset,
                    "layer": layer,
                    "variant": name,
                    "steps": steps,
                    "units": n,
                    "references": k,
                    "two_afc": round(float(scored.two_afc.mean()), 4),
                    "ceiling": round(float(scored.ceiling.mean()), 4),
                    "gain": round(float(np.median(gain)), 3),
                    "above_best": round(float((ends.values[0].max(axis=1) > best).mean()), 3),
                    "pixels_moved": round(float(moved.mean()), 4),
                    "seconds": round(seconds, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            paired = metrics.paired_bootstrap(np.stack(list(found.values())), seed=0)
            for row, low_high in zip(rows[-len(found) :], paired.intervals, strict=True):
                row["to_best"] = [round(float(v), 4) for v in low_high]
                row["tied_with_best"] = bool(low_high[1] >= 0)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--units", type=int, default=16, help="live units sampled per layer")
    parser.add_argument("--references", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--out", type=Path, default=HERE / "accentuation.json")
    args = parser.parse_args()
    rows = measure(args.results, args.steps, args.units, args.references, args.datasets)
    args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

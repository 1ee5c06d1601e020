"""Which learner for the dictionary study? NMF and the top-k sparse autoencoder, measured.

On a trained model of each demo dataset, both learners fit the same samples of conv3's
activations (every position of the study's training images, a seeded subset) and of fc1's,
with the study's default settings, and each fit is measured: the share of the activations'
variance it explains, the share of codes that are zero, the features no sample uses, the
seconds it took; and, on activations planted from known directions, how well each recovers
them (the smallest matched cosine).

Run from a directory holding the demo's trained models (``make demo`` first)::

    python -m benchmarks.dictionary_fit [--results results]

Writes ``benchmarks/dictionary_fit.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DATASETS = ("synthetic-digits", "synthetic-house-numbers")
LAYERS = ("conv3", "fc1")


def fit_row(samples: np.ndarray, method: str, settings: dict, **labels) -> dict:
    from featviz.models.dictionaries import learn

    fit = learn(
        samples,
        settings["features"],
        method,
        settings["seed"],
        top_k=settings["top_k"],
        epochs=settings["epochs"],
    )
    row = {
        **labels,
        "method": method,
        "samples": len(samples),
        "explained": round(fit.explained, 4),
        "sparsity": round(fit.sparsity, 4),
        "dead": fit.dead,
        "seconds": round(fit.seconds, 2),
    }
    print(json.dumps(row), flush=True)
    return row


def planted_rows(settings: dict) -> list[dict]:
    """Both learners on activations built from known non-negative directions."""
    from featviz.models.dictionaries import learn, match

    rng = np.random.default_rng(0)
    k, channels, n = settings["features"], 64, 20000
    directions = rng.uniform(0, 1, (k, channels)) * (rng.uniform(size=(k, channels)) < 0.3)
    codes = rng.exponential(1.0, (n, k)) * (rng.uniform(size=(n, k)) < 0.2)
    acts = np.maximum(codes @ directions + rng.normal(0, 0.02, (n, channels)), 0)
    rows = []
    for method in ("nmf", "sae"):
        fit = learn(acts, k, method, 0, top_k=settings["top_k"], epochs=settings["epochs"])
        cosine = match(directions, fit.features)
        rows.append(
            {
                "dataset": "planted",
                "layer": f"{k} directions in {channels} channels",
                "method": method,
                "samples": n,
                "explained": round(fit.explained, 4),
                "sparsity": round(fit.sparsity, 4),
                "dead": fit.dead,
                "seconds": round(fit.seconds, 2),
                "min_cosine": round(float(cosine.min()), 4),
                "median_cosine": round(float(np.median(cosine)), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="The demo's results folder.")
    args = parser.parse_args(argv)

    from featviz.data.prepare import load_prepared, to_model_input
    from featviz.models import probe
    from featviz.models.dictionaries import samples_of
    from featviz.settings import validate_section

    settings = validate_section("dictionary", {})
    rows = planted_rows(settings)
    for dataset in DATASETS:
        model = probe.load_model(Path(args.results) / dataset / "cnn3" / "model.keras")
        train = load_prepared(Path(args.results) / dataset / "data" / "dataset.npz")["x_train"]
        rng = np.random.default_rng(settings["seed"])
        chosen = np.sort(rng.permutation(len(train))[: settings["images"]])
        images = to_model_input(train[chosen])
        for layer in LAYERS:
            acts = probe.activations(model, images, [layer], batch_size=256)[layer]
            samples = samples_of(acts, settings["samples"], settings["seed"])
            for method in ("nmf", "sae"):
                rows.append(fit_row(samples, method, settings, dataset=dataset, layer=layer))
    out = HERE / "dictionary_fit.json"
    out.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Beyond single units: a learned dictionary of directions per layer, scored against the units.

The seed asked whether a layer's units mean more than any other direction of its activation
space; the directions study renders random ones. Here the directions are learned from the
data (:mod:`featviz.models.dictionaries`): a sparse, non-negative dictionary of the layer's
activations over the training split, as CRAFT's concepts (Fel et al. 2023), which people
found easier to interpret than single units (Colin et al. 2024). Each feature is

- rendered as a direction (the projection of the layer's mean activation onto it) under the
  recipe the ablation chose for the layer, maximized and minimized from ``references``
  starts each, as the recommended study renders the units;
- ranked on the test images by the same projection, which gives its natural exemplars and
  queries;
- scored like a unit (:func:`featviz.units.score_units`): the machine two-alternative score
  with its visualizations as references against the ceiling its natural exemplars give,
  the high-frequency share, the diversity.

The job then compares the features with the layer's live units as the recommended study
scored them (both with ``references`` per side; a dead unit would score chance): the mean
difference of their two-alternative scores with a bootstrap interval, and how many units
each feature spreads over.

Split (``dictionary.split``, the default), the fit and the renders are a job of their own
(the layer's ``features`` shard): they need only the ablation's recipe, so they run beside
the recommended study's renders rather than after them, and the layer's job scores and
compares. The outputs are the same, bit for bit.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from featviz import metrics
from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import atomic_path, read_npz, write_npz
from featviz.models.layers import LayerTable
from featviz.plateau import describe_steps
from featviz.plotting import image_table, save_figure
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study
from featviz.units import (
    BothEnds,
    describe_reach,
    layer_recipe,
    render_both_ends,
    score_units,
)

#: Units shown beside each feature: those it loads on most.
TOP_UNITS = 3
#: The one shard of a split layer: its dictionary learned and its features rendered.
FEATURES = "features"


def top_units(features: np.ndarray, count: int = TOP_UNITS) -> np.ndarray:
    """``(K, count)``: for each feature, the units with the largest weights, largest first."""
    return np.argsort(-np.asarray(features), axis=1, kind="stable")[:, :count]


def difference(features: np.ndarray, units: np.ndarray, seed: int) -> list[float]:
    """Mean two-alternative score of the features minus the units', with the 95 % interval
    of a bootstrap that resamples each group on its own: ``[difference, low, high]``."""
    from scipy.stats import bootstrap

    a, b = features[np.isfinite(features)], units[np.isfinite(units)]
    mean = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if len(a) < 2 or len(b) < 2:
        return [mean, float("nan"), float("nan")]
    interval = bootstrap(
        (a, b),
        lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
        vectorized=True,
        paired=False,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return [mean, float(interval.low), float(interval.high)]


def verdict(layer: str, gap: Sequence[float]) -> str:
    """One sentence: are the layer's features more interpretable than its units?"""
    mean, low, high = gap
    if not np.isfinite(low):
        return f"At {layer}, too few features or units were scored to compare them."
    told = f"(difference {mean:+.3f}, 95 % interval [{low:+.3f}, {high:+.3f}])"
    if low > 0:
        return f"At {layer}, the learned features are more interpretable than the units {told}."
    if high < 0:
        return f"At {layer}, the units are more interpretable than the learned features {told}."
    return f"At {layer}, the learned features and the units cannot be told apart {told}."


class Dictionary(Study):
    name = "dictionary"
    category = "Dictionary"
    sections = {"dictionary": "Beyond single units: a learned dictionary"}
    files = {"arrays": "{job}.npz", "table": "{job}.csv"}
    # whether the fit and renders are a job of their own plans jobs only
    plan_keys = ("layers", "split")
    reads = {
        "units": ("recommended", "arrays"),
        "recommended": ("ablation", "recommended", "recipes"),
    }
    shard_resources = {"mem_mb": 4000, "runtime": 120}

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return list(dict.fromkeys(settings["layers"]))

    def needs(self, settings: Settings) -> list[str]:
        return ["judge"]

    def shards(
        self, settings: Settings, table: LayerTable, key: str, units: Sequence[int] | None = None
    ) -> list[str]:
        """The layer's fit and renders as a shard, if split."""
        return [FEATURES] if settings["split"] else []

    def shard_needs(self, settings: Settings) -> list[str]:
        # the recipe, and the prior where it renders through it; not the units, nor the judge
        return ["recommended", "prior"]

    def run_shard(self, job: Job, settings: Settings, shard: str) -> dict[str, np.ndarray]:
        """Learn the layer's dictionary and render its features, as the layer's job does."""
        if shard != FEATURES:
            raise ValueError(
                f"--shard {shard}: not a shard of this job; its one shard is {FEATURES}."
            )
        from featviz.models import probe

        data = load_prepared(job.require_data(self.name))
        return learn_and_render(job, settings, probe.load_model(job.model), data["x_train"])

    def run(self, job: Job, settings: Settings) -> Result:
        """Learn the layer's dictionary and render every feature (or read its shard's), score
        every feature, compare with the units."""
        from featviz.models import probe
        from featviz.models.dictionaries import units_spread
        from featviz.models.receptive import receptive_fields, windows

        model = probe.load_model(job.model)
        judge = probe.load_model(job.extra("judge"))
        layer, k, seed = job.key, settings["references"], settings["seed"]
        data = load_prepared(job.require_data(self.name))
        train = data["x_train"]
        if FEATURES in job.shards:
            done = read_npz(job.shards[FEATURES], "the dictionary's fit and renders")
        else:
            done = learn_and_render(job, settings, model, train)
        features, n = done["features"], len(done["features"])
        setting, _ = layer_recipe(job.extra("recommended"), layer, settings)
        ends = BothEnds.from_arrays(done)
        max_images, min_images = ends.images
        max_values, starts = ends.values[0], ends.starts[0]

        test = to_model_input(data["x_test"])  # the archive read above, not again
        scores = probe.unit_scores(model, layer, test) @ features.T  # (N, K)
        # each feature's natural exemplars, as the units' are ranked and cropped
        ranked = probe.rank_images(model, layer, test, range(n), k, directions=features)
        field = receptive_fields(model).get(layer)
        for end in ("top", "bottom"):
            ranked[f"{end}_windows"] = windows(field, ranked[f"{end}_positions"], test.shape[1:3])
        best_test, active = scores.max(axis=0), metrics.active_share(scores)
        top = max_values.argmax(axis=1)
        reached = metrics.reach(
            max_values.max(axis=1), starts[np.arange(n), top], best_test, active
        )
        judged = probe.layer_table(judge)
        embed = judged.embedding_layer()
        natural = probe.activations(judge, test, [embed], batch_size=256)[embed]
        emb = probe.activations(judge, ends.flat_images(), [embed])[embed].reshape(2, n, k, -1)
        scored = score_units(natural, scores, emb[0], emb[1], max_images, k, settings["queries"])

        units = read_npz(job.extra("units"), "the recommended study's arrays of this layer")
        # live units only: a dead unit ranks its exemplars by ties and scores chance, which
        # would hand the features a win the units' pictures did not lose
        live = metrics.live(units["active_share"])
        unit_afc, unit_ceiling = units["two_afc"][live], units["natural_two_afc"][live]
        gap = difference(scored.two_afc, unit_afc, seed)
        spread = units_spread(features)
        loads = top_units(features)

        files = {key: job.path(name) for key, name in self.files.items()}
        write_npz(
            files["arrays"],
            features=features,
            max_images=max_images,
            max_values=max_values,
            min_images=min_images,
            best_test=best_test,
            active_share=active,
            two_afc=scored.two_afc,
            natural_two_afc=scored.ceiling,
            hf_share=scored.hf_share,
            diversity=scored.diversity,
            spread=spread,
            top_units=loads,
            used=done["used"],
            **{
                f"{end}{part}": ranked[f"{end}{part}"]
                for end in ("top", "bottom")
                for part in ("", "_scores", "_windows")
            },
        )
        write_table(files["table"], scored, spread, loads, done["used"])
        png = job.path(self.figures["figure"])
        draw(png, max_images[np.arange(n), top], max_values.max(axis=1), loads, units)
        steps = describe_steps(settings, ends.stopped)
        sentence = verdict(layer, gap)
        caption = (
            f"The {n} features of a dictionary learned from {layer} of {job.label} "
            f"({settings['method']}, fitted on {min(len(train), settings['images'])} training "
            f"images, explaining {float(done['explained']):.1%} of the activations' variance; "
            f"rows), "
            f"each rendered as a direction under the layer's recommended recipe "
            f"('{setting}': {ends.how}; {steps}, seed {seed}), the best of {k} maximizing starts "
            f"first, then the recommended study's image of each of the {TOP_UNITS} units it "
            f"loads on most. Mean machine two-alternative score "
            f"{np.nanmean(scored.two_afc):.3f} (natural ceiling "
            f"{np.nanmean(scored.ceiling):.3f}) against the {int(live.sum())} live units' "
            f"{np.nanmean(unit_afc):.3f} (ceiling {np.nanmean(unit_ceiling):.3f}), "
            f"{k} references per side each. "
            f"{sentence} {describe_reach(reached)}"
        )
        numbers = {
            "layer": layer,
            "method": settings["method"],
            "features": n,
            "explained": float(done["explained"]),
            "sparsity": float(done["sparsity"]),
            "dead": int(done["dead"]),
            "setting": setting,
            "references": k,
            "two_afc": metrics.mean_and_spread(scored.two_afc),
            "natural_two_afc": metrics.mean_and_spread(scored.ceiling),
            "units": int(live.sum()),
            "unit_two_afc": metrics.mean_and_spread(unit_afc),
            "unit_natural_two_afc": metrics.mean_and_spread(unit_ceiling),
            "difference": gap,
            "spread": metrics.mean_and_spread(spread),
            "verdict": sentence,
            **reached,
        }
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "dictionary")],
            files=list(files.values()),
            numbers=numbers,
            seeds={"dictionary_seed": seed, "render_seed": seed},
        )

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        """Per dataset and model, each layer's row: fit, scores, difference and verdict."""
        if not results:
            return None
        runs: dict[tuple[str, str], dict[str, Any]] = {}
        for r in results:
            key = (r.labels.get("dataset", ""), r.labels.get("model", ""))
            run = runs.setdefault(key, {"dataset": key[0], "model": key[1], "rows": []})
            run["rows"].append(r.numbers)
        return {"runs": list(runs.values())}


def learn_and_render(
    job: Job, settings: Settings, model: Any, train: np.ndarray
) -> dict[str, np.ndarray]:
    """The layer's dictionary learned from a seeded subset of ``train`` and each feature
    rendered maximized and minimized under the layer's recipe: the arrays a shard writes."""
    from featviz.engine import direction
    from featviz.models import probe
    from featviz.models.dictionaries import learn, samples_of

    layer, seed = job.key, settings["seed"]
    chosen = np.random.default_rng(seed).permutation(len(train))[: settings["images"]]
    acts = probe.activations(
        model, to_model_input(train[np.sort(chosen)]), [layer], batch_size=256
    )[layer]
    fit = learn(
        samples_of(acts, settings["samples"], seed),
        settings["features"],
        settings["method"],
        seed,
        top_k=settings["top_k"],
        epochs=settings["epochs"],
    )
    _, render_settings = layer_recipe(job.extra("recommended"), layer, settings)
    objectives = [direction(layer, f, label=f"feature {i}") for i, f in enumerate(fit.features)]
    ends = render_both_ends(
        model,
        objectives,
        settings["references"],
        render_settings,
        job.resources([render_settings]),
        settings,
    )
    return {
        "features": fit.features,
        "used": fit.used,
        "explained": np.array(fit.explained),
        "sparsity": np.array(fit.sparsity),
        "dead": np.array(fit.dead),
        **ends.arrays(),
    }


def write_table(
    path: Any, scored: Any, spread: np.ndarray, loads: np.ndarray, used: np.ndarray
) -> None:
    """One row per feature: its scores, the units it spreads over and loads on most."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["feature", "two_afc", "natural_two_afc", "hf_share", "diversity", "used_share"]
            + ["units_spread", "top_units"]
        )
        for i in range(len(spread)):
            writer.writerow(
                [
                    i,
                    f"{scored.two_afc[i]:.6g}",
                    f"{scored.ceiling[i]:.6g}",
                    f"{scored.hf_share[i].mean():.6g}",
                    f"{scored.diversity[i]:.6g}",
                    f"{used[i]:.6g}",
                    f"{spread[i]:.6g}",
                    " ".join(map(str, loads[i])),
                ]
            )


def draw(
    png: Any,
    images: np.ndarray,
    values: np.ndarray,
    loads: np.ndarray,
    units: dict[str, np.ndarray],
) -> None:
    """Rows: features; first column the feature's image, then its top units' images."""
    indices = [int(i) for i in units["indices"]]
    best = units["max_values"].argmax(axis=1)
    cells, titles = {}, {}
    for row, image in enumerate(images):
        cells[(row, 0)] = image
        for col, unit in enumerate(loads[row], start=1):
            if int(unit) in indices:  # a unit the recommended study rendered
                u = indices.index(int(unit))
                cells[(row, col)] = units["max_images"][u, best[u]]
                titles[(row, col)] = f"unit {int(unit)}"
    fig = image_table(
        cells,
        0.75 * (1 + loads.shape[1]) + 1.0,
        0.85 * len(images) + 0.4,
        titles=titles,
        row_labels=[f"feature {i}  {v:.3g}" for i, v in enumerate(values)],
        column_titles={0: "feature", 1: "the units it loads on most"},
        column_align="left",
    )
    save_figure(fig, png)


STUDY = Dictionary()

"""Which recipe makes a visualization interpretable? The regularizer ablation, measured.

The seed study tried regularizers on its class visualizations (its figures 9
and 10) and judged them by eye. Here every class, and a seeded sample of live
units of each chosen layer, is rendered under each *setting*: the seed's
unregularized recipe (``none``), each regularizer family alone, and the
combinations the config lists, each from ``references`` start images.
Settings that share a parameterization run as one batch (render variants).
Every image is then measured (:mod:`featviz.metrics`):

- classes: the judge model's probability of the class (transferability), SSIM
  to the class's mean test image, plausibility in the model's own embedding,
  and the logit reached;
- units: the machine two-alternative score, with the unit's maximizing and
  minimizing visualizations as references (both are rendered), against the
  ceiling that natural exemplars give on the same units;
- all: the high-frequency share, and the diversity over starts.

The two-alternative task sees as many references on each side: ``references``
maximizing and minimizing visualizations, and as many natural exemplars for its ceiling.

A setting's *score* is the mean of its mean transferability (classes) and its
mean two-alternative score (units); the setting with the highest score is the
recommended recipe, written to ``recipes_recommended.json`` for the studies that follow.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featviz import metrics
from featviz.io import atomic_path, read_npz, write_json, write_npz, write_text
from featviz.models.layers import LayerTable
from featviz.plateau import budget, describe_steps
from featviz.plotting import image_table, new_figure, save_figure
from featviz.results import Figure, Result
from featviz.settings import validate_definition
from featviz.studies.base import Job, Settings, Study, layers_and_classes
from featviz.units import (
    Split,
    live_units,
    load_test,
    sample_units,
    score_units,
    two_afc_per_unit,
)

#: Keys of a recipe that make its parameterization: settings that differ elsewhere share a batch.
PARAMETERIZATION_KEYS = (
    "parameterization",
    "decorrelate",
    "fourier_decay",
    "start",
    "relu_gradient",
)
#: Real test images whose embeddings plausibility compares against (a seeded subset).
PLAUSIBILITY_IMAGES = 1000


def combine(recipes: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    """One recipe from several: their regularizers together, transforms if any has them,
    and the one parameterization other than plain pixels that any of them has.

    Raises:
        ValueError: two recipes with different parameterizations (other than pixel).
    """
    kinds = {r["parameterization"] for r in recipes} - {"pixel"}
    if len(kinds) > 1:
        raise ValueError(
            f"ablation.combinations.{name}: combines parameterizations {sorted(kinds)}; "
            "a combination can have one besides pixel."
        )
    merged: dict[str, Any] = {"regularizers": {}}
    for r in recipes:
        for key, value in r["regularizers"].items():
            if value or key not in merged["regularizers"]:
                merged["regularizers"][key] = value
    merged["parameterization"] = kinds.pop() if kinds else "pixel"
    merged["decorrelate"] = any(r["decorrelate"] for r in recipes)
    merged["fourier_decay"] = next(
        (r["fourier_decay"] for r in recipes if r["parameterization"] == "fourier"), 1.0
    )
    moved = [r["transforms"] for r in recipes if r["transforms"] != "none"]
    merged["transforms"] = moved[0] if moved else "none"
    return validate_definition("recipe", merged, f"ablation.combinations.{name}")


def named_recipes(settings: Settings, channels: int | None = None) -> dict[str, dict[str, Any]]:
    """Every setting and combination by name, as complete recipes.

    With ``channels`` 1 (grey data), settings with decorrelated colour are left out:
    there is no colour to decorrelate.

    Raises:
        ValueError: a combination naming an unknown setting.
    """
    recipes = {
        name: validate_definition("recipe", recipe, f"ablation.settings.{name}")
        for name, recipe in settings["settings"].items()
    }
    for name, parts in settings["combinations"].items():
        unknown = [p for p in parts if p not in recipes]
        if unknown:
            raise ValueError(
                f"ablation.combinations.{name}: unknown setting '{unknown[0]}'. "
                f"Settings: {', '.join(recipes)}."
            )
        if name in recipes:
            raise ValueError(f"ablation.combinations.{name}: a setting has that name already.")
        recipes[name] = combine([recipes[p] for p in parts], name)
    if channels == 1:
        recipes = {n: r for n, r in recipes.items() if not r["decorrelate"]}
    return recipes


def parts(recipe: Mapping[str, Any]) -> int:
    """How much a recipe adds to plain pixels: a parameterization other than pixels,
    decorrelated colour, transforms, and each regularizer count one. Among settings that
    the ablation cannot tell apart, the one with the fewest parts is chosen."""
    return (
        (recipe["parameterization"] != "pixel")
        + bool(recipe["decorrelate"])
        + (recipe["transforms"] != "none")
        + sum(1 for v in recipe["regularizers"].values() if v)
    )


@dataclass(frozen=True)
class Choice:
    """The setting chosen for one layer's targets, and how sure the choice is."""

    layer: str
    setting: str
    best: str  # the highest mean score (the choice, unless a simpler setting is tied)
    tied: list[str]  # settings not told apart from the best, best first
    targets: int
    means: dict[str, float]
    intervals: dict[str, list[float]]  # each setting's difference to the best
    ceiling: float
    shortfall: list[float]  # the chosen setting minus the ceiling: mean, interval

    def row(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "setting": self.setting,
            "best": self.best,
            "tied": self.tied,
            "targets": self.targets,
            "score": self.means[self.setting],
            "ceiling": self.ceiling,
            "shortfall": self.shortfall,
            "means": self.means,
            "intervals": self.intervals,
        }


#: Name of the choice over every target, for layers the ablation did not sample.
EVERY_LAYER = "every layer"


def layer_groups(targets: Sequence[Target]) -> dict[str, np.ndarray]:
    """Which targets each verdict is over: each sampled layer's (its maximized and minimized
    units, the logits' classes), then every maximized target (:data:`EVERY_LAYER`)."""
    layers = list(dict.fromkeys(t.layer for t in targets if t.kind != "min"))
    groups = {layer: np.array([t.layer == layer for t in targets]) for layer in layers}
    groups[EVERY_LAYER] = np.array([t.kind != "min" for t in targets])
    return groups


def choose(
    names: Sequence[str],
    recipes: Mapping[str, Mapping[str, Any]],
    afc: np.ndarray,
    ceiling: np.ndarray,
    targets: Sequence[Target],
    seed: int,
) -> dict[str, Choice]:
    """Per layer (and over every target), the setting to recommend: the highest mean
    two-alternative score over the layer's targets, compared pairwise on the same targets
    and starts (:func:`featviz.metrics.paired_bootstrap`); among the settings its 95 %
    interval cannot tell from the best, the one with the fewest :func:`parts`."""
    chosen = {}
    for layer, mask in layer_groups(targets).items():
        mask = mask & np.isfinite(afc).all(axis=0)
        if not mask.any():
            continue
        paired = metrics.paired_bootstrap(afc[:, mask], seed)
        tied = sorted(paired.tied(), key=lambda s: -paired.means[s])
        pick = min(tied, key=lambda s: (parts(recipes[names[s]]), -paired.means[s]))
        gap = metrics.paired_bootstrap(np.stack([afc[pick, mask], ceiling[mask]]), seed)
        sign = 1.0 if gap.best == 1 else -1.0  # the chosen setting minus the ceiling
        low, high = sorted(sign * gap.intervals[1 - gap.best])
        chosen[layer] = Choice(
            layer=layer,
            setting=names[pick],
            best=names[paired.best],
            tied=[names[s] for s in tied],
            targets=paired.targets,
            means={n: float(paired.means[s]) for s, n in enumerate(names)},
            intervals={n: paired.intervals[s].tolist() for s, n in enumerate(names)},
            ceiling=float(ceiling[mask].mean()),
            shortfall=[float(afc[pick, mask].mean() - ceiling[mask].mean()), low, high],
        )
    return chosen


def ranking_agreement(
    afc: np.ndarray, afc_second: np.ndarray, targets: Sequence[Target]
) -> dict[str, float | None]:
    """Per layer (and over every target), Kendall's tau between the settings' mean
    two-alternative scores in the two embeddings: do both rank the settings alike?"""
    from scipy.stats import kendalltau

    out: dict[str, float | None] = {}
    for layer, mask in layer_groups(targets).items():
        mask = mask & np.isfinite(afc).all(axis=0) & np.isfinite(afc_second).all(axis=0)
        if mask.sum() == 0 or len(afc) < 2:
            out[layer] = None
            continue
        tau = kendalltau(afc[:, mask].mean(axis=1), afc_second[:, mask].mean(axis=1)).statistic
        out[layer] = float(tau) if np.isfinite(tau) else None
    return out


def agreement(first: Choice, second: Choice) -> str:
    """``same`` winner, a ``tie`` (either run's choice is among the other's ties), or
    ``differs``."""
    if first.setting == second.setting:
        return "same"
    if first.setting in second.tied or second.setting in first.tied:
        return "tie"
    return "differs"


def _fmt(mean: float, spread: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


COLUMNS = [
    ("score", "score"),
    ("transfer", "transferability"),
    ("class_ssim", "class SSIM"),
    ("plausibility", "plausibility"),
    ("two_afc", "2-AFC"),
    ("hf_share", "HF share"),
    ("diversity", "diversity"),
    ("logit", "class logit"),
]


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The settings' metrics as a Markdown table, mean ± standard deviation."""
    head = "| setting | " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "| --- |" + " ---: |" * len(COLUMNS)
    body = [
        f"| {r['setting']} | "
        + " | ".join(
            _fmt(*r[key]) if key != "score" else _fmt(r["score"], 0.0).split(" ±")[0]
            for key, _ in COLUMNS
        )
        + " |"
        for r in rows
    ]
    return "\n".join([head, rule, *body]) + "\n"


def latex_table(rows: Sequence[Mapping[str, Any]], caption: str) -> str:
    """The same table as a LaTeX ``table`` (booktabs)."""

    def tex(text: str) -> str:
        return text.replace("±", r"$\pm$").replace("—", "--").replace("_", r"\_")

    lines = [
        r"\begin{table}[ht]",
        r"\centering\small",
        r"\begin{tabular}{l" + "r" * len(COLUMNS) + "}",
        r"\toprule",
        "setting & " + " & ".join(title for _, title in COLUMNS) + r" \\",
        r"\midrule",
    ]
    for r in rows:
        cells = [
            _fmt(*r[key]) if key != "score" else _fmt(r["score"], 0.0).split(" ±")[0]
            for key, _ in COLUMNS
        ]
        lines.append(tex(r["setting"]) + " & " + " & ".join(map(tex, cells)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Target:
    """What one group of images maximizes: a class, or a unit maximized or minimized."""

    kind: str  # "class", "max" or "min"
    layer: str
    index: int
    objective: Any


@dataclass
class Scores:
    """The measures of every setting: its summary row and each image's values."""

    rows: list[dict[str, Any]]
    per_image: list[dict[str, Any]]
    hf_share: np.ndarray
    natural: tuple[float, float]
    two_afc: np.ndarray  # (settings, targets): each maximized target's score, NaN for the rest
    ceiling: np.ndarray  # (targets,): its natural-exemplar ceiling, NaN for the rest
    two_afc_second: np.ndarray  # the same scores in the second embedding
    embeddings: dict[str, str | None]  # the judge layers of the two embeddings


def ranking_scores(
    model: Any, test: Split, settings: Settings, layer: str | None = None
) -> dict[str, np.ndarray]:
    """The scores :func:`choose_targets` ranks by, from one pass of the test images: each
    sampled layer's units' mean activations and, with classes, the logits (with ``layer``,
    only that layer's). They do not depend on the seed, so both seeds' samples share them."""
    from featviz.models import probe

    table = probe.layer_table(model)
    layers = [name for name in settings["layers"] if layer in (None, name)]
    if settings["classes"] and layer in (None, table.logits) and table.logits not in layers:
        layers.append(table.logits)
    return probe.unit_scores_of(model, layers, test.images)


def choose_targets(
    model: Any,
    test: Split,
    settings: Settings,
    seed: int,
    layer: str | None = None,
    scores: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[Target], dict[tuple[str, int], np.ndarray]]:
    """Every class (if asked) and a sample (seeded by ``seed``) of each layer's live units,
    maximized and minimized; and each one's score on every test image (a unit's mean
    activation, a class's logit), which ranks its natural exemplars and queries.

    A unit is live as :func:`featviz.units.live_units` says. With ``layer``, only that
    layer's targets, as they are in the whole list (each layer is sampled on its own).
    ``scores``: :func:`ranking_scores` of the same layers, where the caller has them.
    """
    from featviz.engine import for_units
    from featviz.models import probe

    table = probe.layer_table(model)
    if scores is None:
        scores = ranking_scores(model, test, settings, layer)
    targets = []
    unit_acts = {}
    if settings["classes"] and layer in (None, table.logits):
        indices, objectives = for_units(table, table.logits, None, test.class_names)
        targets += [
            Target("class", table.logits, i, o) for i, o in zip(indices, objectives, strict=True)
        ]
        targets += [
            Target("min", table.logits, i, -o) for i, o in zip(indices, objectives, strict=True)
        ]
        logits = scores[table.logits]
        unit_acts = {(table.logits, i): logits[:, i] for i in indices}
    for name in settings["layers"]:
        if layer not in (None, name):
            continue
        means = scores[name]
        for i in sample_units(live_units(means), settings["units_per_layer"], seed):
            _, (objective,) = for_units(table, name, [i])
            unit_acts[(name, i)] = means[:, i]
            targets += [Target("max", name, i, objective), Target("min", name, i, -objective)]
    if not targets and layer is None:
        raise ValueError("The ablation has nothing to render: no class and no live unit.")
    return targets, unit_acts


def render_groups(recipes: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """The settings that share a parameterization (:data:`PARAMETERIZATION_KEYS`), by the
    name of the first: each group renders as one compiled batch, its settings as variants.

    Names are sorted, within a group and across groups: the plan reads the settings in the
    config's order and a job in the key-sorted order its JSON arrives in, and both must name
    (and batch) the same shards.
    """
    groups: dict[tuple, list[str]] = {}
    for name in sorted(recipes):
        groups.setdefault(tuple(recipes[name][k] for k in PARAMETERIZATION_KEYS), []).append(name)
    return {members[0]: members for members in sorted(groups.values())}


@dataclass(frozen=True)
class Shard:
    """One render call of the ablation, or a part of one: the targets one seed chose in one
    layer, under one group of settings (:func:`render_groups`); of its batches, the run
    ``part`` of ``parts`` (``shard_batches`` batches each). Its key names it in file names."""

    seed: int
    group: str
    layer: str
    part: int = 0
    parts: int = 1

    @property
    def key(self) -> str:
        whole = f"{self.seed}-{self.group}-{self.layer}"
        return whole if self.parts == 1 else f"{whole}-part{self.part + 1}of{self.parts}"

    def batches(self, settings: Settings) -> slice | None:
        """The render call's batches this part renders (None: every batch)."""
        if self.parts == 1:
            return None
        per = settings["shard_batches"]
        return slice(self.part * per, (self.part + 1) * per)


def most_targets(settings: Settings, table: LayerTable, layer: str) -> int | None:
    """The most targets a seed can choose in ``layer`` (the live units it samples are fewer
    where fewer are live), or None where the table does not know the layer's width."""
    width = table.get(layer).units
    if width is None:
        return None
    classes = 2 * width if settings["classes"] and layer == table.logits else 0
    units = 2 * min(settings["units_per_layer"], width) if layer in settings["layers"] else 0
    return classes + units


def plan_shards(settings: Settings, channels: int | None, table: LayerTable) -> list[Shard]:
    """Every render call of the study, in the order it runs them: per seed (the confirming
    one second), per group, per layer (the classes' under the logits layer); with
    ``shard_batches``, each call in parts of that many batches, as many as its most targets
    (:func:`most_targets`) can fill. A part whose batches the live units leave empty renders
    nothing."""
    seeds = [settings["seed"], *([settings["seed"] + 1] if settings["confirm"] else [])]
    layers = layers_and_classes(settings["layers"], settings["classes"], table)
    groups = render_groups(named_recipes(settings, channels))
    per = settings["shard_batches"]

    def parts(group: str, layer: str) -> int:
        most = None if per is None else most_targets(settings, table, layer)
        if most is None:
            return 1
        images = most * len(groups[group]) * settings["references"]
        return max(1, -(-images // (per * settings["batch_size"])))

    return [
        Shard(seed, group, layer, part, n)
        for seed in seeds
        for group in groups
        for layer in layers
        for n in [parts(group, layer)]
        for part in range(n)
    ]


def render_shard(
    model: Any,
    targets: Sequence[Target],
    recipes: Sequence[Mapping[str, Any]],
    resources: Any,
    settings: Settings,
    seed: int,
    batches: slice | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``targets`` (one layer's) under ``recipes`` (one group's), ``references`` times each,
    as one render call: the recipes are variants of one batch. With ``batches``, only those
    batches of the call (a shard's part), each as the whole call renders it.

    Returns:
        ``images (V, T, R, H, W, C)``, final ``values (V, T, R)`` and ``rendered (V, T, R)``,
        V the recipes: which images these batches rendered (the rest are zero).
    """
    from featviz.engine import Variant, recipe, render
    from featviz.engine.render import batch_rows

    shape = recipe.input_shape(model)
    restarts = settings["references"]
    images = np.zeros((len(recipes), len(targets), restarts, *shape), dtype=np.float32)
    values = np.zeros((len(recipes), len(targets), restarts), dtype=np.float32)
    rendered = np.zeros((len(recipes), len(targets), restarts), dtype=bool)
    # the call's images, per target, per recipe, per restart
    slots = [
        (v, t, k) for t in range(len(targets)) for v in range(len(recipes)) for k in range(restarts)
    ]
    chosen = batch_rows(len(slots), settings["batch_size"], batches)
    if not chosen:  # no targets, or a part beyond the live units' batches
        return images, values, rendered
    cooked = [recipe.build(r, shape, resources) for r in recipes]
    result = render(
        model,
        [targets[t].objective for _, t, _ in slots],
        param=cooked[0].param,
        start=cooked[0].start,
        relu_gradient=cooked[0].relu_gradient,
        variants=[Variant(c.transforms, tuple(c.regularizers)) for c in cooked],
        variant_of=[v for v, _, _ in slots],
        learning_rate=settings["learning_rate"],
        seed=seed,
        precision=settings["precision"],
        batch_size=settings["batch_size"],
        batches=batches,
        **budget(settings),
    )
    for j, image, value in zip(chosen, result.images, result.values, strict=True):
        images[slots[j]], values[slots[j]], rendered[slots[j]] = image, value, True
    return images, values, rendered


def shard_targets(
    targets: Sequence[Target], settings: Sequence[str], shard: Shard
) -> dict[str, np.ndarray]:
    """What a shard's archive says of its targets, settings and part, to check it against
    the job's."""
    return {
        "settings": np.array(settings, dtype=str),
        "kinds": np.array([t.kind for t in targets], dtype=str),
        "indices": np.array([t.index for t in targets], dtype=np.int64),
        "part": np.array([shard.part, shard.parts], dtype=np.int64),
    }


#: What a shard's archive holds (in the message of a file that is not one).
SHARD_ARCHIVE = (
    "an ablation shard's archive (images, values, rendered, settings, kinds, indices, part)"
)


def render_settings(
    model: Any,
    targets: Sequence[Target],
    recipes: Mapping[str, Mapping[str, Any]],
    resources: Any,
    settings: Settings,
    seed: int,
    done: Mapping[str, Path] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every target under every recipe, ``references`` times: one :func:`render_shard` per
    group and layer, or its archive where ``done`` has it (a shard run as its own job).

    Returns:
        ``images (S, T, R, H, W, C)`` and final ``values (S, T, R)``.

    Raises:
        ValueError: a shard's archive holds other targets than this job chose.
    """
    from featviz.engine import recipe
    from featviz.models import probe

    shape = recipe.input_shape(model)
    names, restarts = list(recipes), settings["references"]
    images = np.zeros((len(names), len(targets), restarts, *shape), dtype=np.float32)
    values = np.zeros((len(names), len(targets), restarts), dtype=np.float32)
    groups = render_groups(recipes)
    shards = [
        s for s in plan_shards(settings, shape[-1], probe.layer_table(model)) if s.seed == seed
    ]
    exemplars = any(r["start"] == "exemplars" and recipe.needs_images(r) for r in recipes.values())
    if exemplars and any(not done or s.key not in done for s in shards):
        # The exemplar starts' scores of every target, from one pass of the pool through the
        # model; each layer's shards then weigh what it kept (a pass per layer read the first
        # layers again for each deeper one). Other starts never score the pool.
        from featviz.engine.render import pool_scores

        pool_scores(model, [target.objective for target in targets], resources.images)
    rendered = np.zeros(values.shape, dtype=bool)
    for shard in shards:
        where = [t for t, target in enumerate(targets) if target.layer == shard.layer]
        members = groups[shard.group]
        if done and shard.key in done:
            arrays = read_npz(done[shard.key], SHARD_ARCHIVE)
            expected = shard_targets([targets[t] for t in where], members, shard)
            if not {"images", "values", "rendered", *expected} <= set(arrays) or any(
                not np.array_equal(arrays[k], v) for k, v in expected.items()
            ):
                raise ValueError(
                    f"{done[shard.key]}: shard {shard.key} rendered other targets or settings "
                    "than this job's (made with other settings or another model?); rerun it."
                )
            part = arrays["images"], arrays["values"], arrays["rendered"]
        else:
            part = render_shard(
                model,
                [targets[t] for t in where],
                [recipes[m] for m in members],
                resources,
                settings,
                seed,
                shard.batches(settings),
            )
        for v, member in enumerate(members):
            s, mine = names.index(member), part[2][v]
            images[s, where] = np.where(_along(mine, part[0][v]), part[0][v], images[s, where])
            values[s, where] = np.where(mine, part[1][v], values[s, where])
            rendered[s, where] |= mine
    if not rendered.all():  # a shard's parts that left images unrendered: a planning bug
        raise AssertionError(f"{(~rendered).sum()} images of seed {seed} were not rendered.")
    return images, values


def _along(mask: np.ndarray, images: np.ndarray) -> np.ndarray:
    """``mask`` (per image) broadcast over the images' pixels."""
    return mask.reshape(mask.shape + (1,) * (images.ndim - mask.ndim))


def _outputs(net: Any, x: np.ndarray, layer: str) -> np.ndarray:
    """``layer``'s outputs for the images ``x``, in batches."""
    from featviz.models import probe

    return probe.activations(net, x, [layer], batch_size=256)[layer]


def _pooled(acts: np.ndarray) -> np.ndarray:
    """A layer's outputs averaged over positions (the second embedding)."""
    return acts.mean(axis=tuple(range(1, acts.ndim - 1))) if acts.ndim > 2 else acts


@dataclass(frozen=True)
class Natural:
    """What rendered images are measured against: the test images seen by the model and
    the judge. It does not depend on the sample's seed, so both seeds' measures share one
    pass (at the paper's size, the judge's pass over every test image is most of it)."""

    real: np.ndarray  # the test images that plausibility compares with
    real_emb: np.ndarray  # the model's embedding of them
    class_means: np.ndarray  # each class's mean test image
    first: np.ndarray  # the judge's embedding of every test image
    second: np.ndarray | None  # its last conv layer, pooled (None without one)
    embeddings: dict[str, str | None]  # the judge layers of the two embeddings


def natural_outputs(model: Any, judge: Any, test: Split, settings: Settings) -> Natural:
    """The test images' side of every measure, computed once per job."""
    from featviz.models import probe

    judged = probe.layer_table(judge)
    real = np.random.default_rng(settings["seed"]).choice(
        len(test.images), min(PLAUSIBILITY_IMAGES, len(test.images)), replace=False
    )
    # the measure checked in a second embedding: the judge's last conv layer, pooled
    first = judged.embedding_layer()
    second = judged.conv_layers()[-1] if judged.conv_layers() else None
    seen = probe.activations(judge, test.images, [first, *([second] if second else [])], 256)
    return Natural(
        real=real,
        real_emb=_outputs(model, test.images[real], probe.layer_table(model).embedding_layer()),
        class_means=metrics.class_means(test.images, test.labels, len(test.class_names)),
        first=seen[first],
        second=None if second is None else _pooled(seen[second]),
        embeddings={"first": first, "second": second},
    )


def measure(
    model: Any,
    judge: Any,
    test: Split,
    natural: Natural,
    targets: Sequence[Target],
    unit_acts: Mapping[tuple[str, int], np.ndarray],
    images: np.ndarray,
    values: np.ndarray,
    settings: Settings,
) -> Scores:
    """Every measure of every image, and each setting's means and spreads."""
    from featviz.models import probe

    names = list(named_recipes(settings, images.shape[-1]))
    restarts = images.shape[2]
    flat = images.reshape(-1, *images.shape[3:])
    grid = values.shape
    hf = metrics.high_frequency_share(flat).reshape(grid)

    table = probe.layer_table(model)
    model_emb = _outputs(model, flat, table.embedding_layer()).reshape(*grid, -1)
    real, means = natural.real, natural.class_means
    # what the judge makes of the rendered images, every layer the measures read in one pass
    embedding, second = natural.embeddings["first"], natural.embeddings["second"]
    logits = probe.layer_table(judge).logits
    judge_layers = [logits, embedding, *([second] if second is not None else [])]
    judged = probe.activations(judge, flat, judge_layers, batch_size=256)
    judge_logits = judged[logits].reshape(*grid, -1)
    judge_images = judged[embedding].reshape(*grid, -1)
    if second is not None:
        second_images = _pooled(judged[second]).reshape(*grid, -1)
    afc_second = np.full((len(names), len(targets)), np.nan)

    maximized = [t for t, target in enumerate(targets) if target.kind != "min"]
    minimized = [
        next(
            u
            for u, o in enumerate(targets)
            if o.kind == "min" and (o.layer, o.index) == (targets[t].layer, targets[t].index)
        )
        for t in maximized
    ]
    acts = np.stack([unit_acts[(targets[t].layer, targets[t].index)] for t in maximized], axis=1)
    afc = np.full((len(names), len(targets)), np.nan)
    ceiling = np.full(len(targets), np.nan)
    diversity = np.full((len(names), len(targets)), np.nan)
    for s, _ in enumerate(names):
        first = score_units(
            natural.first,
            acts,
            judge_images[s, maximized],
            judge_images[s, minimized],
            images[s, maximized],
            settings["references"],
            settings["queries"],
        )
        afc[s, maximized], diversity[s, maximized] = first.two_afc, first.diversity
        ceiling[maximized] = first.ceiling
        if second is not None:
            afc_second[s, maximized] = two_afc_per_unit(
                natural.second,
                acts,
                second_images[s, maximized],
                second_images[s, minimized],
                settings["references"],
                settings["queries"],
            )[:, 0]

    rows, per_image = [], []
    for s, name in enumerate(names):
        found: dict[str, list[float]] = {k: [] for k in ("transfer", "ssim", "plaus", "logit")}
        for t, target in enumerate(targets):
            record = {
                "setting": name,
                "kind": target.kind,
                "layer": target.layer,
                "index": target.index,
            }
            if target.kind == "class":
                c = [target.index] * restarts
                measured = {
                    "transferability": metrics.transferability(judge_logits[s, t], c),
                    "class_ssim": metrics.class_similarity(images[s, t], c, means),
                    "plausibility": metrics.plausibility(
                        model_emb[s, t], c, natural.real_emb, test.labels[real]
                    ),
                }
                found["transfer"] += list(measured["transferability"])
                found["ssim"] += list(measured["class_ssim"])
                found["plaus"] += list(measured["plausibility"])
                found["logit"] += list(values[s, t])
            for k in range(restarts):
                extra = (
                    {key: float(v[k]) for key, v in measured.items()}
                    if target.kind == "class"
                    else {}
                )
                if target.kind != "min":
                    extra = {"two_afc": float(afc[s, t]), "natural_two_afc": float(ceiling[t])}
                per_image.append(
                    {
                        **record,
                        "restart": k,
                        "objective": float(values[s, t, k]),
                        "hf_share": float(hf[s, t, k]),
                        **extra,
                    }
                )
        row = {
            "setting": name,
            "transfer": metrics.mean_and_spread(found["transfer"]),
            "class_ssim": metrics.mean_and_spread(found["ssim"]),
            "plausibility": metrics.mean_and_spread(found["plaus"]),
            "two_afc": metrics.mean_and_spread(afc[s, maximized]),
            "hf_share": metrics.mean_and_spread(hf[s, maximized].ravel()),
            "diversity": metrics.mean_and_spread(diversity[s, maximized]),
            "logit": metrics.mean_and_spread(found["logit"]),
        }
        row["score"] = row["two_afc"][0]
        rows.append(row)
    return Scores(
        rows,
        per_image,
        hf,
        metrics.mean_and_spread(ceiling[maximized]),
        afc,
        ceiling,
        afc_second,
        natural.embeddings,
    )


def write_summary_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """One row per setting: the score, then each measure's mean and standard deviation."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        header = [f"{key}_{part}" for key, _ in COLUMNS[1:] for part in ("mean", "std")]
        writer.writerow(["setting", "score", *header])
        for r in rows:
            cells = [f"{v:.6g}" for key, _ in COLUMNS[1:] for v in r[key]]
            writer.writerow([r["setting"], f"{r['score']:.6g}", *cells])


SCORE_FIELDS = [
    "setting",
    "kind",
    "layer",
    "index",
    "restart",
    "objective",
    "hf_share",
    "transferability",
    "class_ssim",
    "plausibility",
    "two_afc",
    "natural_two_afc",
]


def write_scores_csv(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """One row per image: what it maximized, and each measure (classes have more)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SCORE_FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow({k: record.get(k, "") for k in SCORE_FIELDS})


class Ablation(Study):
    name = "ablation"
    resources = {"mem_mb": 6000, "runtime": 480}
    # The longest job: start it as soon as its models exist, beside the short ones.
    priority = 5
    category = "Ablation"
    sections = {"ablation": "Which recipe? Regularizers measured"}
    figures = {
        "figure": "{job}_classes.png",
        "units": "{job}_units.png",
        "ranking": "{job}_ranking.png",
    }
    files = {
        "summary": "{job}.csv",
        "scores": "{job}_scores.csv",
        "table": "{job}.md",
        "latex": "{job}.tex",
        "arrays": "{job}.npz",
        "recommended": "{job}_recommended.json",
    }

    shard_resources = {"mem_mb": 4000, "runtime": 120}
    # Whether the job splits into shards plans jobs only: the outputs are the same either way
    # (shard_batches too, but the job reads it to find its shards' parts).
    plan_keys = ("split",)

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return ["recipes"]

    def shards(
        self, settings: Settings, table: LayerTable, key: str, units: Sequence[int] | None = None
    ) -> list[str]:
        """One shard per seed, group of settings and layer, or per part of one
        (:func:`plan_shards`), if split."""
        if not settings["split"]:
            return []
        return [s.key for s in plan_shards(settings, table.input_shape[-1], table)]

    def shard_needs(self, settings: Settings) -> list[str]:
        return super().needs(settings)  # rendering needs no judge

    def run_shard(self, job: Job, settings: Settings, shard: str) -> dict[str, np.ndarray]:
        """Choose the shard's targets as the whole job does and render them."""
        from featviz.engine import recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        table = probe.layer_table(model)
        shape = recipe.input_shape(model)
        planned = {s.key: s for s in plan_shards(settings, shape[-1], table)}
        if shard not in planned:
            raise ValueError(
                f"--shard {shard}: not a shard of this job; its shards are {', '.join(planned)}."
            )
        part = planned[shard]
        test = load_test(job.require_data(self.name))
        recipes = named_recipes(settings, shape[-1])
        members = render_groups(recipes)[part.group]
        cooked = [recipes[m] for m in members]
        targets, _ = choose_targets(model, test, settings, part.seed, layer=part.layer)
        images, values, rendered = render_shard(
            model,
            targets,
            cooked,
            job.resources(cooked),
            settings,
            part.seed,
            part.batches(settings),
        )
        return {
            "images": images,
            "values": values,
            "rendered": rendered,
            **shard_targets(targets, members, part),
        }

    def recipes(self, settings: Settings) -> list[dict[str, Any]]:
        return list(named_recipes(settings).values())

    def needs(self, settings: Settings) -> list[str]:
        return ["judge", *super().needs(settings)]

    def check(self, settings: Settings, table: LayerTable) -> None:
        for layer in settings["layers"]:
            self.check_layer(table, layer)
        named_recipes(settings)  # combinations name known settings, one parameterization

    def run(self, job: Job, settings: Settings) -> Result:
        """Render every target under every setting, measure, rank; write tables and figures."""
        from featviz.engine import recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        judge = probe.load_model(job.extra("judge"))
        test = load_test(job.require_data(self.name))
        shape = recipe.input_shape(model)
        recipes = named_recipes(settings, shape[-1])
        resources = job.resources(list(recipes.values()))
        names = list(recipes)

        ranked_by = ranking_scores(model, test, settings)
        natural = natural_outputs(model, judge, test, settings)

        def sample(seed: int):
            targets, unit_acts = choose_targets(model, test, settings, seed, scores=ranked_by)
            images, values = render_settings(
                model, targets, recipes, resources, settings, seed, job.shards
            )
            scores = measure(
                model, judge, test, natural, targets, unit_acts, images, values, settings
            )
            chosen = choose(names, recipes, scores.two_afc, scores.ceiling, targets, seed)
            return targets, unit_acts, images, values, scores, chosen

        seed = settings["seed"]
        targets, unit_acts, images, values, scores, chosen = sample(seed)
        confirmed = sample(seed + 1)[-1] if settings["confirm"] else {}
        tau = ranking_agreement(scores.two_afc, scores.two_afc_second, targets)
        layers = [
            {
                **c.row(),
                "tau": tau.get(key),
                "confirm": confirmed[key].setting if key in confirmed else None,
                "agreement": agreement(c, confirmed[key]) if key in confirmed else None,
            }
            for key, c in chosen.items()
        ]
        ranked = sorted(
            scores.rows, key=lambda r: -r["score"] if np.isfinite(r["score"]) else np.inf
        )
        files = {key: job.path(name) for key, name in self.files.items()}
        write_npz(
            files["arrays"],
            settings=np.array(names),
            kinds=np.array([t.kind for t in targets]),
            layers=np.array([t.layer for t in targets]),
            indices=np.array([t.index for t in targets]),
            images=images,
            values=values,
            hf_share=scores.hf_share,
        )
        write_summary_csv(files["summary"], scores.rows)
        write_scores_csv(files["scores"], scores.per_image)
        restarts = settings["references"]
        run_length = (
            f"{restarts} starts per objective, {describe_steps(settings)} "
            f"(lr {settings['learning_rate']:g}, seed {seed})"
        )
        write_text(files["table"], markdown_table(ranked))
        write_text(
            files["latex"],
            latex_table(
                ranked, f"Recipes for {job.label}: mean ± standard deviation; {run_length}."
            ),
        )
        overall = chosen[EVERY_LAYER]
        winner = next(r for r in ranked if r["setting"] == overall.setting)
        write_json(
            files["recommended"],
            {
                "setting": overall.setting,
                "recipe": recipes[overall.setting],
                "score": winner["score"],
                "layers": {
                    layer: {"setting": c.setting, "recipe": recipes[c.setting]}
                    for layer, c in chosen.items()
                    if layer != EVERY_LAYER
                },
                "dataset": job.dataset,
                "model": job.model_name,
            },
        )
        described = {
            n: recipe.describe(recipe.build(recipes[n], shape, resources), settings["precision"])
            for n in names
        }
        figures = self.draw(
            job, targets, test, images, values, ranked, names, scores, run_length, described
        )
        numbers = {
            "rows": ranked,
            "layers": layers,
            "confirm_seed": seed + 1 if settings["confirm"] else None,
            "embeddings": scores.embeddings,
            "winner": overall.setting,
            "natural_two_afc": list(scores.natural),
            "baseline": "none" if "none" in recipes else None,
            "units": len(unit_acts),
            "classes": sum(t.kind == "class" for t in targets),
            "restarts": restarts,
            "steps": settings["steps"],
            "table": markdown_table(ranked),
        }
        return Result(
            stage=self.name,
            job=job.key,
            figures=figures,
            files=list(files.values()),
            numbers=numbers,
            seeds={
                "render_seed": seed,
                "sample_seed": seed,
                **({"confirm_seed": seed + 1} if settings["confirm"] else {}),
            },
        )

    def draw(
        self, job, targets, test, images, values, ranked, names, scores, run_length, described
    ) -> list[Figure]:
        """The class grid, the unit grid and the ranking plot, with their captions."""
        png = {key: job.path(name) for key, name in self.figures.items()}
        order = [names.index(r["setting"]) for r in ranked]
        classes = [t for t, target in enumerate(targets) if target.kind == "class"]
        units = [t for t, target in enumerate(targets) if target.kind == "max"]
        legend = "; ".join(f"{n}: {described[n]}" for n in names)
        plot_rows(
            images,
            values,
            order,
            names,
            classes,
            [test.class_names[targets[t].index] for t in classes],
            png["figure"],
        )
        plot_rows(
            images,
            values,
            order,
            names,
            units,
            [f"{targets[t].layer}:{targets[t].index}" for t in units],
            png["units"],
        )
        plot_ranking(scores.rows, scores.natural, png["ranking"])
        ranked_by = "ranked by score (rows, best first)"
        return [
            Figure(
                png["figure"],
                f"Every class of {job.label} (columns) under each setting, {ranked_by}: the "
                f"restart reaching the highest logit; {run_length}; grey (or RGB) scale fixed to "
                f"[0, 1]. Settings: {legend}."
                if classes
                else f"No class was rendered for {job.label}.",
                "ablation",
            ),
            Figure(
                png["units"],
                f"Sampled live units of {job.label} (columns) under each setting, {ranked_by}: "
                f"the maximizing image reaching the highest mean activation; {run_length}; grey "
                "(or RGB) scale fixed to [0, 1].",
                "ablation",
            ),
            Figure(
                png["ranking"],
                f"Each setting of {job.label} placed by its high-frequency share (energy above "
                f"{metrics.HF_RADIUS:g} cycles per pixel; lower is smoother) against its judge "
                "transferability (classes, left) and its machine two-alternative score (units, "
                "right), mean ± standard deviation; dashed: the natural-exemplar ceiling "
                f"({scores.natural[0]:.2f}) and chance (0.5).",
                "ablation",
            ),
        ]

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        """Per dataset and model: the settings' table, and per layer the setting chosen,
        what it is tied with, how far it is from the natural ceiling, and whether the
        confirmation seed agrees."""
        if not results:
            return None
        runs = []
        for r in results:
            n = r.numbers
            rows = {row["setting"]: row for row in n["rows"]}
            natural = n["natural_two_afc"]
            runs.append(
                {
                    "dataset": r.labels.get("dataset", ""),
                    "model": r.labels.get("model", ""),
                    "table": n["table"],
                    "winner": n["winner"],
                    "best": rows[n["winner"]],
                    "base": rows.get(n["baseline"]) if n["baseline"] else None,
                    "natural": natural,
                    "beat": [
                        row["setting"]
                        for row in n["rows"]
                        if np.isfinite(row["two_afc"][0]) and row["two_afc"][0] > natural[0]
                    ],
                    "units": n["units"],
                    "classes": n["classes"],
                    "restarts": n["restarts"],
                    "layers": n["layers"],
                    "confirm_seed": n["confirm_seed"],
                    "embeddings": n["embeddings"],
                }
            )
        return {"runs": runs, "every_layer": EVERY_LAYER}


def plot_rows(
    images: np.ndarray,
    values: np.ndarray,
    order: Sequence[int],
    names: Sequence[str],
    columns: Sequence[int],
    labels: Sequence[str],
    png: Path,
) -> list[Path]:
    """Rows: settings in ``order``; columns: targets; each cell the best restart's image."""
    rows, cols = len(order), max(len(columns), 1)
    cells = {
        (r, c): images[s, t, int(np.argmax(values[s, t]))]
        for r, s in enumerate(order)
        for c, t in enumerate(columns)
    }
    fig = image_table(
        cells,
        0.62 * cols + 1.2,
        0.66 * rows + 0.3,
        row_labels=[names[s] for s in order],
        column_titles=dict(enumerate(labels[: len(columns)])),
    )
    return save_figure(fig, png)


def plot_ranking(rows: Sequence[Mapping[str, Any]], natural: tuple[float, float], png: Path):
    """Settings by high-frequency share against transferability and the two-alternative score."""
    fig = new_figure(7.0, 3.0)
    axes = fig.subplots(1, 2)
    for ax, key, label in (
        (axes[0], "transfer", "transferability (classes)"),
        (axes[1], "two_afc", "machine 2-AFC score (units)"),
    ):
        for r in rows:
            y, dy = r[key]
            x, dx = r["hf_share"]
            if not np.isfinite(y):
                continue
            ax.errorbar(x, y, xerr=dx, yerr=dy, fmt="o", markersize=3, linewidth=0.6, capsize=1.5)
            ax.annotate(r["setting"], (x, y), fontsize=5, xytext=(2, 2), textcoords="offset points")
        if key == "two_afc":
            ax.axhline(
                natural[0], color="0.3", linestyle="--", linewidth=0.8, label="natural exemplars"
            )
            ax.axhline(0.5, color="0.6", linestyle=":", linewidth=0.8, label="chance")
            ax.legend(fontsize=6)
        ax.set_xlabel("high-frequency share")
        ax.set_ylabel(label)
    return save_figure(fig, png)


STUDY = Ablation()

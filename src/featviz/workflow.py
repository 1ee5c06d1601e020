"""The workflow's plan: which files the DAG makes for a validated configuration.

Snakemake's ``common.smk`` calls these helpers for targets and input
functions, so the logic that decides paths lives here, where it is tested.
Paths follow one layout::

    resources/<dataset>/<published file>           downloads
    results/<dataset>/data/dataset.npz             prepared arrays
    results/<dataset>/<model>/...                  model, history, metrics, curve
    results/<dataset>/<model>/<study>/<layer>.*    figures, arrays, tables
    report/report.md                               the report
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from featviz.data.catalog import resolve
from featviz.models.spec import Architecture

Config = Mapping[str, Any]


def dataset_spec(config: Config, dataset: str):
    return resolve(dataset, config["datasets"][dataset])


def dataset_entry_json(config: Config, dataset: str) -> str:
    """The dataset's config entry as compact JSON, for the CLI's ``--entry``."""
    return json.dumps(config["datasets"][dataset], sort_keys=True, separators=(",", ":"))


def raw_files(config: Config, dataset: str) -> list[str]:
    """Downloaded files a dataset needs (none for generated data)."""
    spec = dataset_spec(config, dataset)
    return [f"resources/{dataset}/{f.name}" for f in spec.files]


def generated_datasets(config: Config) -> list[str]:
    return [name for name in config["datasets"] if dataset_spec(config, name).is_synthetic]


def conv_layers(config: Config, model: str) -> list[str]:
    return Architecture.from_config(config["models"][model]).conv_layers()


def architecture_json(config: Config, model: str) -> str:
    return json.dumps(config["models"][model], sort_keys=True, separators=(",", ":"))


def model_dirs(config: Config) -> list[str]:
    return [f"results/{d}/{m}" for d in config["datasets"] for m in config["models"]]


def logits_layer(config: Config, model: str) -> str:
    return Architecture.from_config(config["models"][model]).logits_layer


def filter_layers(config: Config, model: str) -> list[str]:
    """Layers with a filters grid: the units asked for, then the logits if classes are."""
    layers = list(config["filters"]["units"])
    if config["filters"]["classes"]:
        layers.append(logits_layer(config, model))
    return list(dict.fromkeys(layers))


def filter_indices(config: Config, layer: str) -> str:
    """The CLI's ``--indices`` for a layer of the filters study: 'all' or '0,1,2'."""
    chosen = config["filters"]["units"].get(layer, "all")
    return chosen if chosen == "all" else ",".join(str(i) for i in chosen)


def convergence_layers(config: Config, model: str) -> list[str]:
    layers = list(config["convergence"]["layers"])
    if config["convergence"]["classes"]:
        layers.append(logits_layer(config, model))
    return list(dict.fromkeys(layers))


def joint_combos(config: Config) -> list[str]:
    """``<layer>-<a>-<b>[-<c>]`` for every pair and triple of the joint study."""
    section = config["joint"]
    return [
        f"{section['layer']}-" + "-".join(map(str, c))
        for c in [*section["pairs"], *section["triples"]]
    ]


def _per_model(config: Config, make) -> list[str]:
    return [path for d in config["datasets"] for m in config["models"] for path in make(d, m)]


def report_figures(config: Config) -> list[str]:
    """Every figure of the report, in the seed's order.

    Training; feature maps (seed figures 1-3); convergence (4); joint maximization (5-6);
    filters, conv1 first (7-8); classes (9-10); then what the seed did not show:
    random directions.
    """
    base = "results/{d}/{m}"
    figures = _per_model(config, lambda d, m: [f"results/{d}/{m}/training_curve.png"])
    figures += _per_model(
        config,
        lambda d, m: [
            f"{base.format(d=d, m=m)}/activations/{layer}.png" for layer in conv_layers(config, m)
        ],
    )
    figures += _per_model(
        config,
        lambda d, m: [
            f"{base.format(d=d, m=m)}/convergence/{layer}.png"
            for layer in convergence_layers(config, m)
        ],
    )
    figures += _per_model(
        config,
        lambda d, m: [
            f"{base.format(d=d, m=m)}/joint/{combo}{suffix}.png"
            for combo in joint_combos(config)
            for suffix in ("", "_tradeoff")
        ],
    )
    figures += _per_model(
        config,
        lambda d, m: [
            f"{base.format(d=d, m=m)}/filters/{layer}.png"
            for layer in filter_layers(config, m)
            if layer != logits_layer(config, m)
        ],
    )
    if config["filters"]["classes"]:
        figures += _per_model(
            config, lambda d, m: [f"{base.format(d=d, m=m)}/filters/{logits_layer(config, m)}.png"]
        )
    figures += _per_model(
        config,
        lambda d, m: [
            f"{base.format(d=d, m=m)}/directions/{layer}.png"
            for layer in config["directions"]["layers"]
        ],
    )
    return figures


def convergence_tables(config: Config) -> list[str]:
    return _per_model(
        config,
        lambda d, m: [
            f"results/{d}/{m}/convergence/{layer}.csv" for layer in convergence_layers(config, m)
        ],
    )


def metrics_files(config: Config) -> list[str]:
    return [f"{m}/metrics.json" for m in model_dirs(config)]


RECIPE_KEYS = ("parameterization", "decorrelate", "fourier_decay", "transforms", "regularizers")


def render_recipe_json(section: Mapping[str, Any]) -> str:
    """The render recipe of a study's config section, as JSON for the CLI's ``--recipe``."""
    recipe = {k: section[k] for k in RECIPE_KEYS if k in section}
    return json.dumps(recipe, sort_keys=True, separators=(",", ":"))

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


def _with_classes(config: Config, section: str, layers, model: str) -> list[str]:
    """``layers``, then the model's logits layer if the study's ``classes`` is on, deduplicated."""
    layers = list(layers)
    if config[section]["classes"]:
        layers.append(logits_layer(config, model))
    return list(dict.fromkeys(layers))


def filter_layers(config: Config, model: str) -> list[str]:
    """Layers with a filters grid: the units asked for, then the logits if classes are."""
    return _with_classes(config, "filters", config["filters"]["units"], model)


def filter_indices(config: Config, layer: str) -> str:
    """The CLI's ``--indices`` for a layer of the filters study: 'all' or '0,1,2'."""
    chosen = config["filters"]["units"].get(layer, "all")
    return chosen if chosen == "all" else ",".join(str(i) for i in chosen)


def convergence_layers(config: Config, model: str) -> list[str]:
    return _with_classes(config, "convergence", config["convergence"]["layers"], model)


def joint_combos(config: Config) -> list[str]:
    """``<layer>-<a>-<b>[-<c>]`` for every pair and triple of the joint study."""
    section = config["joint"]
    return [
        f"{section['layer']}-" + "-".join(map(str, c))
        for c in [*section["pairs"], *section["triples"]]
    ]


def _per_model(config: Config, study: str, names, suffix: str = ".png") -> list[str]:
    """``results/<dataset>/<model>/<study>/<name><suffix>`` for each name in ``names(model)``."""
    return [
        f"results/{d}/{m}/{study}/{name}{suffix}"
        for d in config["datasets"]
        for m in config["models"]
        for name in names(m)
    ]


def report_figures(config: Config) -> list[str]:
    """Every figure of the report, in the seed's order.

    Training; feature maps (seed figures 1-3); convergence (4); joint maximization (5-6);
    filters, conv1 first (7-8); classes (9-10); then what the seed did not show:
    random directions.
    """
    figures = [f"{m}/training_curve.png" for m in model_dirs(config)]
    figures += _per_model(config, "activations", lambda m: conv_layers(config, m))
    figures += _per_model(config, "convergence", lambda m: convergence_layers(config, m))
    figures += _per_model(
        config, "joint", lambda m: [c + s for c in joint_combos(config) for s in ("", "_tradeoff")]
    )
    figures += _per_model(
        config,
        "filters",
        lambda m: [la for la in filter_layers(config, m) if la != logits_layer(config, m)],
    )
    if config["filters"]["classes"]:
        figures += _per_model(config, "filters", lambda m: [logits_layer(config, m)])
    figures += _per_model(config, "directions", lambda m: config["directions"]["layers"])
    return figures


def convergence_tables(config: Config) -> list[str]:
    return _per_model(config, "convergence", lambda m: convergence_layers(config, m), ".csv")


def metrics_files(config: Config) -> list[str]:
    return [f"{m}/metrics.json" for m in model_dirs(config)]


RECIPE_KEYS = ("parameterization", "decorrelate", "fourier_decay", "transforms", "regularizers")


def render_recipe_json(section: Mapping[str, Any]) -> str:
    """The render recipe of a study's config section, as JSON for the CLI's ``--recipe``."""
    recipe = {k: section[k] for k in RECIPE_KEYS if k in section}
    return json.dumps(recipe, sort_keys=True, separators=(",", ":"))

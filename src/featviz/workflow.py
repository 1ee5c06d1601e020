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


def report_figures(config: Config) -> list[str]:
    """Every figure of the report, in reading order: training, feature maps, filters."""
    figures = [f"{m}/training_curve.png" for m in model_dirs(config)]
    for d in config["datasets"]:
        for m in config["models"]:
            figures += [
                f"results/{d}/{m}/activations/{layer}.png" for layer in conv_layers(config, m)
            ]
    for d in config["datasets"]:
        for m in config["models"]:
            figures += [
                f"results/{d}/{m}/filters/{layer}.png" for layer in config["filters"]["layers"]
            ]
    return figures


def metrics_files(config: Config) -> list[str]:
    return [f"{m}/metrics.json" for m in model_dirs(config)]


RECIPE_KEYS = ("parameterization", "decorrelate", "fourier_decay", "transforms", "regularizers")


def render_recipe_json(section: Mapping[str, Any]) -> str:
    """The render recipe of a study's config section, as JSON for the CLI's ``--recipe``."""
    recipe = {k: section[k] for k in RECIPE_KEYS if k in section}
    return json.dumps(recipe, sort_keys=True, separators=(",", ":"))

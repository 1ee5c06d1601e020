"""The workflow's plan: which files the DAG makes for a validated configuration.

Snakemake's ``common.smk`` calls these helpers for targets, rule outputs and
input functions, so the logic that decides paths lives here, where it is
tested. Paths follow one layout::

    resources/<dataset>/<published file>            downloads
    results/<dataset>/data/dataset.npz              prepared arrays
    results/<dataset>/<model>/model.keras ...       trained (or imported) model, metrics
    results/<dataset>/<model>/<study>/<job>.*       figures, captions, arrays, tables, manifest
    report/report.md                                the report
    results/atlas/index.html                        the atlas: a page per unit

A study's outputs and jobs come from its declaration (:mod:`featviz.studies.base`);
nothing here names a particular study. Importing this module does not import
Keras: a model's layers come from its architecture or its file's config.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from featviz import studies
from featviz.data.catalog import DatasetSpec, resolve
from featviz.models.layers import LayerTable
from featviz.models.spec import Architecture
from featviz.results import MANIFEST_SUFFIX
from featviz.settings import compact_json, validate_section

Config = Mapping[str, Any]
MODEL_DIR = "results/{dataset}/{model}"
#: The prepared arrays of a dataset (the prepare rule's output, every model's input).
DATA = "results/{dataset}/data/dataset.npz"


# --- datasets ------------------------------------------------------------------------------------


def dataset_spec(config: Config, dataset: str) -> DatasetSpec:
    return resolve(dataset, config["datasets"][dataset])


def dataset_entry_json(config: Config, dataset: str) -> str:
    """The dataset's config entry as compact JSON, for the CLI's ``--entry``."""
    return compact_json(config["datasets"][dataset])


def raw_files(config: Config, dataset: str) -> list[str]:
    """Downloaded files a dataset needs (none for generated data)."""
    return [f"resources/{dataset}/{f.name}" for f in dataset_spec(config, dataset).files]


def generated_datasets(config: Config) -> list[str]:
    return [name for name in config["datasets"] if dataset_spec(config, name).is_synthetic]


# --- models --------------------------------------------------------------------------------------


def is_file_model(config: Config, model: str) -> bool:
    """Whether ``models.<model>`` names a ``.keras`` file rather than an architecture."""
    return "path" in config["models"][model]


def trained_models(config: Config) -> list[str]:
    return [m for m in config["models"] if not is_file_model(config, m)]


def file_models(config: Config) -> list[str]:
    return [m for m in config["models"] if is_file_model(config, m)]


def _file_table(path: str) -> LayerTable:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{path}: no such model file.")
    return _read_table(str(file.resolve()), file.stat().st_mtime_ns)


@functools.cache
def _read_table(path: str, mtime_ns: int) -> LayerTable:
    """The file's table, read once per version of the file (the DAG asks many times); a model
    whose output is squashed (softmax) is refused."""
    table = LayerTable.from_keras_file(path)
    table.check_logits()
    return table


def layer_table(config: Config, dataset: str, model: str) -> LayerTable:
    """The layers of ``model`` as trained (or given) for ``dataset``.

    Raises:
        ValueError: a model file that is missing or is not a Keras model, naming the entry.
    """
    entry = config["models"][model]
    if "path" in entry:
        try:
            return _file_table(entry["path"])
        except (OSError, ValueError) as err:
            raise ValueError(f"models.{model}.path: {err}") from None
    spec = dataset_spec(config, dataset)
    return LayerTable.from_architecture(
        Architecture.from_config(architecture_fields(entry), f"models.{model}"),
        spec.image_shape,
        len(spec.class_names),
    )


def architecture_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``models.<name>`` entry of an architecture without its per-model ``settings``:
    what the architecture is built from."""
    return {k: v for k, v in entry.items() if k != "settings"}


def model_datasets(config: Config, model: str) -> list[str]:
    """The datasets ``model`` runs on: every one for an architecture; for a model file, those
    it lists, or else every dataset whose image shape is the model's input.

    Raises:
        ValueError: a listed dataset that is unknown or whose images the model cannot take.
    """
    datasets = list(config["datasets"])
    entry = config["models"][model]
    if "path" not in entry:
        return datasets
    table = layer_table(config, datasets[0], model)
    shape, classes = table.input_shape, table.get(table.logits).units

    def misfit(dataset: str) -> str | None:
        spec = dataset_spec(config, dataset)
        if spec.image_shape != shape:
            return (
                f"'{dataset}' holds images of shape {spec.image_shape}, but the model takes {shape}"
            )
        if classes is not None and len(spec.class_names) != classes:
            return f"'{dataset}' has {len(spec.class_names)} classes, but the model gives {classes}"
        return None

    if "datasets" not in entry:
        fits = [d for d in datasets if misfit(d) is None]
        if not fits:
            raise ValueError(
                f"models.{model}: no dataset fits the model ({'; '.join(map(misfit, datasets))})."
            )
        return fits
    for d in entry["datasets"]:
        if d not in datasets:
            raise ValueError(
                f"models.{model}.datasets: unknown dataset '{d}'. Datasets: {', '.join(datasets)}."
            )
        if (why := misfit(d)) is not None:
            raise ValueError(f"models.{model}.datasets: {why}.")
    return list(entry["datasets"])


def pairs(config: Config) -> list[tuple[str, str]]:
    """Every (dataset, model) the workflow trains or imports and then studies."""
    runs = {m: model_datasets(config, m) for m in config["models"]}
    return [(d, m) for d in config["datasets"] for m in config["models"] if d in runs[m]]


def model_dirs(config: Config, trained: bool | None = None) -> list[str]:
    """``results/<dataset>/<model>`` of every pair (only trained or only imported ones if asked)."""
    return [
        MODEL_DIR.format(dataset=d, model=m)
        for d, m in pairs(config)
        if trained is None or trained != is_file_model(config, m)
    ]


def architecture_json(config: Config, model: str) -> str:
    """What ``featviz train`` builds for ``model`` (the judge and retrained variants too)."""
    if model == JUDGE:
        return compact_json(config["judge"]["architecture"])
    if model in config["models"]:
        return compact_json(architecture_fields(config["models"][model]))
    return compact_json(retrained_models(config)[model][0])


def train_settings_json(config: Config, model: str) -> str:
    """The train section for ``model``: the judge and retrained variants with their seeds."""
    settings = dict(config["train"])
    if model == JUDGE:
        settings["seed"] = config["judge"]["seed"]
    elif model not in config["models"]:
        settings["seed"] = retrained_models(config)[model][1]
    return compact_json(settings)


def study_trains(
    config: Config, name: str, model: str
) -> dict[str, tuple[str, dict[str, Any] | None, int]]:
    """What study ``name`` has retrained for ``model`` (see :meth:`Study.trains`)."""
    study = studies.get(name)
    return study.trains(
        section(config, name, model), model, config["models"][model], config["train"]["seed"]
    )


def retrained_models(config: Config) -> dict[str, tuple[dict[str, Any], int]]:
    """Every model the studies have the train rule train besides the studied ones:
    name -> (architecture, seed)."""
    found = {}
    for model in config["models"]:
        for study in studies.REGISTRY:
            for name, architecture, seed in study_trains(config, study, model).values():
                if architecture is not None:
                    found[name] = (architecture, seed)
    return found


def model_file_json(config: Config, model: str) -> str:
    """What ``featviz import-model`` reads of a model file's entry: its path and checksum."""
    entry = config["models"][model]
    return compact_json({"path": entry["path"], "sha256": entry["sha256"]})


def section_json(config: Config, section: str) -> str:
    return compact_json(config[section])


# --- models the studies read: the judge and the learned prior ------------------------------------

JUDGE = "judge"

#: Inputs a study job may read besides its model and data, by name (wildcard patterns).
EXTRA_INPUTS = {
    "judge": f"{MODEL_DIR.format(dataset='{dataset}', model=JUDGE)}/model.keras",
    "prior": "results/{dataset}/prior/decoder.keras",
}


def extra_needs(config: Config) -> set[str]:
    """The extra inputs any study reads for any model (``judge``, ``prior``)."""
    return {
        need
        for dataset, model in pairs(config)
        for study in studies.every()
        for need in study.needs(section(config, study.name, model))
    }


def judge_dirs(config: Config) -> list[str]:
    if JUDGE not in extra_needs(config):
        return []
    return [MODEL_DIR.format(dataset=d, model=JUDGE) for d in config["datasets"]]


def prior_dirs(config: Config) -> list[str]:
    if "prior" not in extra_needs(config):
        return []
    return [f"results/{d}/prior" for d in config["datasets"]]


def metrics_files(config: Config) -> list[str]:
    return [f"{d}/metrics.json" for d in [*model_dirs(config), *judge_dirs(config)]]


def training_manifests(config: Config) -> list[str]:
    """Manifests of every training: the studied models, the judges, the priors."""
    trained = [*model_dirs(config, trained=True), *judge_dirs(config)]
    return [f"{d}/training{MANIFEST_SUFFIX}" for d in trained] + [
        f"{d}/prior{MANIFEST_SUFFIX}" for d in prior_dirs(config)
    ]


# --- studies -------------------------------------------------------------------------------------


def code(command: str, study: str | None = None) -> str:
    """A rule's ``code`` parameter: the digest of the featviz code its command runs, so that
    Snakemake's parameter trigger reruns the rule's jobs when that code changes."""
    from featviz.code_version import command_module, version

    module = command_module(command, study)
    if module is None:
        raise ValueError(f"No featviz module is known for the command '{command}'.")
    return version(module)


def with_records(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's outputs, each with its provenance record beside it as an output too (a
    caption file has none: its text is in its figure's record).

    Declared, the records are Snakemake's to track: a job that fails or is killed loses
    them with its other outputs, and a rule that reads them can name them.
    """
    from featviz.provenance import sidecar_path
    from featviz.results import CAPTION_SUFFIX

    out = dict(outputs)
    for key, path in outputs.items():
        if not str(path).endswith(CAPTION_SUFFIX):
            out[f"{key}_record"] = str(sidecar_path(str(path)))
    return out


def study_dir(name: str) -> str:
    """The folder of study ``name`` for one model, with wildcards: its jobs write there."""
    return f"{MODEL_DIR}/{name}"


def study_outputs(name: str) -> dict[str, str]:
    """The rule outputs of study ``name`` by output name, with ``{dataset}``, ``{model}``
    and ``{job}`` wildcards."""
    return {
        label: f"{study_dir(name)}/{file}"
        for label, file in studies.get(name).outputs("{job}").items()
    }


def shard_output(name: str) -> str:
    """The archive one shard of a job of study ``name`` writes, with wildcards."""
    from featviz.studies.base import SHARD

    return f"{study_dir(name)}/{SHARD.format(job='{job}', shard='{shard}')}"


def section(config: Config, name: str, model: str) -> dict[str, Any]:
    """Section ``name`` as it applies to ``model``: the config's, with the keys the model's
    entry gives under ``settings.<name>`` in their place (validated, defaults filled).

    Raises:
        ValueError: a model setting for a section that is not a study's, or a bad value.
    """
    overrides = config["models"][model].get("settings", {}) if model in config["models"] else {}
    unknown = sorted(set(overrides) - set(studies.REGISTRY))
    if unknown:
        raise ValueError(
            f"models.{model}.settings: '{unknown[0]}' is not a study. "
            f"Studies: {', '.join(studies.REGISTRY)}."
        )
    if name not in overrides:
        return dict(config[name])
    try:
        return validate_section(name, {**config[name], **overrides[name]})
    except ValueError as err:
        raise ValueError(f"models.{model}.settings: {err}") from None


def study_jobs(config: Config, name: str, dataset: str, model: str) -> list[str]:
    study = studies.get(name)
    if study.same_jobs_as is not None:
        return study_jobs(config, study.same_jobs_as, dataset, model)
    return study.jobs(section(config, name, model), layer_table(config, dataset, model))


def study_shards(config: Config, name: str, dataset: str, model: str, job: str) -> list[str]:
    """The shards job ``job`` of study ``name`` splits into (none: it runs whole)."""
    study, table = studies.get(name), layer_table(config, dataset, model)
    units = None
    if study.same_jobs_as is not None:  # the units are the jobs' owner's
        owner = studies.get(study.same_jobs_as)
        units = owner.units_of(section(config, owner.name, model), table, job)
    return study.shards(section(config, name, model), table, job, units)


def shard_inputs(config: Config, name: str, dataset: str, model: str, job: str) -> dict[str, str]:
    """The inputs of a shard of job ``job`` of study ``name``: the model, the data, and those
    of the job's inputs the study's shards read (:meth:`Study.shard_needs`)."""
    wanted = set(studies.get(name).shard_needs(section(config, name, model)))
    return {
        k: v
        for k, v in study_inputs(config, name, dataset, model, job).items()
        if k in ("model", "data") or k in wanted
    }


def job_settings_json(config: Config, name: str, model: str, job: str) -> str:
    """The slice of section ``name`` that ``job`` of ``model`` reads, as JSON for ``--settings``."""
    return compact_json(studies.get(name).job_settings(section(config, name, model), job))


def study_inputs(config: Config, name: str, dataset: str, model: str, job: str) -> dict[str, str]:
    """The inputs of job ``job`` of study ``name``: the model, the data, the extras it needs
    (judge, prior), and the outputs of other studies' jobs it reads."""
    study = studies.get(name)
    paths = {"model": f"{MODEL_DIR}/model.keras", "data": DATA}
    for need in study.needs(section(config, name, model)):
        paths[need] = EXTRA_INPUTS[need]
    for need, (other, output, *fixed) in study.reads.items():
        source = studies.get(other)
        paths[need] = f"{study_dir(other)}/{source.outputs(*fixed or [job])[output]}"
        # What the other study's jobs needed to render, the reading job may need too
        # (the recommended study renders with the ablation's recipes: the prior).
        for extra in source.needs(section(config, other, model)):
            paths.setdefault(extra, EXTRA_INPUTS[extra])
    for need, (trained, _, _) in study_trains(config, name, model).items():
        paths[need] = f"{MODEL_DIR.format(dataset='{dataset}', model=trained)}/metrics.json"
    for shard in study_shards(config, name, dataset, model, job):
        paths[f"shard:{shard}"] = shard_output(name).replace("{job}", job).replace("{shard}", shard)
    return {k: v.format(dataset=dataset, model=model) for k, v in paths.items()}


def study_manifests(config: Config, name: str) -> list[str]:
    """The manifest of every job of study ``name``, for every dataset and model."""
    result = studies.get(name).outputs("{job}")["result"]
    return [
        f"{study_dir(name).format(dataset=d, model=m)}/{result.format(job=job)}"
        for d, m in pairs(config)
        for job in study_jobs(config, name, d, m)
    ]


def report_manifests(config: Config) -> list[str]:
    """Every manifest the report reads: training first, then each study in registry order."""
    manifests = training_manifests(config)
    for name in studies.REGISTRY:
        manifests += study_manifests(config, name)
    return manifests


def report_targets() -> list[str]:
    """The report in Markdown and LaTeX, and as a PDF where ``latexmk`` is installed."""
    targets = ["report/report.md", "report/report.tex", "report/provenance.json"]
    if shutil.which("latexmk") is not None:
        targets.append("report/report.pdf")
    return targets


ATLAS = "results/atlas"


def atlas_inputs(config: Config) -> dict[str, list[str]]:
    """What the atlas reads: the manifests of the studies it shows, every model's metrics
    and file, the datasets' arrays, and the report's PDF (the index links it) if built."""
    from featviz.report.atlas import STUDIES

    datasets = list(dict.fromkeys(d for d, _ in pairs(config)))
    return {
        "manifests": [m for name in STUDIES for m in study_manifests(config, name)],
        "metrics": [f"{d}/metrics.json" for d in model_dirs(config)],
        "data": [DATA.format(dataset=d) for d in datasets],
        "models": [f"{d}/model.keras" for d in model_dirs(config)],
        "report": [t for t in report_targets() if t.endswith(".pdf")],
    }


def targets() -> list[str]:
    """What ``snakemake`` makes by default: the report and the atlas."""
    return [*report_targets(), ATLAS]


def export_checkout(path: str) -> None:
    """Set ``FEATVIZ_ROOT`` to the checkout, for ``environment.yml``'s pip line.

    Snakemake copies the environment file under ``.snakemake/conda/`` before conda
    reads it, so the file cannot name the checkout by a relative path; jobs and the
    conda it starts inherit this variable instead.
    """
    os.environ["FEATVIZ_ROOT"] = str(path)


def check(config: Config) -> None:
    """Check every study's layer names and unit indices against every model's layers.

    Run when the DAG is built, so that a typo in a layer name or an index out of
    range stops the run before any model is trained.

    Raises:
        ValueError: naming the model, the dataset, the setting and what is valid.
    """
    for dataset, model in pairs(config):
        table = layer_table(config, dataset, model)
        for study in studies.every():
            try:
                study.check(section(config, study.name, model), table)
                for other, _, *fixed in study.reads.values():
                    wanted = fixed or study_jobs(config, study.name, dataset, model)
                    missing = set(wanted) - set(study_jobs(config, other, dataset, model))
                    if missing:
                        # a study that runs another's jobs gets them from that one's section
                        owner = studies.get(other).same_jobs_as or other
                        raise ValueError(
                            f"{study.name} reads the {other} study's jobs, which do not "
                            f"include {', '.join(sorted(missing))}: add them to {owner}."
                        )
            except ValueError as err:
                raise ValueError(f"Model '{model}' (on {dataset}): {err}") from None

# Targets, rule outputs and input functions. The logic lives in featviz.workflow, where it
# is tested; a study's outputs and jobs come from its declaration in featviz.studies.
#
# Study rules share one shape: the rule, its study and its config section share a name
# (params.study), the wildcard {job} is one job of the study (a layer for most,
# <layer>-<a>-<b> for joint), and the command is STUDY_COMMAND.

import re
import shlex

import featviz.studies
import featviz.workflow as plan


def any_of(names):
    """A wildcard regex matching exactly one of ``names`` (nothing if there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


wildcard_constraints:
    dataset=any_of(config["datasets"]),
    model=any_of([*config["models"], plan.JUDGE, *plan.retrained_models(config)]),
    job=r"[^/]+",
    shard=r"[^/]+",


# Layer names and unit indices are checked against every model before any job runs.
plan.check(config)

# environment.yml installs featviz from this checkout; conda reads a copy of it elsewhere.
plan.export_checkout(workflow.basedir)

STUDY_COMMAND = (
    "featviz study {params.study} --rule {params.study} --threads {threads}"
    " --dataset {wildcards.dataset} --model-name {wildcards.model}"
    " --model {input.model} --data {input.data} {params.extras} --job {wildcards.job}"
    " --out-dir {params.out_dir} --settings {params.settings:q} > {log} 2>&1"
)


def study_outputs(name):
    """The outputs of one job of study ``name``; its figures go to ``snakemake --report``
    with the caption the study wrote (workflow/report/<figure>.rst includes it)."""
    study = featviz.studies.get(name)
    outputs = plan.study_outputs(name)
    for figure in study.figures:
        outputs[figure] = report(
            outputs[figure],
            caption=f"../report/{figure}.rst",
            category=study.category,
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{model}", "job": "{job}"},
        )
    return plan.with_records(outputs)


def job_settings(name):
    """Params function: the slice of section ``name`` that the wildcards' job reads."""

    def get(wildcards):
        return plan.job_settings_json(config, name, wildcards.model, wildcards.job)

    return get


def study_inputs(name):
    """Input function: the model, the data, and what else study ``name`` reads (the judge,
    the prior, other studies' outputs)."""

    def get(wildcards):
        return plan.study_inputs(
            config, name, wildcards.dataset, wildcards.model, wildcards.job
        )

    return get


def shard_inputs(name):
    """Input function: what a shard of study ``name`` reads (its model, data, and what of
    its job's inputs a shard needs)."""

    def get(wildcards):
        return plan.shard_inputs(
            config, name, wildcards.dataset, wildcards.model, wildcards.job
        )

    return get


def extra_inputs(wildcards, input):
    """Params function: ``--input name=path`` for each input besides the model and data."""
    return " ".join(
        f"--input {name}={shlex.quote(path)}"
        for name, path in input.items()
        if name not in ("model", "data")
    )


def dataset_entry(wildcards):
    return plan.dataset_entry_json(config, wildcards.dataset)


def raw_inputs(wildcards):
    return plan.raw_files(config, wildcards.dataset)


def architecture(wildcards):
    return plan.architecture_json(config, wildcards.model)


def train_settings(wildcards):
    return plan.train_settings_json(config, wildcards.model)


def model_file(wildcards):
    return plan.model_file_json(config, wildcards.model)


def model_source(wildcards):
    """The .keras file a model entry names (models.<name>.path)."""
    return config["models"][wildcards.model]["path"]

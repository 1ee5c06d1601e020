# Targets, rule outputs and input functions. The logic lives in featviz.workflow, where it
# is tested; a study's outputs and jobs come from its declaration in featviz.studies.
#
# Study rules share one shape: the rule, its study and its config section share a name
# (params.study), the wildcard {job} is one job of the study (a layer for most,
# <layer>-<a>-<b> for joint), and the command is STUDY_COMMAND.

import re

import featviz.studies
import featviz.workflow as plan


def any_of(names):
    """A wildcard regex matching exactly one of ``names`` (nothing if there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


wildcard_constraints:
    dataset=any_of(config["datasets"]),
    model=any_of(config["models"]),
    job=r"[^/]+",


# Layer names and unit indices are checked against every model before any job runs.
plan.check(config)

STUDY_COMMAND = (
    "featviz study {params.study} --rule {params.study} --threads {threads}"
    " --dataset {wildcards.dataset} --model-name {wildcards.model}"
    " --model {input.model} --data {input.data} --job {wildcards.job}"
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
    return outputs


def job_settings(name):
    """Input function: the slice of section ``name`` that the wildcards' job reads."""

    def get(wildcards):
        return plan.job_settings_json(config, name, wildcards.job)

    return get


def dataset_entry(wildcards):
    return plan.dataset_entry_json(config, wildcards.dataset)


def raw_inputs(wildcards):
    return plan.raw_files(config, wildcards.dataset)


def model_entry(wildcards):
    return plan.model_entry_json(config, wildcards.model)


def model_source(wildcards):
    """The .keras file a model entry names (models.<name>.path)."""
    return config["models"][wildcards.model]["path"]

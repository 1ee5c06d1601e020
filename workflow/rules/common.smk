# Targets and input functions. The logic lives in featviz.workflow, where it is tested.

import re

import featviz.workflow as plan


wildcard_constraints:
    dataset="|".join(map(re.escape, config["datasets"])) or "^$",
    model="|".join(map(re.escape, config["models"])) or "^$",
    layer=r"(conv|fc)\d+",
    filters=r"\d+-\d+(-\d+)?",


def dataset_setting(key):
    """Input function for one setting of the wildcard's dataset entry."""

    def get(wildcards):
        return config["datasets"][wildcards.dataset][key]

    return get


def dataset_entry(wildcards):
    return plan.dataset_entry_json(config, wildcards.dataset)


def raw_inputs(wildcards):
    return plan.raw_files(config, wildcards.dataset)


def architecture(wildcards):
    return plan.architecture_json(config, wildcards.model)


def label(wildcards):
    return f"{wildcards.model} on {wildcards.dataset}"


def logits(wildcards):
    return plan.logits_layer(config, wildcards.model)


def filter_indices(wildcards):
    return plan.filter_indices(config, wildcards.layer)


def comma_filters(wildcards):
    return wildcards.filters.replace("-", ",")

# featviz: what do the units of a CNN respond to?
# The whole study as one DAG: download -> prepare -> train -> studies -> report.
#
#   snakemake --cores 2                                  demo (generated data, minutes)
#   snakemake --cores 8 --configfile config/paper.yaml   MNIST and SVHN with the seed's budgets

import sys

from snakemake.utils import min_version, validate

from featviz.run_summary import failed, finished
from featviz.settings import check_config_files, drop_removed, validate_config
from featviz.studies import every as every_study

min_version("9.0")


# The demo is the default. It is loaded only when no --configfile is given, because
# Snakemake merges a Snakefile's configfile with the command line's key by key: the
# paper run would otherwise inherit the demo's generated datasets.
if not config:

    configfile: "config/demo.yaml"


# featviz's checks first: Snakemake's loader keeps the last of two equal keys without a
# word, so every config file is read again by one that refuses them; and featviz's message
# names a bad value inside a shared definition, where Snakemake's may name the keys it left
# "unevaluated" instead.
replaced = check_config_files(workflow.configfiles)
if replaced:
    print(
        f"featviz: {len(replaced)} settings of one config file replaced by a later one:",
        *replaced,
        sep="\n  ",
        file=sys.stderr,
    )
# a dataset or model a later file sets to null is left out (merging cannot remove it)
drop_removed(config)
validate_config(config)
validate(config, "config/schema.yaml", set_default=True)

# The config's backend reaches every job's shell, on a cluster too (the prefix keeps
# Snakemake's own strict mode); each provenance record names the backend it ran on.
if "keras_backend" in config:
    shell.prefix(f"set -euo pipefail; export KERAS_BACKEND={config['keras_backend']}; ")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"


STUDIES = every_study()


include: "workflow/rules/studies.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/atlas.smk"


rule all:
    default_target: True
    input:
        plan.targets(),


# A run ends by saying where to look: the report and the atlas, or the failed jobs' logs.
onsuccess:
    print(finished(), file=sys.stderr)


onerror:
    print(failed(log, workflow.basedir), file=sys.stderr)

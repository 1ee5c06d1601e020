# Every study's rule, from its declaration in featviz.studies (report order): the rule, its
# study and its config section share a name; the wildcard {job} is one job of the study (a
# layer for most, <layer>-<a>-<b> for joint); memory, time and priority are the study's.
# A study whose jobs split (the ablation, recommended, dictionary) has a second rule,
# <study>_shard: one job per shard {shard} of job {job}, whose archive the study's job reads.
# What each study does: its module's docstring (the docs site's API reference).
for study in STUDIES:

    rule:
        name:
            study.name
        input:
            unpack(study_inputs(study.name)),
        output:
            **study_outputs(study.name),
        log:
            f"logs/{study.name}/{{dataset}}/{{model}}/{{job}}.log",
        benchmark:
            f"benchmarks/runs/{study.name}/{{dataset}}/{{model}}/{{job}}.tsv"
        priority: study.priority
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            **study.resources,
        params:
            study=study.name,
            settings=job_settings(study.name),
            extras=extra_inputs,
            out_dir=plan.study_dir(study.name),
            # the digest of the code the job runs: a change to it reruns the job
            code=plan.code("study", study.name),
        shell:
            STUDY_COMMAND

    if study.shard_resources is None:
        continue

    rule:
        name:
            f"{study.name}_shard"
        input:
            unpack(shard_inputs(study.name)),
        output:
            **plan.with_records({"shard": plan.shard_output(study.name)}),
        log:
            f"logs/{study.name}/{{dataset}}/{{model}}/{{job}}/{{shard}}.log",
        benchmark:
            f"benchmarks/runs/{study.name}/{{dataset}}/{{model}}/{{job}}/{{shard}}.tsv"
        priority: study.priority
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            **study.shard_resources,
        params:
            study=study.name,
            settings=job_settings(study.name),
            extras=extra_inputs,
            out_dir=plan.study_dir(study.name),
            code=plan.code("study", study.name),
        shell:
            STUDY_COMMAND.replace(
                " --out-dir", " --shard {wildcards.shard} --out-dir"
            ).replace("--rule {params.study}", "--rule {params.study}_shard")

# Every study's rule, from its declaration in featviz.studies (report order): the rule, its
# study and its config section share a name; the wildcard {job} is one job of the study (a
# layer for most, <layer>-<a>-<b> for joint); memory, time and priority are the study's.
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

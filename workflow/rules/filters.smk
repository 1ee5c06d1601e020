# The image that maximizes each filter, unit or class of a layer (seed figures 7-10).
rule filters:
    input:
        unpack(study_inputs("filters")),
    output:
        **study_outputs("filters"),
    log:
        "logs/filters/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/filters/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        study="filters",
        settings=job_settings("filters"),
        extras=extra_inputs,
        out_dir=plan.study_dir("filters"),
    shell:
        STUDY_COMMAND

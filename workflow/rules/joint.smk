# Filters maximized together along a weight sweep or on a simplex (seed figures 5-6).
rule joint:
    input:
        unpack(study_inputs("joint")),
    output:
        **study_outputs("joint"),
    log:
        "logs/joint/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/joint/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        study="joint",
        settings=job_settings("joint"),
        extras=extra_inputs,
        out_dir=plan.study_dir("joint"),
    shell:
        STUDY_COMMAND

# Random directions in a layer's activation space, maximized.
rule directions:
    input:
        unpack(study_inputs("directions")),
    output:
        **study_outputs("directions"),
    log:
        "logs/directions/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/directions/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        study="directions",
        settings=job_settings("directions"),
        extras=extra_inputs,
        out_dir=plan.study_dir("directions"),
    shell:
        STUDY_COMMAND

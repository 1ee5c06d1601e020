# Feature maps of every conv layer (seed figures 1-3).
rule activations:
    input:
        unpack(study_inputs("activations")),
    output:
        **study_outputs("activations"),
    log:
        "logs/activations/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/activations/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        study="activations",
        settings=job_settings("activations"),
        extras=extra_inputs,
        out_dir=plan.study_dir("activations"),
    shell:
        STUDY_COMMAND

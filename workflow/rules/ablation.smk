# Which recipe? Every class and sampled units under each regularizer setting, measured
# with the judge model (seed figures 9-10); the winner becomes the recommended recipe.
rule ablation:
    input:
        unpack(study_inputs("ablation")),
    output:
        **study_outputs("ablation"),
    log:
        "logs/ablation/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/ablation/{dataset}/{model}/{job}.tsv"
    # The longest job: start it as soon as its models exist, beside the short ones.
    priority: 5
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=480,
    params:
        study="ablation",
        settings=job_settings("ablation"),
        extras=extra_inputs,
        out_dir=plan.study_dir("ablation"),
    shell:
        STUDY_COMMAND

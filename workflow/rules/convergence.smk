# Objective against step for a sample of units, and its plateau (seed figure 4).
rule convergence:
    input:
        unpack(study_inputs("convergence")),
    output:
        **study_outputs("convergence"),
    log:
        "logs/convergence/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/convergence/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        study="convergence",
        settings=job_settings("convergence"),
        extras=extra_inputs,
        out_dir=plan.study_dir("convergence"),
    shell:
        STUDY_COMMAND

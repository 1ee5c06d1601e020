# Dead and near-duplicate filters, and the model retrained narrower and shallower
# (the seed's future work); the retrained models are jobs of the train rule.
rule redundancy:
    input:
        unpack(study_inputs("redundancy")),
    output:
        **study_outputs("redundancy"),
    log:
        "logs/redundancy/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/redundancy/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        study="redundancy",
        settings=job_settings("redundancy"),
        extras=extra_inputs,
        out_dir=plan.study_dir("redundancy"),
    shell:
        STUDY_COMMAND

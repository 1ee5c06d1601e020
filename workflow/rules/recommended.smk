# Every unit the filters study rendered, again under the recipe the ablation chose,
# maximized and minimized and scored (what the atlas shows beside the seed's pictures).
rule recommended:
    input:
        unpack(study_inputs("recommended")),
    output:
        **study_outputs("recommended"),
    log:
        "logs/recommended/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/recommended/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        study="recommended",
        settings=job_settings("recommended"),
        extras=extra_inputs,
        out_dir=plan.study_dir("recommended"),
    shell:
        STUDY_COMMAND

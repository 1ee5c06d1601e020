# Deconvnet and guided-backpropagation projections of each filter's strongest activations
# in its top test images (the seed's deconvnet, finished).
rule deconv:
    input:
        unpack(study_inputs("deconv")),
    output:
        **study_outputs("deconv"),
    log:
        "logs/deconv/{dataset}/{model}/{job}.log",
    benchmark:
        "benchmarks/runs/deconv/{dataset}/{model}/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        study="deconv",
        settings=job_settings("deconv"),
        extras=extra_inputs,
        out_dir=plan.study_dir("deconv"),
    shell:
        STUDY_COMMAND

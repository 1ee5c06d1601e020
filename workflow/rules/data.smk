rule download:
    output:
        **plan.with_records({"file": "resources/{dataset}/{filename}"}),
    log:
        "logs/download/{dataset}/{filename}.log",
    benchmark:
        "benchmarks/runs/download/{dataset}/{filename}.tsv"
    retries: 1
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        entry=dataset_entry,
    shell:
        "featviz download --rule download --dataset {wildcards.dataset} --entry {params.entry:q}"
        " --out {output.file} > {log} 2>&1"


rule prepare:
    input:
        raw_inputs,
    output:
        **plan.with_records({"data": plan.DATA}),
    log:
        "logs/prepare/{dataset}.log",
    benchmark:
        "benchmarks/runs/prepare/{dataset}.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        entry=dataset_entry,
        code=plan.code("prepare"),
    shell:
        "featviz prepare --rule prepare --dataset {wildcards.dataset} --entry {params.entry:q}"
        " --raw {input:q} --out {output.data} > {log} 2>&1"

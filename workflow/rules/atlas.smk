# The atlas: a static site with a page for every unit, built from the studies' outputs.
rule atlas:
    input:
        **plan.atlas_inputs(config),
    output:
        directory(plan.ATLAS),
    log:
        "logs/atlas.log",
    benchmark:
        "benchmarks/runs/atlas.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        title=f"{config['title']}: atlas",
        code=plan.code("atlas"),
        report=lambda wildcards, input: (
            f"--report {input.report[0]}" if input.report else ""
        ),
    shell:
        "featviz atlas --rule atlas --out {output} --title {params.title:q}"
        " --manifests {input.manifests:q} --metrics {input.metrics:q} --data {input.data:q}"
        " --models {input.models:q} {params.report} > {log} 2>&1"

rule report:
    input:
        manifests=plan.report_manifests(config),
        metrics=plan.metrics_files(config),
    output:
        "report/report.md",
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/runs/report.tsv"
    conda:
        "../../environment.yml"
    params:
        title=config["title"],
        generated=plan.generated_datasets(config),
    shell:
        "featviz report --rule report --out {output} --title {params.title:q}"
        " --manifests {input.manifests:q} --metrics {input.metrics:q}"
        " --generated {params.generated:q} > {log} 2>&1"

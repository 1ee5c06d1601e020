rule report:
    input:
        figures=plan.report_figures(config),
        metrics=plan.metrics_files(config),
        convergence=plan.convergence_tables(config),
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
        " --figures {input.figures:q} --metrics {input.metrics:q}"
        " --convergence {input.convergence:q} --generated {params.generated:q} > {log} 2>&1"

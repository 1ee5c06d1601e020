rule report:
    input:
        manifests=plan.report_manifests(config),
        metrics=plan.metrics_files(config),
    output:
        **plan.with_records(
            {
                "markdown": "report/report.md",
                "latex": "report/report.tex",
                "provenance": "report/provenance.json",
            }
        ),
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/runs/report.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        title=config["title"],
        generated=plan.generated_datasets(config),
        code=plan.code("report"),
    shell:
        "featviz report --rule report --out {output.markdown} --title {params.title:q}"
        " --manifests {input.manifests:q} --metrics {input.metrics:q}"
        " --generated {params.generated:q} > {log} 2>&1"


# Built where LaTeX is installed (the plan asks for it only then).
rule pdf:
    input:
        "report/report.tex",
    output:
        **plan.with_records({"pdf": "report/report.pdf"}),
    log:
        "logs/pdf.log",
    benchmark:
        "benchmarks/runs/pdf.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "featviz pdf --rule pdf {input} > {log} 2>&1"

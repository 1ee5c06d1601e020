rule train:
    input:
        data=rules.prepare.output.data,
    output:
        **plan.with_records(
            {
                "model": "results/{dataset}/{model}/model.keras",
                "best": "results/{dataset}/{model}/model_best_val.keras",
                "history": "results/{dataset}/{model}/history.json",
                "metrics": "results/{dataset}/{model}/metrics.json",
                "curve": report(
                    "results/{dataset}/{model}/training_curve.png",
                    caption="../report/curve.rst",
                    category="Training",
                    subcategory="{dataset}",
                    labels={"dataset": "{dataset}", "model": "{model}"},
                ),
                "curve_pdf": "results/{dataset}/{model}/training_curve.pdf",
                "curve_caption": "results/{dataset}/{model}/training_curve.caption.rst",
                "result": "results/{dataset}/{model}/training.result.json",
            }
        ),
    log:
        "logs/train/{dataset}/{model}.log",
    benchmark:
        "benchmarks/runs/train/{dataset}/{model}.tsv"
    wildcard_constraints:
        model=any_of(
            [*plan.trained_models(config), plan.JUDGE, *plan.retrained_models(config)]
        ),
    # Models are read by many jobs (the judge by the longest): train them first. One thread
    # each: two trainings side by side beat one on two threads (46 s against 33 s each).
    priority: 10
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        architecture=architecture,
        settings=train_settings,
        out_dir=subpath(output.model, parent=True),
        code=plan.code("train"),
    shell:
        "featviz train --rule train --threads {threads} --dataset {wildcards.dataset}"
        " --model-name {wildcards.model} --data {input.data} --architecture {params.architecture:q}"
        " --settings {params.settings:q} --out-dir {params.out_dir} > {log} 2>&1"


# The learned prior of a dataset: an autoencoder whose decoder the prior parameterization
# renders through.
rule train_prior:
    input:
        data=rules.prepare.output.data,
    output:
        **plan.with_records(
            {
                "decoder": "results/{dataset}/prior/decoder.keras",
                "history": "results/{dataset}/prior/history.json",
                "metrics": "results/{dataset}/prior/metrics.json",
                "samples": report(
                    "results/{dataset}/prior/samples.png",
                    caption="../report/samples.rst",
                    category="Training",
                    subcategory="{dataset}",
                    labels={"dataset": "{dataset}", "model": "prior"},
                ),
                "samples_pdf": "results/{dataset}/prior/samples.pdf",
                "samples_caption": "results/{dataset}/prior/samples.caption.rst",
                "result": "results/{dataset}/prior/prior.result.json",
            }
        ),
    log:
        "logs/train_prior/{dataset}.log",
    benchmark:
        "benchmarks/runs/train_prior/{dataset}.tsv"
    priority: 10
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=plan.section_json(config, "prior"),
        code=plan.code("train-prior"),
        out_dir=subpath(output.decoder, parent=True),
    shell:
        "featviz train-prior --rule train_prior --threads {threads} --dataset {wildcards.dataset}"
        " --data {input.data} --settings {params.settings:q} --out-dir {params.out_dir}"
        " > {log} 2>&1"


# A model trained elsewhere (models.<name>.path): verified, checked and evaluated.
rule import_model:
    input:
        source=model_source,
        data=rules.prepare.output.data,
    output:
        **plan.with_records(
            {
                "model": "results/{dataset}/{model}/model.keras",
                "metrics": "results/{dataset}/{model}/metrics.json",
            }
        ),
    log:
        "logs/import_model/{dataset}/{model}.log",
    wildcard_constraints:
        model=any_of(plan.file_models(config)),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        entry=model_file,
        out_dir=subpath(output.model, parent=True),
        code=plan.code("import-model"),
    shell:
        "featviz import-model --rule import_model --threads {threads}"
        " --model-name {wildcards.model} --entry {params.entry:q} --data {input.data}"
        " --out-dir {params.out_dir} > {log} 2>&1"

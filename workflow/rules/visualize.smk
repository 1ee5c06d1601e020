rule activations:
    input:
        model="results/{dataset}/{model}/model.keras",
        data="results/{dataset}/data/dataset.npz",
    output:
        figure=report(
            "results/{dataset}/{model}/activations/{layer}.png",
            caption="../report/activations.rst",
            category="Feature maps",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}"},
        ),
        pdf="results/{dataset}/{model}/activations/{layer}.pdf",
        arrays="results/{dataset}/{model}/activations/{layer}.npz",
    log:
        "logs/activations/{dataset}/{model}/{layer}.log",
    benchmark:
        "benchmarks/runs/activations/{dataset}/{model}/{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        out_dir=subpath(output.figure, parent=True),
        label=label,
        images=config["activations"]["images"],
    shell:
        "featviz activations --rule activations --threads {threads} --label {params.label:q}"
        " --model {input.model} --data {input.data} --layer {wildcards.layer}"
        " --out-dir {params.out_dir} --images {params.images} > {log} 2>&1"


rule filters:
    input:
        model="results/{dataset}/{model}/model.keras",
        data="results/{dataset}/data/dataset.npz",
    output:
        figure=report(
            "results/{dataset}/{model}/filters/{layer}.png",
            caption="../report/filters.rst",
            category="Filters",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}"},
        ),
        pdf="results/{dataset}/{model}/filters/{layer}.pdf",
        arrays="results/{dataset}/{model}/filters/{layer}.npz",
        table="results/{dataset}/{model}/filters/{layer}.csv",
    log:
        "logs/filters/{dataset}/{model}/{layer}.log",
    benchmark:
        "benchmarks/runs/filters/{dataset}/{model}/{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        out_dir=subpath(output.figure, parent=True),
        label=label,
        steps=config["filters"]["steps"],
        learning_rate=config["filters"]["learning_rate"],
        seed=config["filters"]["seed"],
        batch_size=config["filters"]["batch_size"],
        sort=config["filters"]["sort"],
        restarts=config["filters"]["restarts"],
        recipe=plan.render_recipe_json(config["filters"]),
        logits=logits,
        indices=filter_indices,
    shell:
        "featviz render --rule filters --threads {threads} --label {params.label:q}"
        " --model {input.model} --data {input.data} --logits-layer {params.logits}"
        " --layer {wildcards.layer} --indices {params.indices}"
        " --out-dir {params.out_dir} --steps {params.steps} --learning-rate {params.learning_rate}"
        " --seed {params.seed} --batch-size {params.batch_size} --sort {params.sort}"
        " --restarts {params.restarts}"
        " --recipe {params.recipe:q} > {log} 2>&1"

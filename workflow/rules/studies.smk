rule convergence:
    input:
        model="results/{dataset}/{model}/model.keras",
        data="results/{dataset}/data/dataset.npz",
    output:
        figure=report(
            "results/{dataset}/{model}/convergence/{layer}.png",
            caption="../report/convergence.rst",
            category="Convergence",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}"},
        ),
        pdf="results/{dataset}/{model}/convergence/{layer}.pdf",
        arrays="results/{dataset}/{model}/convergence/{layer}.npz",
        table="results/{dataset}/{model}/convergence/{layer}.csv",
    log:
        "logs/convergence/{dataset}/{model}/{layer}.log",
    benchmark:
        "benchmarks/runs/convergence/{dataset}/{model}/{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        out_dir=subpath(output.figure, parent=True),
        label=label,
        logits=logits,
        sample=config["convergence"]["filters_per_layer"],
        steps=config["convergence"]["steps"],
        record_every=config["convergence"]["record_every"],
        window=config["convergence"]["window"],
        tolerance=config["convergence"]["tolerance"],
        learning_rate=config["convergence"]["learning_rate"],
        seed=config["convergence"]["seed"],
        recipe=plan.render_recipe_json(config["convergence"]),
    shell:
        "featviz convergence --rule convergence --threads {threads} --label {params.label:q}"
        " --model {input.model} --data {input.data} --logits-layer {params.logits}"
        " --layer {wildcards.layer} --out-dir {params.out_dir} --count {params.sample}"
        " --steps {params.steps} --record-every {params.record_every} --window {params.window}"
        " --tolerance {params.tolerance} --learning-rate {params.learning_rate}"
        " --seed {params.seed} --budget 20000 --recipe {params.recipe:q} > {log} 2>&1"


rule joint:
    input:
        model="results/{dataset}/{model}/model.keras",
    output:
        figure=report(
            "results/{dataset}/{model}/joint/{layer}-{filters}.png",
            caption="../report/joint.rst",
            category="Joint maximization",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "filters": "{layer}-{filters}",
            },
        ),
        pdf="results/{dataset}/{model}/joint/{layer}-{filters}.pdf",
        tradeoff=report(
            "results/{dataset}/{model}/joint/{layer}-{filters}_tradeoff.png",
            caption="../report/tradeoff.rst",
            category="Joint maximization",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "filters": "{layer}-{filters}",
            },
        ),
        tradeoff_pdf="results/{dataset}/{model}/joint/{layer}-{filters}_tradeoff.pdf",
        arrays="results/{dataset}/{model}/joint/{layer}-{filters}.npz",
    log:
        "logs/joint/{dataset}/{model}/{layer}-{filters}.log",
    benchmark:
        "benchmarks/runs/joint/{dataset}/{model}/{layer}-{filters}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        out_dir=subpath(output.figure, parent=True),
        label=label,
        filters=comma_filters,
        weights=config["joint"]["weights"],
        divisions=config["joint"]["divisions"],
        steps=config["joint"]["steps"],
        learning_rate=config["joint"]["learning_rate"],
        seed=config["joint"]["seed"],
        recipe=plan.render_recipe_json(config["joint"]),
    shell:
        "featviz joint --rule joint --threads {threads} --label {params.label:q}"
        " --model {input.model} --layer {wildcards.layer} --filters {params.filters}"
        " --out-dir {params.out_dir} --weights {params.weights} --divisions {params.divisions}"
        " --steps {params.steps} --learning-rate {params.learning_rate} --seed {params.seed}"
        " --recipe {params.recipe:q} > {log} 2>&1"


rule directions:
    input:
        model="results/{dataset}/{model}/model.keras",
    output:
        figure=report(
            "results/{dataset}/{model}/directions/{layer}.png",
            caption="../report/directions.rst",
            category="Directions",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}"},
        ),
        pdf="results/{dataset}/{model}/directions/{layer}.pdf",
        arrays="results/{dataset}/{model}/directions/{layer}.npz",
    log:
        "logs/directions/{dataset}/{model}/{layer}.log",
    benchmark:
        "benchmarks/runs/directions/{dataset}/{model}/{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        out_dir=subpath(output.figure, parent=True),
        label=label,
        directions=config["directions"]["count"],
        steps=config["directions"]["steps"],
        learning_rate=config["directions"]["learning_rate"],
        seed=config["directions"]["seed"],
        recipe=plan.render_recipe_json(config["directions"]),
    shell:
        "featviz directions --rule directions --threads {threads} --label {params.label:q}"
        " --model {input.model} --layer {wildcards.layer} --out-dir {params.out_dir}"
        " --count {params.directions} --steps {params.steps} --learning-rate {params.learning_rate}"
        " --seed {params.seed} --recipe {params.recipe:q} > {log} 2>&1"

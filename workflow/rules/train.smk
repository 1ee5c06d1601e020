rule train:
    input:
        data="results/{dataset}/data/dataset.npz",
    output:
        model="results/{dataset}/{model}/model.keras",
        history="results/{dataset}/{model}/history.json",
        metrics="results/{dataset}/{model}/metrics.json",
        curve=report(
            "results/{dataset}/{model}/training_curve.png",
            caption="../report/training.rst",
            category="Training",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        curve_pdf="results/{dataset}/{model}/training_curve.pdf",
    log:
        "logs/train/{dataset}/{model}.log",
    benchmark:
        "benchmarks/runs/train/{dataset}/{model}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        architecture=architecture,
        out_dir=subpath(output.model, parent=True),
        label=label,
        epochs=config["train"]["epochs"],
        batch_size=config["train"]["batch_size"],
        learning_rate=config["train"]["learning_rate"],
        seed=config["train"]["seed"],
        max_train=config["train"]["max_train"],
    shell:
        "featviz train --rule train --threads {threads} --label {params.label:q}"
        " --data {input.data} --architecture {params.architecture:q} --out-dir {params.out_dir}"
        " --epochs {params.epochs} --batch-size {params.batch_size}"
        " --learning-rate {params.learning_rate} --seed {params.seed}"
        " --max-train {params.max_train} > {log} 2>&1"

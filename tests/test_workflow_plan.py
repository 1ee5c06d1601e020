import copy
import json

import pytest
import yaml
from snakemake.utils import validate

from featviz import studies
from featviz import workflow as plan
from featviz.settings import validate_section
from tests.conftest import ROOT


def config(name):
    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    validate(cfg, str(ROOT / "config" / "schema.yaml"), set_default=True)
    return cfg


def test_demo_downloads_nothing_and_is_flagged_generated():
    cfg = config("demo.yaml")
    assert all(plan.raw_files(cfg, d) == [] for d in cfg["datasets"])
    assert plan.generated_datasets(cfg) == ["synthetic-digits", "synthetic-house-numbers"]


def test_paper_raw_files():
    cfg = config("paper.yaml")
    assert plan.raw_files(cfg, "mnist") == [
        "resources/mnist/train-images-idx3-ubyte.gz",
        "resources/mnist/train-labels-idx1-ubyte.gz",
        "resources/mnist/t10k-images-idx3-ubyte.gz",
        "resources/mnist/t10k-labels-idx1-ubyte.gz",
    ]
    assert plan.raw_files(cfg, "svhn") == [
        "resources/svhn/train_32x32.mat",
        "resources/svhn/test_32x32.mat",
    ]
    assert plan.generated_datasets(cfg) == []


def test_report_manifests_in_the_seeds_order():
    cfg = config("demo.yaml")
    manifests = plan.report_manifests(cfg)
    assert manifests[:6] == [
        "results/synthetic-digits/cnn3/training.result.json",
        "results/synthetic-house-numbers/cnn3/training.result.json",
        "results/synthetic-digits/judge/training.result.json",
        "results/synthetic-house-numbers/judge/training.result.json",
        "results/synthetic-digits/prior/prior.result.json",
        "results/synthetic-house-numbers/prior/prior.result.json",
    ]
    study = [m.split("/")[3] if m.count("/") > 3 else "train" for m in manifests]
    order = ["train", *studies.REGISTRY]
    assert study == sorted(study, key=order.index)
    assert "results/synthetic-house-numbers/cnn3/joint/conv1-6-9-12.result.json" in manifests
    # the trainings of cnn3, the judge and the prior, then every job of every study
    per_dataset = {
        d: 3 + sum(len(plan.study_jobs(cfg, name, d, "cnn3")) for name in studies.REGISTRY)
        for d in cfg["datasets"]
    }
    assert len(manifests) == sum(per_dataset.values()) == len(set(manifests))
    # the filters study's five layers, and the recommended study renders the same ones
    assert plan.study_jobs(cfg, "recommended", "synthetic-digits", "cnn3") == plan.study_jobs(
        cfg, "filters", "synthetic-digits", "cnn3"
    )
    assert plan.study_inputs(cfg, "ablation", "synthetic-digits", "cnn3", "recipes") == {
        "model": "results/synthetic-digits/cnn3/model.keras",
        "data": "results/synthetic-digits/data/dataset.npz",
        "judge": "results/synthetic-digits/judge/model.keras",
        "prior": "results/synthetic-digits/prior/decoder.keras",
    }
    assert "judge" not in plan.study_inputs(cfg, "filters", "synthetic-digits", "cnn3", "conv1")


def test_study_jobs_outputs_and_slices():
    cfg = config("demo.yaml")
    assert plan.study_jobs(cfg, "filters", "synthetic-digits", "cnn3") == [
        "conv1",
        "conv2",
        "conv3",
        "fc1",
        "fc2",
    ]
    assert plan.study_jobs(cfg, "joint", "synthetic-digits", "cnn3") == [
        "conv1-6-9",
        "conv1-6-9-12",
    ]
    assert plan.study_outputs("filters")["table"] == "results/{dataset}/{model}/filters/{job}.csv"
    assert plan.study_outputs("joint")["tradeoff_caption"] == (
        "results/{dataset}/{model}/joint/{job}_tradeoff.caption.rst"
    )
    fc1 = yaml.safe_load(plan.job_settings_json(cfg, "filters", "cnn3", "fc1"))
    assert fc1["units"] == {"fc1": list(range(16))} and "classes" not in fc1


def test_a_split_ablation_reads_a_shard_per_seed_group_and_layer():
    cfg = config("demo.yaml")
    cfg["ablation"].update(split=True, confirm=True)
    inputs = plan.study_inputs(cfg, "ablation", "synthetic-house-numbers", "cnn3", "recipes")
    shards = {k.removeprefix("shard:"): v for k, v in inputs.items() if k.startswith("shard:")}
    recipes = yaml.safe_load(plan.job_settings_json(cfg, "ablation", "cnn3", "recipes"))
    assert "split" not in recipes  # a plan key: splitting changes no output
    # two seeds; the groups sharing a parameterization, each named by its first setting in
    # sorted order: pixels (accentuation, bilateral, ... tv), decorrelated colour, fourier
    # (and its two combinations), maco, prior; five layers
    groups = ["accentuation", "decorrelated", "fourier", "maco", "prior"]
    layers = ["conv1", "conv2", "conv3", "fc1", "fc2"]
    assert list(shards) == [f"{s}-{g}-{la}" for s in (0, 1) for g in groups for la in layers]
    # the job reads its settings key-sorted, from JSON: it names the same shards
    from featviz.studies.ablation import plan_shards

    job = validate_section(
        "ablation", json.loads(plan.job_settings_json(cfg, "ablation", "cnn3", "recipes"))
    )
    table = plan.layer_table(cfg, "synthetic-house-numbers", "cnn3")
    assert [s.key for s in plan_shards(job, 3, table)] == list(shards)
    assert shards["1-prior-fc2"] == (
        "results/synthetic-house-numbers/cnn3/ablation/shards/recipes/1-prior-fc2.npz"
    )
    # a shard reads the prior where its group renders through it, never the judge
    assert plan.shard_inputs(cfg, "ablation", "synthetic-digits", "cnn3", "recipes") == {
        "model": "results/synthetic-digits/cnn3/model.keras",
        "data": "results/synthetic-digits/data/dataset.npz",
        "prior": "results/synthetic-digits/prior/decoder.keras",
    }
    digits = plan.study_shards(cfg, "ablation", "synthetic-digits", "cnn3", "recipes")
    assert len(digits) == 2 * 4 * 5  # no decorrelated colour on grey digits


def test_shard_batches_split_the_ablations_longest_renders_into_parts():
    """At the paper's settings a layer's 8 units, maximized and minimized, 9 times each under
    the pixel-space group are more than ten batches of 128: in parts of two batches, six jobs."""
    from featviz.studies.ablation import named_recipes, render_groups

    cfg = config("paper.yaml")
    cfg["ablation"].update(split=True, shard_batches=2)
    shards = list(plan.study_shards(cfg, "ablation", "mnist", "cnn3", "recipes"))
    members = render_groups(named_recipes(validate_section("ablation", cfg["ablation"]), 1))
    images = 2 * 8 * len(members["accentuation"]) * 9
    parts = -(-images // 256)
    assert parts > 1
    fc1 = [k for k in shards if k.startswith("0-accentuation-fc1")]
    assert fc1 == [f"0-accentuation-fc1-part{i}of{parts}" for i in range(1, parts + 1)]
    # a group of one setting at a layer of 8 units is 144 images: one job, named as before
    assert "0-maco-conv2" in shards
    # the classes (10, maximized and minimized) under the pixel group fill parts too
    assert any(k.startswith("0-accentuation-fc2-part1of") for k in shards)
    # the job reads shard_batches to find its parts: not a plan key
    job = json.loads(plan.job_settings_json(cfg, "ablation", "cnn3", "recipes"))
    assert job["shard_batches"] == 2


def test_a_wide_layer_of_the_recommended_study_splits_into_runs_of_units():
    """conv3's 128 units in runs of 64 are two shards; conv1's 32 none. A shard reads the
    units and the recipe (and the prior, which the ablation's recipes may use), no judge."""
    cfg = config("demo.yaml")
    cfg["recommended"].update(split=True, shard_units=64)
    shards = {
        job: plan.study_shards(cfg, "recommended", "synthetic-digits", "cnn3", job)
        for job in plan.study_jobs(cfg, "recommended", "synthetic-digits", "cnn3")
    }
    assert shards == {
        "conv1": [],
        "conv2": [],
        "conv3": ["units-0-63", "units-64-127"],
        "fc1": [],
        "fc2": [],
    }
    inputs = plan.study_inputs(cfg, "recommended", "synthetic-digits", "cnn3", "conv3")
    assert inputs["shard:units-64-127"] == (
        "results/synthetic-digits/cnn3/recommended/shards/conv3/units-64-127.npz"
    )
    assert plan.shard_inputs(cfg, "recommended", "synthetic-digits", "cnn3", "conv3") == {
        "model": "results/synthetic-digits/cnn3/model.keras",
        "data": "results/synthetic-digits/data/dataset.npz",
        "filters": "results/synthetic-digits/cnn3/filters/conv3.npz",
        "recommended": "results/synthetic-digits/cnn3/ablation/recipes_recommended.json",
        "prior": "results/synthetic-digits/prior/decoder.keras",
    }
    assert "split" not in plan.job_settings_json(cfg, "recommended", "cnn3", "conv3")
    cfg["recommended"]["split"] = False
    assert plan.study_shards(cfg, "recommended", "synthetic-digits", "cnn3", "conv3") == []


def test_the_papers_recommended_study_renders_every_layer_in_runs_of_16_units():
    """Each run of 16 units (288 renders at 9 starts) is a job, so no one job of the paper's
    recommended study holds up the atlas for hours: fc1's 64 rendered units are four."""
    cfg = config("paper.yaml")
    shards = {
        job: plan.study_shards(cfg, "recommended", "mnist", "cnn3", job)
        for job in plan.study_jobs(cfg, "recommended", "mnist", "cnn3")
    }
    assert {job: len(runs) for job, runs in shards.items()} == {
        "conv1": 2,
        "conv2": 4,
        "conv3": 8,
        "fc1": 4,
        "fc2": 0,
    }
    assert shards["fc1"] == ["units-0-15", "units-16-31", "units-32-47", "units-48-63"]


def test_a_split_dictionary_fits_and_renders_before_the_units_are_scored():
    """The shard reads the recipe, not the recommended study's units: it runs beside their
    renders; the layer's job reads the shard and the units. The demo runs it whole."""
    cfg = config("paper.yaml")
    assert plan.study_shards(cfg, "dictionary", "mnist", "cnn3", "fc1") == ["features"]
    assert plan.shard_inputs(cfg, "dictionary", "mnist", "cnn3", "fc1") == {
        "model": "results/mnist/cnn3/model.keras",
        "data": "results/mnist/data/dataset.npz",
        "recommended": "results/mnist/cnn3/ablation/recipes_recommended.json",
        "prior": "results/mnist/prior/decoder.keras",
    }
    inputs = plan.study_inputs(cfg, "dictionary", "mnist", "cnn3", "fc1")
    assert inputs["shard:features"] == "results/mnist/cnn3/dictionary/shards/fc1/features.npz"
    assert inputs["units"] == "results/mnist/cnn3/recommended/fc1.npz"
    assert "split" not in plan.job_settings_json(cfg, "dictionary", "cnn3", "fc1")
    assert (
        plan.study_shards(config("demo.yaml"), "dictionary", "synthetic-digits", "cnn3", "fc1")
        == []
    )


def test_a_setting_of_one_layer_changes_only_that_jobs_settings():
    cfg = config("demo.yaml")
    changed = copy.deepcopy(cfg)
    changed["filters"]["units"]["fc1"] = [0, 1]
    for job in ("conv1", "conv2", "conv3", "fc2"):
        assert plan.job_settings_json(cfg, "filters", "cnn3", job) == plan.job_settings_json(
            changed, "filters", "cnn3", job
        )
    assert plan.job_settings_json(cfg, "filters", "cnn3", "fc1") != plan.job_settings_json(
        changed, "filters", "cnn3", "fc1"
    )


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["filters"]["units"].update(conv4="all"), r"filters: Unknown layer 'conv4'"),
        (lambda c: c["filters"]["units"].update(conv1=[32]), r"filters.units.conv1: Index 32"),
        (lambda c: c["joint"].update(pairs=[[6, 40]]), r"joint: filters \[6, 40\]: Index 40"),
        (lambda c: c["convergence"].update(layers=["fc9"]), r"convergence: Unknown layer 'fc9'"),
        (lambda c: c["directions"].update(layers=["pool4"]), r"directions: Unknown layer"),
    ],
)
def test_layers_and_units_are_checked_before_any_job(mutate, message):
    cfg = config("demo.yaml")
    mutate(cfg)
    with pytest.raises(ValueError, match=r"Model 'cnn3' \(on synthetic-digits\): " + message):
        plan.check(cfg)


def test_a_model_file_runs_on_the_datasets_that_fit(tmp_path, monkeypatch, tiny_model):
    monkeypatch.chdir(tmp_path)
    tiny_model.save("tiny.keras")  # 12x12 grey input: fits neither demo dataset
    cfg = config("demo.yaml")
    cfg["models"]["mine"] = {"path": "tiny.keras", "sha256": "0" * 64}
    with pytest.raises(ValueError, match=r"models.mine: no dataset fits the model \('synthetic"):
        plan.pairs(cfg)
    cfg["models"]["mine"]["datasets"] = ["synthetic-digits"]
    with pytest.raises(ValueError, match=r"'synthetic-digits' holds images of shape \(28, 28, 1\)"):
        plan.pairs(cfg)
    cfg["models"]["mine"]["path"] = "absent.keras"
    with pytest.raises(ValueError, match=r"models.mine.path: absent.keras: no such model file"):
        plan.pairs(cfg)


def test_a_model_file_is_paired_by_image_shape_and_classes(tmp_path, monkeypatch):
    from tests.conftest import residual_model

    monkeypatch.chdir(tmp_path)
    residual_model(side=28, classes=3).save("three.keras")
    cfg = config("demo.yaml")
    cfg["models"]["mine"] = {"path": "three.keras", "sha256": "0" * 64}
    with pytest.raises(
        ValueError, match=r"'synthetic-digits' has 10 classes, but the model gives 3"
    ):
        plan.pairs(cfg)


def test_a_model_has_settings_of_its_own(tmp_path, monkeypatch):
    """A model file with its own layer names beside cnn3: its sections name its layers."""
    from tests.conftest import residual_model

    monkeypatch.chdir(tmp_path)
    residual_model(side=28, classes=10).save("res.keras")
    cfg = config("demo.yaml")
    cfg["models"]["res"] = {"path": "res.keras", "sha256": "0" * 64}
    with pytest.raises(ValueError, match=r"Model 'res' \(on synthetic-digits\): convergence: Unk"):
        plan.check(cfg)
    cfg["models"]["res"]["settings"] = {
        "filters": {"units": {"stem": "all"}},
        "convergence": {"layers": ["branch"]},
        "joint": {"layer": "sum", "pairs": [[0, 1]], "triples": []},
        "directions": {"layers": ["norm"]},
        "ablation": {"layers": ["branch"]},
        "dictionary": {"layers": ["stem"]},
        "deconv": {"layers": []},
        "redundancy": {"layers": ["stem", "branch"]},
    }
    plan.check(cfg)
    assert plan.pairs(cfg) == [
        ("synthetic-digits", "cnn3"),
        ("synthetic-digits", "res"),
        ("synthetic-house-numbers", "cnn3"),
    ]
    assert plan.study_jobs(cfg, "filters", "synthetic-digits", "res") == ["stem", "scores"]
    assert plan.study_jobs(cfg, "filters", "synthetic-digits", "cnn3")[0] == "conv1"
    assert plan.section(cfg, "filters", "res")["steps"] == cfg["filters"]["steps"]
    cfg["models"]["res"]["settings"]["filterz"] = {}
    with pytest.raises(ValueError, match=r"models.res.settings: 'filterz' is not a study"):
        plan.check(cfg)
    del cfg["models"]["res"]["settings"]["filterz"]
    cfg["models"]["res"]["settings"]["filters"]["steps"] = 0
    with pytest.raises(ValueError, match=r"models.res.settings: Setting filters.steps: 0 is less"):
        plan.check(cfg)


def test_a_trained_architecture_has_settings_of_its_own():
    """models.cnn3.settings replaces keys of a study's section for cnn3 alone; the layer
    table is built from the architecture's fields, not refused for the settings beside them."""
    cfg = config("demo.yaml")
    cfg["models"]["cnn3"]["settings"] = {"filters": {"steps": 4}}
    validate(cfg, str(ROOT / "config" / "schema.yaml"), set_default=True)
    plan.check(cfg)
    assert yaml.safe_load(plan.job_settings_json(cfg, "filters", "cnn3", "conv1"))["steps"] == 4
    assert "settings" not in yaml.safe_load(plan.architecture_json(cfg, "cnn3"))


def test_planning_does_not_import_keras():
    """The DAG is built from declarations: TensorFlow's start-up is paid by jobs only."""
    import subprocess
    import sys

    code = (
        "import sys, featviz.workflow, featviz.studies as s; "
        "[s.get(n) for n in s.REGISTRY]; print('keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_retrained_variants_are_trained_models_with_their_seeds():
    import json

    cfg = config("demo.yaml")
    cfg["redundancy"]["seeds"] = [0, 1]
    retrained = plan.retrained_models(cfg)
    assert set(retrained) == {
        "cnn3.full.s1",
        "cnn3.half.s0",
        "cnn3.half.s1",
        "cnn3.quarter.s0",
        "cnn3.quarter.s1",
        "cnn3.cnn2.s0",
        "cnn3.cnn2.s1",
    }
    assert json.loads(plan.architecture_json(cfg, "cnn3.cnn2.s1"))["conv_filters"] == [32, 64]
    assert json.loads(plan.train_settings_json(cfg, "cnn3.half.s1"))["seed"] == 1
    inputs = plan.study_inputs(cfg, "redundancy", "synthetic-digits", "cnn3", "filters")
    assert inputs["metrics:full:0"] == "results/synthetic-digits/cnn3/metrics.json"
    assert inputs["metrics:half:1"] == "results/synthetic-digits/cnn3.half.s1/metrics.json"


def test_the_recommended_study_renders_the_filters_studys_layers_with_the_ablations_recipe():
    cfg = config("demo.yaml")
    assert plan.study_jobs(cfg, "recommended", "synthetic-digits", "cnn3") == plan.study_jobs(
        cfg, "filters", "synthetic-digits", "cnn3"
    )
    inputs = plan.study_inputs(cfg, "recommended", "synthetic-digits", "cnn3", "conv2")
    assert inputs["filters"] == "results/synthetic-digits/cnn3/filters/conv2.npz"
    assert inputs["recommended"] == (
        "results/synthetic-digits/cnn3/ablation/recipes_recommended.json"
    )
    # the ablation may recommend the prior: its decoder comes along
    assert inputs["prior"] == "results/synthetic-digits/prior/decoder.keras"
    assert inputs["judge"] == "results/synthetic-digits/judge/model.keras"


def test_a_study_reading_another_studys_jobs_is_checked():
    cfg = config("demo.yaml")
    cfg["deconv"]["layers"] = ["conv2", "fc1"]
    plan.check(cfg)  # fc1 is a layer of the filters study
    cfg["filters"]["units"] = {"conv1": "all", "conv2": "all"}
    with pytest.raises(
        ValueError,
        match=r"dictionary reads the recommended study's jobs, which do not include conv3, "
        r"fc1: add them to filters\.",  # the recommended study renders the filters study's
    ):
        plan.check(cfg)
    cfg["dictionary"]["layers"] = ["conv2"]
    with pytest.raises(
        ValueError, match=r"deconv reads the filters study's jobs, which do not include fc1"
    ):
        plan.check(cfg)

import yaml
from snakemake.utils import validate

from featviz import workflow as plan
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


def test_report_figures_in_the_seeds_order():
    cfg = config("demo.yaml")
    figures = plan.report_figures(cfg)
    assert figures[0] == "results/synthetic-digits/cnn3/training_curve.png"
    study = [f.split("/")[3] if f.count("/") > 3 else "train" for f in figures]
    order = ["train", "activations", "convergence", "joint", "filters", "directions"]
    assert study == sorted(study, key=order.index)
    # classes (the logits layer's grid) come after every other filters grid
    grids = [f for f in figures if "/filters/" in f]
    assert [g.endswith("fc2.png") for g in grids] == [False] * 8 + [True] * 2
    assert "results/synthetic-house-numbers/cnn3/joint/conv1-6-9-12_tradeoff.png" in figures
    per_model = 1 + 3 + 4 + 4 + 5 + 3
    assert len(figures) == 2 * per_model == len(set(figures))


def test_filter_indices_and_layers():
    cfg = config("demo.yaml")
    assert plan.filter_layers(cfg, "cnn3") == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    assert plan.filter_indices(cfg, "conv2") == "all"
    assert plan.filter_indices(cfg, "fc1") == ",".join(str(i) for i in range(16))
    assert plan.joint_combos(cfg) == ["conv1-6-9", "conv1-6-9-12"]

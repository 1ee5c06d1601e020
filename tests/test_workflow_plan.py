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


def test_report_figures_in_reading_order():
    cfg = config("demo.yaml")
    figures = plan.report_figures(cfg)
    assert figures[0] == "results/synthetic-digits/cnn3/training_curve.png"
    kinds = [
        f.split("/")[-2] if "/activations/" in f or "/filters/" in f else "train" for f in figures
    ]
    assert kinds == sorted(kinds, key=["train", "activations", "filters"].index)
    assert "results/synthetic-house-numbers/cnn3/activations/conv3.png" in figures
    assert len(figures) == 2 + 2 * 3 + 2 * 1

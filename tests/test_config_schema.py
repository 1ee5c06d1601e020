"""The configuration schema: shipped configs validate, typos and bad values do not."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from tests.conftest import ROOT

SCHEMA = str(ROOT / "config" / "schema.yaml")


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml"])
def test_shipped_configs_validate_and_get_defaults(name):
    config = load(name)
    validate(config, SCHEMA, set_default=True)
    assert config["train"]["max_train"] == 0
    assert config["filters"]["sort"] == "index"
    for entry in config["datasets"].values():
        assert "validation_fraction" in entry and "seed" in entry


def test_paper_config_uses_the_seed_budgets():
    config = load("paper.yaml")
    assert config["filters"]["steps"] == 20000
    assert config["models"]["cnn3"]["conv_filters"] == [32, 64, 128]
    assert {e["kind"] for e in config["datasets"].values()} == {"mnist", "svhn"}


def test_the_paper_sized_config_runs_the_papers_studies_on_generated_data_of_its_size():
    """config/paper-sized.yaml after config/paper.yaml: the downloads are left out, the
    generated datasets have the real ones' splits, and every study keeps the paper's settings."""
    from featviz.settings import check_config_files, merge_config_files

    files = [ROOT / "config" / "paper.yaml", ROOT / "config" / "paper-sized.yaml"]
    config = merge_config_files(files)
    paper = load("paper.yaml")
    assert set(config) == set(paper)
    assert all(config[k] == paper[k] for k in paper if k not in ("datasets", "title"))
    validate(config, SCHEMA, set_default=True)
    sizes = {name: (e["kind"], e["n_train"], e["n_test"]) for name, e in config["datasets"].items()}
    assert sizes == {
        "synthetic-digits": ("synthetic-digits", 60_000, 10_000),
        "synthetic-house-numbers": ("synthetic-house-numbers", 73_257, 26_032),
    }
    assert "datasets.mnist: removed (config/paper-sized.yaml)" in [
        line.replace(str(ROOT) + "/", "") for line in check_config_files(files)
    ]


def test_unknown_key_is_rejected_by_name():
    config = load("demo.yaml")
    config["train"]["epoch"] = 3
    with pytest.raises(WorkflowError, match=r"'epoch' was unexpected"):
        validate(config, SCHEMA, set_default=True)


def test_unknown_top_level_key_and_bad_values():
    base = load("demo.yaml")
    for mutate, pattern in [
        (lambda c: c.update(datasetz={}), "'datasetz' was unexpected"),
        (lambda c: c["datasets"]["synthetic-digits"].update(kind="cifar"), "'cifar' is not one of"),
        (
            lambda c: c["datasets"]["synthetic-digits"].pop("n_train"),
            "0 is less than the minimum of 1",
        ),
        (lambda c: c["filters"].update(steps=0), "0 is less than the minimum of 1"),
        (lambda c: c["datasets"].update(mine={"kind": "idx"}), "'files' is a required property"),
    ]:
        config = copy.deepcopy(base)
        mutate(config)
        with pytest.raises(WorkflowError, match=pattern):
            validate(config, SCHEMA, set_default=True)


def test_a_download_file_name_cannot_climb_out_of_its_folder():
    """A remote file's name names the download and its log: '../' would put them outside
    the run's folder, so the schema refuses it, quoting the name."""
    from featviz.data.catalog import BUILTIN
    from featviz.settings import validate_config

    config = load("demo.yaml")
    files = copy.deepcopy(BUILTIN["mnist"]["files"])
    files["train_images"]["name"] = "../../escaped.gz"
    config["datasets"]["mine"] = {
        "kind": "idx",
        "files": files,
        "image_shape": [28, 28, 1],
        "class_names": list("0123456789"),
    }
    with pytest.raises(ValueError, match=r"train_images.name: '../../escaped.gz' does not match"):
        validate_config(config)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("filters", "learning_rate", float("inf"), "inf is not a finite number"),
        ("filters", "learning_rate", 1e30, "1e[+]30 is greater than the maximum of 10"),
        ("filters", "learning_rate", float("nan"), "nan is not a finite number"),
        ("train", "learning_rate", 1e30, "1e[+]30 is greater than the maximum of 1"),
        ("prior", "learning_rate", 5.0, "5.0 is greater than the maximum of 1"),
    ],
)
def test_rates_are_finite_and_in_range(section, key, value, expected):
    """A learning rate of .inf or 1e30 would train to NaN or saturate every image, with
    exit 0; the schema refuses it before any rule runs, naming the setting (the CLI reads
    the same schema)."""
    from featviz.settings import validate_config

    config = load("demo.yaml")
    config[section][key] = value
    with pytest.raises(ValueError, match=rf"Setting config.{section}.{key}: {expected}"):
        validate_config(config)


def test_regularizer_weights_and_sweeps_are_finite():
    from featviz.settings import validate_config, validate_definition

    with pytest.raises(ValueError, match="filters.regularizers.l2: inf is not a finite number"):
        validate_definition("render", {"regularizers": {"l2": float("inf")}}, "filters")
    with pytest.raises(ValueError, match="tv: 1000000.0 is greater than the maximum of 1000"):
        validate_definition("render", {"regularizers": {"tv": 1e6}}, "filters")
    config = load("demo.yaml")
    config["joint"]["weights"] = [0.0, float("nan"), 1.0]
    with pytest.raises(ValueError, match=r"Setting config.joint.weights.1: nan is not a finite"):
        validate_config(config)

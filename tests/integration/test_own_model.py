"""A model trained elsewhere, named by its .keras file, goes through the whole DAG."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml

from tests.conftest import residual_model
from tests.integration.conftest import snakemake
from tests.tiny import sections

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("own-model")]


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("own")
    residual_model(side=28, classes=10).save(workdir / "residual.keras")
    digest = hashlib.sha256((workdir / "residual.keras").read_bytes()).hexdigest()
    config = {
        "title": "own model",
        "datasets": {
            "synthetic-digits": {"kind": "synthetic-digits", "n_train": 60, "n_test": 40, "seed": 1}
        },
        "models": {"residual": {"path": "residual.keras", "sha256": digest}},
        "judge": {"architecture": {"conv_filters": [4], "kernel_size": 3, "dense_units": [8]}},
        # every study at its tiny settings (tests.tiny), on the model's own layers
        **sections(
            filters={"units": {"stem": "all", "sum": [0, 5], "gap": "all"}, "restarts": 1},
            convergence={"layers": ["branch"], "record_every": 5},
            joint={"layer": "sum"},
            directions={"layers": ["norm"]},
            ablation={"layers": ["branch"], "steps": 4, "queries": 5},
            dictionary={"layers": ["stem"]},
            deconv={"layers": []},  # a residual model is no chain to project through
            redundancy={"layers": ["stem", "branch"], "seeds": [0]},  # nothing to retrain
        ),
    }
    (workdir / "own.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--configfile", str(workdir / "own.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_study_ran_on_the_models_own_layers(own_run):
    base = own_run / "results/synthetic-digits/residual"
    assert (base / "model.keras").read_bytes() == (own_run / "residual.keras").read_bytes()
    metrics = json.loads((base / "metrics.json").read_text())
    assert metrics["epochs"] is None and 0 <= metrics["test_accuracy"] <= 1
    assert sorted(p.stem for p in (base / "activations").glob("*.npz")) == ["branch", "stem"]
    for layer, count in (("stem", 6), ("sum", 2), ("gap", 6), ("scores", 10)):
        data = np.load(base / "filters" / f"{layer}.npz")
        assert data["images"].shape == (count, 28, 28, 1), layer
    assert np.load(base / "filters/sum.npz")["indices"].tolist() == [0, 5]
    # the atlas has a page for each unit rendered, at the model's own layer names
    atlas = own_run / "results/atlas/synthetic-digits/residual"
    assert (atlas / "sum/5.html").is_file() and len(list((atlas / "stem").glob("[0-9]*.html"))) == 6
    assert len(list((atlas / "stem").glob("feature-*.html"))) == 3  # the dictionary's
    assert "Weights of stem" in (atlas / "stem/0.html").read_text()
    assert (base / "convergence/branch.csv").exists() and (base / "joint/sum-0-1.png").exists()
    assert np.load(base / "directions/norm.npz")["directions"].shape == (2, 6)
    ranked = np.load(base / "ablation/recipes.npz")
    # every class maximized and minimized, then the sampled unit of branch
    assert ranked["layers"].tolist() == ["scores"] * 20 + ["branch"] * 2
    report = (own_run / "report/report.md").read_text()
    assert "| synthetic-digits | residual |" in report and "— (imported)" in report
    assert "of sum of residual on synthetic-digits" in report


def test_a_changed_model_file_is_refused(own_run):
    config = yaml.safe_load((own_run / "own.yaml").read_text())
    config["models"]["residual"]["sha256"] = "0" * 64
    (own_run / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(own_run, "--configfile", str(own_run / "bad.yaml"), "-R", "import_model")
    assert result.returncode != 0
    log = (own_run / "logs/import_model/synthetic-digits/residual.log").read_text()
    assert "residual.keras: SHA-256 expected 0000" in log


def test_an_unknown_layer_of_the_model_stops_the_dag_before_any_job(own_run):
    config = yaml.safe_load((own_run / "own.yaml").read_text())
    config["filters"]["units"]["conv1"] = "all"
    (own_run / "typo.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(own_run, "-n", "--configfile", str(own_run / "typo.yaml"))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Model 'residual' (on synthetic-digits): filters: Unknown layer 'conv1'" in out
    assert "Layers with activations: stem, norm, branch, sum, gap, scores" in out
    assert "rule import_model" not in out  # stopped while building the DAG

"""Two runs of a small DAG from a clean results/ give the same bits, records included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.integration.conftest import snakemake

pytestmark = pytest.mark.integration

SMALL = {
    "title": "determinism",
    "datasets": {
        "synthetic-digits": {"kind": "synthetic-digits", "n_train": 160, "n_test": 60, "seed": 1}
    },
    "models": {"cnn3": {"conv_filters": [4, 6, 8], "kernel_size": 3, "dense_units": [16]}},
    "train": {"epochs": 1, "batch_size": 32},
    "judge": {"architecture": {"conv_filters": [4], "kernel_size": 3, "dense_units": [8]}},
    "prior": {"latent_dim": 4, "epochs": 1},
    "activations": {"images": 2},
    "filters": {"units": {"conv2": "all"}, "steps": 10, "restarts": 2, "transforms": "auto"},
    "convergence": {"layers": ["conv2"], "filters_per_layer": 2, "steps": 40, "record_every": 10},
    "joint": {"pairs": [[0, 1]], "triples": [], "weights": [0.0, 1.0], "steps": 8},
    "directions": {"layers": ["conv1"], "count": 2, "steps": 8},
    "ablation": {
        "layers": ["conv2"],
        "units_per_layer": 1,
        "steps": 6,
        "restarts": 2,
        "references": 4,
        "queries": 8,
        "settings": {
            "none": {},
            "blur": {"regularizers": {"blur": {"sigma": 0.7}}},
            "prior": {"parameterization": "prior"},
        },
        "combinations": {},
    },
    "recommended": {"steps": 6, "restarts": 2, "references": 3, "queries": 5},
    "deconv": {"layers": ["conv2"], "rows": 2},
    "redundancy": {"seeds": []},
}
#: Files whose bytes hold a time: training seconds, or the times of the records they gather
#: (the atlas's copies of records too).
TIMED = (
    "metrics.json",
    "training.result.json",
    "prior.result.json",
    "provenance.json",
    ".record.json",
)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path_factory.mktemp(name)
        (workdir / "small.yaml").write_text(yaml.safe_dump(SMALL))
        result = snakemake(workdir, "--configfile", str(workdir / "small.yaml"))
        assert result.returncode == 0, result.stderr[-4000:]
        runs.append(workdir)
    return runs


def files(run: Path, pattern: str) -> dict[str, Path]:
    return {
        str(p.relative_to(run)): p
        for tree in ("results", "report")
        for p in sorted((run / tree).rglob(pattern))
    }


def test_every_array_is_bitwise_equal(two_runs):
    first, second = (files(run, "*.npz") for run in two_runs)
    assert first.keys() == second.keys() and len(first) > 10
    for name, path in first.items():
        a, b = np.load(path), np.load(second[name])
        assert a.files == b.files, name
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")


def test_every_file_but_the_timed_ones_has_the_same_bytes(two_runs):
    first, second = (files(run, "*") for run in two_runs)
    assert first.keys() == second.keys()
    different = [
        name
        for name, path in first.items()
        if path.is_file()
        and not name.endswith(".prov.json")
        and not name.endswith(TIMED)
        and path.read_bytes() != second[name].read_bytes()
    ]
    assert different == []
    model = "results/synthetic-digits/cnn3/model.keras"
    assert first[model].read_bytes() == second[model].read_bytes()  # no time of saving in it


def test_the_records_hashes_are_equal_and_metrics_differ_only_in_seconds(two_runs):
    first, second = (files(run, "*.prov.json") for run in two_runs)
    for name, path in first.items():
        a, b = json.loads(path.read_text()), json.loads(second[name].read_text())
        if not a["artifact"].endswith(TIMED):
            assert a["sha256"] == b["sha256"], name
        timed = [p for p in a["inputs"] if p.endswith(TIMED)]
        assert {k: v for k, v in a["inputs"].items() if k not in timed} == {
            k: v for k, v in b["inputs"].items() if k not in timed
        }, name
    for name, path in files(two_runs[0], "metrics.json").items():
        a, b = (
            json.loads(path.read_text()),
            json.loads(files(two_runs[1], "metrics.json")[name].read_text()),
        )
        a.pop("train_seconds"), b.pop("train_seconds")
        assert a == b, name

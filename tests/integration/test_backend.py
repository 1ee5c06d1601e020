"""The config's ``keras_backend`` reaches the jobs, and their records say so."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.integration.conftest import TINY, snakemake

pytestmark = pytest.mark.integration

CONFIG = {
    **TINY,
    "keras_backend": "jax",
    "datasets": {"digits": {"kind": "synthetic-digits", "n_train": 64, "n_test": 16, "seed": 1}},
}


def test_the_config_chooses_the_backend_of_every_job(tmp_path, monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the config wins over the shell
    (tmp_path / "jax.yaml").write_text(yaml.safe_dump(CONFIG))
    target = "results/digits/cnn3/model.keras"
    result = snakemake(tmp_path, target, "--configfile", str(tmp_path / "jax.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / f"{target}.prov.json").read_text())
    assert record["device"]["keras_backend"] == "jax"
    assert record["device"]["accelerators"]

"""Shared fixtures: tiny models and files written by the tests themselves (nothing downloaded)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = (
    Path(os.environ.get("FEATVIZ_SHARED_DATASETS", ROOT.parent / "shared" / "datasets")) / "mnist"
)

#: Written when the tests started the local SLURM cluster, which then stops when the whole
#: run ends, not when one pytest-xdist worker does: the SLURM executor plugin runs
#: `scontrol` when Snakemake imports it, and where SLURM is installed but its controller is
#: not running that waits 9 s in every Snakemake call (10 dry runs: 124 s against 33 s).
SLURM_STARTED = Path(tempfile.gettempdir()) / "featviz-tests-started-slurm"
#: The script that installs, starts, checks and stops the one-node SLURM cluster.
LOCAL_CLUSTER = ROOT / "profiles" / "slurm" / "local-cluster.sh"


def start_local_cluster(timeout: int) -> subprocess.CompletedProcess:
    """Start the one-node SLURM cluster (a start with it up changes nothing); if it was not
    up, it is stopped when the whole run ends (:func:`pytest_sessionfinish`), even if it
    did not start."""
    if subprocess.run(["bash", str(LOCAL_CLUSTER), "status"], capture_output=True).returncode:
        SLURM_STARTED.touch()
    return subprocess.run(
        ["bash", str(LOCAL_CLUSTER), "start"], capture_output=True, text=True, timeout=timeout
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """In the run's own process, before any test: where the cluster test would start the
    local SLURM cluster anyway (root, SLURM and the executor plugin installed), start it
    now, so that no Snakemake call of the run waits on a controller that is not there."""
    import importlib.util
    import shutil

    if (
        hasattr(session.config, "workerinput")
        or os.geteuid() != 0
        or shutil.which("slurmctld") is None
        or importlib.util.find_spec("snakemake_executor_plugin_slurm") is None
    ):
        return
    started = start_local_cluster(timeout=300)
    if started.returncode != 0:  # the cluster test says why, or skips
        print(f"\nlocal SLURM cluster not started: {started.stderr.strip()[-500:]}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the run's own process (not a worker's), once every test is done: stop the local
    SLURM cluster if the cluster test started it."""
    if hasattr(session.config, "workerinput") or not SLURM_STARTED.exists():
        return
    SLURM_STARTED.unlink()
    subprocess.run(["bash", str(LOCAL_CLUSTER), "stop"], capture_output=True, timeout=120)


@pytest.fixture
def shared_mnist() -> Path:
    """The canonical MNIST test files (../shared/datasets/mnist beside the clone).

    Required in CI; elsewhere the real-data tests are skipped when the folder
    is absent (set FEATVIZ_SHARED_DATASETS to point at another copy).
    """
    if not (SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared MNIST test files at {SHARED_MNIST}.")
        pytest.skip(f"no shared MNIST test files at {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def tiny_model():
    """A small cnn2-like model (conv1 4, conv2 6, fc1 8, logits 3) on 12x12 grey input."""
    from featviz.models.build import build_model
    from featviz.models.spec import Architecture

    arch = Architecture(conv_filters=(4, 6), kernel_size=3, dense_units=(8,), dropout=0.0)
    return build_model(arch, (12, 12, 1), 3, seed=3)


@pytest.fixture(scope="session")
def colour_model():
    """A small model on 10x10 colour input."""
    from featviz.models.build import build_model
    from featviz.models.spec import Architecture

    arch = Architecture(conv_filters=(5,), kernel_size=3, dense_units=(6,), dropout=0.0)
    return build_model(arch, (10, 10, 3), 4, seed=5)


def residual_model(side: int = 12, classes: int = 3):
    """A functional model that is not a plain stack: batch norm, a residual Add, global
    pooling, and layer names of its own (a model a user might have trained elsewhere)."""
    import keras

    inputs = keras.Input((side, side, 1), name="pixels")
    stem = keras.layers.Conv2D(
        6,
        3,
        padding="same",
        activation="relu",
        name="stem",
        kernel_initializer=keras.initializers.GlorotUniform(seed=1),
    )(inputs)
    norm = keras.layers.BatchNormalization(name="norm")(stem)
    branch = keras.layers.Conv2D(
        6,
        3,
        padding="same",
        activation="relu",
        name="branch",
        kernel_initializer=keras.initializers.GlorotUniform(seed=2),
    )(norm)
    merged = keras.layers.Add(name="sum")([stem, branch])
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(merged)
    scores = keras.layers.Dense(
        classes, name="scores", kernel_initializer=keras.initializers.GlorotUniform(seed=3)
    )(pooled)
    return keras.Model(inputs, scores)


@pytest.fixture(scope="session")
def tiny_judge(tmp_path_factory) -> Path:
    """A judge model file for the tiny model's data: another architecture, with batch norm."""
    from featviz.models.build import build_model
    from featviz.models.spec import Architecture

    judge = build_model(
        Architecture(conv_filters=(3,), kernel_size=3, dense_units=(6,), batch_norm=True),
        (12, 12, 1),
        3,
        seed=9,
    )
    path = tmp_path_factory.mktemp("judge") / "judge.keras"
    judge.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A prepared dataset the tiny model takes: 12x12 grey crops of generated digits (labels
    taken modulo 3, three classes), 90 test images."""
    import numpy as np

    from featviz.data.catalog import resolve
    from featviz.data.prepare import amplitude_spectrum, prepare

    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    prepare(
        resolve("sd", {"kind": "synthetic-digits"}),
        path,
        validation_fraction=0.1,
        n_train=40,
        n_test=90,
        seed=0,
    )
    arrays = dict(np.load(path))
    for split in ("train", "val", "test"):
        arrays[f"x_{split}"] = arrays[f"x_{split}"][:, 8:20, 8:20]
        arrays[f"y_{split}"] = arrays[f"y_{split}"] % 3
    arrays["class_names"] = np.array(["a", "b", "c"])
    arrays["amplitude_spectrum"] = amplitude_spectrum(arrays["x_train"])
    np.savez(path, **arrays)
    return path

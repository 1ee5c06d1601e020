"""The tiny demo DAG, run once per test session by the real ``snakemake`` command; the
integration tests read what it made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.tiny import sections

TINY = {
    "title": "tiny demo",
    "datasets": {
        "synthetic-digits": {"kind": "synthetic-digits", "n_train": 240, "n_test": 60, "seed": 1},
        "synthetic-house-numbers": {
            "kind": "synthetic-house-numbers",
            "n_train": 240,
            "n_test": 60,
            "seed": 2,
        },
    },
    "models": {"cnn3": {"conv_filters": [4, 6, 8], "kernel_size": 3, "dense_units": [16]}},
    "train": {"epochs": 1, "batch_size": 32},
    "judge": {"architecture": {"conv_filters": [4, 6], "kernel_size": 3, "dense_units": [16]}},
    "prior": {"latent_dim": 4, "epochs": 1},
    # every study at its tiny settings (tests.tiny), on these layers
    **sections(
        # A recipe other than the seed's, so that captions must say which one rendered.
        filters={
            "units": {"conv1": "all", "conv2": "all", "fc1": [0, 3]},
            "steps": 12,
            "parameterization": "fourier",
            "regularizers": {"blur": {"sigma": 0.5, "every": 4}},
        },
        convergence={"layers": ["conv2"], "steps": 200, "record_every": 5},
        joint={"triples": [[0, 1, 2]], "weights": [0.0, 0.5, 1.0], "divisions": 2, "steps": 12},
        directions={"layers": ["conv1", "conv3"], "count": 3, "steps": 12},
        ablation={
            "layers": ["conv1", "conv2"],
            "steps": 8,
            "confirm": False,  # the confirming seed is tested on a tiny model (tests/studies)
            "settings": {
                "none": {},
                "blur": {"regularizers": {"blur": {"sigma": 0.7}}},
                "transforms": {"transforms": "auto"},
                "decorrelated": {"decorrelate": True},
                "maco": {"parameterization": "maco"},
                "prior": {"parameterization": "prior"},
            },
            "combinations": {"blur+transforms": ["blur", "transforms"]},
        },
        dictionary={"layers": ["conv2"]},
        deconv={"layers": ["conv2"], "rows": 3},
        redundancy={"seeds": [0, 1], "variants": {"half": {"width": 0.5}}},
    ),
}


#: How long a test's Snakemake run may take before it counts as hung: a guard, not a measure
#: of speed. The tiny demo DAG took 645 s beside the other worker's runs in one fresh-clone
#: test run on the slow state of the 2-core Xeon, and more than 900 s in the next.
RUN_TIMEOUT = 1800


def snakemake(
    workdir: Path,
    *args: str,
    timeout: int = RUN_TIMEOUT,
    env: dict[str, str] | None = None,
    cores: int | None = 2,
) -> subprocess.CompletedProcess:
    """The package's Snakefile run by ``snakemake`` in ``workdir`` on ``cores`` (None: as
    ``args`` or a profile say, as on a cluster), with this interpreter's scripts on PATH."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(workdir),
            *(["--cores", str(cores)] if cores is not None else []),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=workdir,
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    # in the written order, not sorted: the plan must not depend on the order of settings
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    result = snakemake(workdir, "--configfile", str(workdir / "tiny.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]
    (workdir / "snakemake.out").write_text(result.stdout + result.stderr)
    return workdir

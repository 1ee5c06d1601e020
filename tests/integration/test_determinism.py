"""Two runs of a small DAG from a clean results/ give the same bits, records included: one
left alone, the other killed again and again along the way (training and rendering jobs
by SIGKILL or SIGTERM, or the whole run by SIGKILL) and taken up each time with
``--rerun-incomplete``. A job stopped by SIGTERM (a cluster's time limit) leaves no record
of a file it took back."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.conftest import snakemake
from tests.tiny import sections

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("determinism")]

SMALL = {
    "title": "determinism",
    "datasets": {
        "synthetic-digits": {"kind": "synthetic-digits", "n_train": 600, "n_test": 60, "seed": 1}
    },
    "models": {"cnn3": {"conv_filters": [4, 6, 8], "kernel_size": 3, "dense_units": [16]}},
    "train": {"epochs": 3, "batch_size": 32},
    "judge": {"architecture": {"conv_filters": [4], "kernel_size": 3, "dense_units": [8]}},
    "prior": {"latent_dim": 4, "epochs": 1},
    # every study at its tiny settings (tests.tiny), on these layers
    **sections(
        filters={"units": {"conv2": "all"}, "steps": 10, "transforms": "auto"},
        convergence={"layers": ["conv2"]},
        directions={"layers": ["conv1"]},
        ablation={
            "layers": ["conv2"],
            "settings": {
                "none": {},
                "blur": {"regularizers": {"blur": {"sigma": 0.7}}},
                "prior": {"parameterization": "prior"},
            },
        },
        dictionary={"layers": ["conv2"]},
        deconv={"layers": ["conv2"]},
        # conv2's six units in runs of four: two recommended_shard jobs and their merge
        recommended={"shard_units": 4},
    ),
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


#: The kills of the second run, in order: what the job's arguments hold, and the signal.
#: First the model's training once it has a checkpoint (so that it must resume), then
#: whichever training runs, then rendering jobs (each killed job runs again in the next
#: run, so there is one to kill). A whole run (``None``: Snakemake included, as a power
#: cut) always gets SIGKILL; a job gets a cluster's time limit (SIGTERM) or SIGKILL.
SCHEDULE = (
    (("train --rule train ", "--model-name cnn3 "), signal.SIGKILL),
    (("train",), None),
    (("train",), signal.SIGTERM),
    (("study ",), None),
    (("study ",), signal.SIGTERM),
    (("study ",), None),
)
KILLED: list[str] = []
#: Records left without their file after a job was stopped by a signal it can catch.
ORPHANS: list[str] = []


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path_factory.mktemp(name)
        (workdir / "small.yaml").write_text(yaml.safe_dump(SMALL))
        if name == "second":
            KILLED.extend(kill_along_the_way(workdir, random.Random(17)))
            assert len(KILLED) == len(SCHEDULE), KILLED
            assert "--model-name cnn3" in KILLED[0], KILLED
            assert any(" study " in k for k in KILLED), KILLED
        result = snakemake(
            workdir, "--configfile", str(workdir / "small.yaml"), "--rerun-incomplete"
        )
        assert result.returncode == 0, result.stderr[-4000:]
        runs.append(workdir)
    return runs


def kill_along_the_way(workdir: Path, rng: random.Random) -> list[str]:
    """Start the run, kill a job (or the whole run) at a random moment, take it up again;
    once for each entry of ``SCHEDULE``.

    A whole run's kill leaves the lock and the incomplete-job markers behind; a job's kill
    leaves Snakemake to clean up after a failed job. A run that ends before it starts a job
    to kill ends the loop, with Snakemake's last lines as the reason."""
    kills = []
    args = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    args += ["-d", str(workdir), "--cores", "2", "--configfile", str(workdir / "small.yaml")]
    for i, (wanted, sent) in enumerate(SCHEDULE):
        log = workdir / f"kill-{i}.log"
        with log.open("w") as out:
            run = subprocess.Popen(
                [*args, "--rerun-incomplete"],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=ENV,
            )
        while (job := wait_for_job(run, wanted, workdir)) is not None:
            pid, command = job
            if i == 0:
                wait_for(lambda job=pid: (workdir / CHECKPOINT).exists() or not alive(job), 120)
                time.sleep(rng.uniform(0.0, 0.1))  # an epoch takes longer
            else:
                time.sleep(rng.uniform(0.5, 3.0))
            if sent is None or alive(pid):
                break
            # The job ended while we waited: kill the run's next job instead, so that a
            # missed kill does not let the run finish and leave nothing to kill.
            wanted = ("",)
        if job is None:
            run.wait()
            tail = log.read_text()[-1500:]
            kills.append(f"no job to kill: the run ended ({run.returncode}) with {tail}")
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL) if sent is None else os.kill(pid, sent)
        run.wait(timeout=300)
        who = "run by SIGKILL" if sent is None else f"job by {sent.name}"
        kills.append(f"{who} during featviz {command[:100]}")
        if sent == signal.SIGTERM:
            ORPHANS.extend(
                str(r) for r in (workdir / "results").rglob("*.prov.json") if not has_its_file(r)
            )
        if sent is None:
            subprocess.run(
                [*args, "--unlock"], cwd=workdir, check=True, capture_output=True, env=ENV
            )
    return kills


def has_its_file(record: Path) -> bool:
    """Whether the file a record describes exists."""
    return record.with_name(record.name.removesuffix(".prov.json")).exists()


ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
CHECKPOINT = "results/synthetic-digits/cnn3/checkpoint/state.json"


def wait_for_job(run: subprocess.Popen, wanted: tuple[str, ...], workdir: Path):
    """The pid and arguments of a training or rendering job of the run whose arguments hold
    every string in ``wanted`` (the first one at their start)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        for pid, argv in processes(os.getpgid(run.pid)):
            # The console script runs as `python .../bin/featviz SUBCOMMAND ...`.
            names = [Path(a).name for a in argv[:2]]
            if "featviz" in names:
                command = " ".join(argv[names.index("featviz") + 1 :])
                if command.startswith(wanted[0]) and all(w in command for w in wanted[1:]):
                    return pid, command
        time.sleep(0.05)
    return None


def processes(group: int):
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if os.getpgid(int(entry.name)) == group and argv[0]:
                    yield int(entry.name), [a.decode() for a in argv if a]
            except (OSError, ProcessLookupError):
                continue


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_job_stopped_by_sigterm_leaves_no_record_without_its_file(two_runs):
    caught = {k.split()[2] for k in KILLED if k.startswith("job") and "SIGKILL" not in k}
    assert caught == {"SIGTERM"}, KILLED
    assert ORPHANS == []


def test_the_killed_training_resumed(two_runs):
    log = (two_runs[1] / "logs/train/synthetic-digits/cnn3.log").read_text()
    assert "resuming after epoch" in log, KILLED
    assert not (two_runs[1] / CHECKPOINT).parent.exists()


def files(run: Path, pattern: str) -> dict[str, Path]:
    return {
        str(p.relative_to(run)): p
        for tree in ("results", "report")
        for p in sorted((run / tree).rglob(pattern))
    }


def test_every_array_is_bitwise_equal(two_runs):
    first, second = (files(run, "*.npz") for run in two_runs)
    assert first.keys() == second.keys() and len(first) > 10
    assert "results/synthetic-digits/cnn3/recommended/shards/conv2/units-4-5.npz" in first
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

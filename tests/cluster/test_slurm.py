"""The workflow on SLURM: a one-node cluster on this machine (profiles/slurm/local-cluster.sh)
runs a small DAG that ``snakemake --workflow-profile profiles/slurm`` submits job by job.

Skipped where SLURM cannot be started here (not root, no apt, daemons that fail), with the
reason; in CI that is a failure instead."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import LOCAL_CLUSTER, ROOT, start_local_cluster
from tests.integration.conftest import RUN_TIMEOUT, snakemake
from tests.tiny import sections

pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("cluster")]

PROFILE = ROOT / "profiles" / "slurm"

#: Every study once, on one generated dataset and a one-conv-layer model, so that the DAG is
#: short (15 cluster jobs, each a few seconds of work) yet reaches the report and the atlas.
SMALL = {
    "title": "cluster run",
    "datasets": {
        "synthetic-digits": {"kind": "synthetic-digits", "n_train": 120, "n_test": 40, "seed": 1}
    },
    "models": {"cnn1": {"conv_filters": [4], "kernel_size": 3, "dense_units": [8]}},
    "train": {"epochs": 1, "batch_size": 32},
    "judge": {"architecture": {"conv_filters": [3], "kernel_size": 3, "dense_units": [8]}},
    "prior": {"latent_dim": 2, "epochs": 1},
    # every study at its tiny settings (tests.tiny), on the one conv layer, at fewer steps
    **sections(
        filters={"units": {"conv1": "all"}, "classes": False, "steps": 4, "restarts": 1},
        convergence={
            "layers": ["conv1"],
            "filters_per_layer": 1,
            "classes": False,
            "steps": 10,
            "record_every": 2,
        },
        joint={"layer": "conv1", "steps": 4},
        directions={"layers": ["conv1"], "steps": 4},
        ablation={
            "layers": ["conv1"],
            "classes": False,
            "steps": 4,
            "queries": 4,
            "settings": {"none": {}},
        },
        recommended={"steps": 4, "references": 2, "queries": 4},
        dictionary={"layers": ["conv1"], "steps": 4, "references": 2, "queries": 4},
        deconv={"layers": ["conv1"]},
        redundancy={"layers": ["conv1"]},
    ),
}

#: What the local cluster needs on the command line: its status comes from squeue (sacct
#: needs an accounting database), it has no accounts, and its jobs take 6 to 14 seconds
#: (Snakemake's start inside the job included), so the first status check comes after 15 s.
#: The plugin adds 10 s to the wait after each check that finds nothing finished and goes
#: back to 15 s after one that does: at 10 s most jobs were still running, and each step
#: of the DAG waited 30 s. Successful jobs' SLURM logs are kept for the checks.
LOCAL_CLUSTER_ARGS = (
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    # the first status check, and the interval after each round that finds a job finished
    # (it grows by 10 s a round that finds none): a local cluster answers at once
    "--slurm-init-seconds-before-status-checks",
    "5",
    "--slurm-keep-successful-logs",
)

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)")


def unavailable(reason: str):
    """Skip, saying why; in CI, where the cluster test must run, fail instead."""
    print(f"cluster test: {reason}", file=sys.stderr)
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the local SLURM cluster: {reason}")
    pytest.skip(reason)


def job_counts(dry_run: str) -> Counter:
    """``rule -> jobs`` from the job stats a dry run prints."""
    table = dry_run.split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter(
        {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}
    )


@pytest.fixture(scope="session")
def local_slurm():
    """The one-node SLURM cluster, started by the script (and stopped once every test is
    done, if it started it)."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    try:
        started = start_local_cluster(timeout=900)
    except subprocess.TimeoutExpired:
        unavailable(f"{LOCAL_CLUSTER.name} start did not finish within 15 minutes")
    print(started.stdout + started.stderr, file=sys.stderr)
    if started.returncode != 0:
        unavailable(f"{LOCAL_CLUSTER.name} could not start SLURM: {started.stderr.strip()[-1500:]}")


@pytest.fixture(scope="module")
def cluster_run(local_slurm, tmp_path_factory):
    """The small DAG on the cluster: its working directory, the dry run's job counts, and
    Snakemake's log of the real run."""
    workdir = tmp_path_factory.mktemp("cluster")
    config = workdir / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    common = ("--workflow-profile", str(PROFILE), "--configfile", str(config))
    dry = snakemake(workdir, *common, "-n", timeout=120, cores=None)
    assert dry.returncode == 0, dry.stderr[-4000:]
    counts = job_counts(dry.stdout + dry.stderr)
    run = snakemake(workdir, *common, *LOCAL_CLUSTER_ARGS, timeout=RUN_TIMEOUT, cores=None)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    return workdir, counts, log


def test_every_job_is_submitted_with_sbatch(cluster_run):
    workdir, counts, log = cluster_run
    # `all` only gathers the targets: Snakemake finishes it itself.
    expected = counts - Counter({"all": counts["all"]})
    submitted = SUBMITTED.findall(log)
    slurm_ids = [slurm_id for _, slurm_id, _ in submitted]
    assert len(submitted) == sum(expected.values()), log[-4000:]
    assert len(set(slurm_ids)) == len(slurm_ids)
    assert len({job for job, _, _ in submitted}) == len(submitted)
    # SLURM wrote each job's log where the plugin asked: .snakemake/slurm_logs/rule_<rule>/...
    logs = workdir / ".snakemake" / "slurm_logs"
    per_rule = Counter()
    for _, slurm_id, path in submitted:
        path = Path(path)
        assert path.is_file() and path.name == f"{slurm_id}.log", path
        assert logs in path.parents, path
        per_rule[path.relative_to(logs).parts[0].removeprefix("rule_")] += 1
    assert per_rule == expected
    print(f"SLURM job ids: {', '.join(slurm_ids)}", file=sys.stderr)


def test_the_report_names_every_figure(cluster_run):
    workdir = cluster_run[0]
    report = (workdir / "report" / "report.md").read_text()
    figures = re.findall(r"\]\(\.\./(results/[^)]+\.png)\)", report)
    for study in ("activations", "filters", "convergence", "recommended", "deconv"):
        assert f"results/synthetic-digits/cnn1/{study}/conv1.png" in figures, study
    assert "results/synthetic-digits/cnn1/training_curve.png" in figures
    for figure in figures:
        assert (workdir / figure).is_file(), figure
    assert (workdir / "results" / "atlas" / "index.html").is_file()


def test_provenance_records_the_cluster_jobs(cluster_run):
    workdir = cluster_run[0]
    report = (workdir / "report" / "report.md").read_text()
    for figure in re.findall(r"\]\(\.\./(results/[^)]+\.png)\)", report):
        record = json.loads((workdir / f"{figure}.prov.json").read_text())
        assert record["artifact"] == figure
        assert record["rule"] and record["command"].startswith("featviz ")
    gathered = json.loads((workdir / "report" / "provenance.json").read_text())["records"]
    assert "results/synthetic-digits/cnn1/filters/conv1.png" in gathered
    verify = subprocess.run(
        [
            str(Path(sys.executable).parent / "featviz"),
            "provenance",
            "verify",
            str(workdir),
            "--configfile",
            str(workdir / "small.yaml"),
            "--allow-dirty",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr

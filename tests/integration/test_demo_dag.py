"""Runs the real ``snakemake`` command on a tiny version of the demo configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.conftest import snakemake

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("demo")]


def test_report_and_every_figure_exist(demo_run):
    report = (demo_run / "report" / "report.md").read_text()
    figures = [
        line.split("](")[1].rstrip(")")
        for line in report.splitlines()
        if line.startswith("![Figure")
    ]
    # every figure of every job's manifest, numbered in the report
    from featviz import studies
    from featviz.report.writeup import LEADING_SECTIONS
    from featviz.results import read_manifest

    record = json.loads((demo_run / "report" / "report.md.prov.json").read_text())
    manifests = [demo_run / m for m in record["inputs"] if m.endswith(".result.json")]
    made = sum(len(read_manifest(m).figures) for m in manifests)
    assert made > 2 * len(studies.REGISTRY) and len(figures) == made
    for rel in figures:
        path = (demo_run / "report" / rel).resolve()
        assert path.stat().st_size > 1000, rel
        assert path.with_suffix(".pdf").stat().st_size > 1000, rel
    assert f"**Figure {made}.**" in report and f"**Figure {made + 1}.**" not in report
    # every heading starts its own line (a section template must end its paragraphs)
    assert not [line for line in report.splitlines() if "### " in line.lstrip("#")[1:]]
    # the seed's order: the models, then every study's sections in registry order
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    titles = {**LEADING_SECTIONS, **studies.sections()}
    assert headings == ["## Models", *(f"## {t}" for t in titles.values())]
    assert "The seed optimized for 20,000 steps" in report
    assert "Generated data." in report


def test_the_run_ends_saying_where_to_look(demo_run):
    """Snakemake's last lines are followed by the paths of the report and the atlas."""
    out = (demo_run / "snakemake.out").read_text()
    tail = out[out.index("featviz: the run finished") :]
    assert "report/report.md  (the report)" in tail
    assert "results/atlas/index.html" in tail


def featviz(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["featviz", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def test_the_runs_cost_is_read_from_its_records(demo_run, tmp_path):
    """``featviz times``: every job Snakemake ran, by rule; one worker takes them all in turn,
    enough workers take the critical path, a chain of jobs each reading the one before."""
    import re

    from featviz.run_times import critical_path, predecessors, read_jobs

    out = (demo_run / "snakemake.out").read_text()
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:", 1)[1], re.M))
    done = featviz("times", ".", "--workers", "1", "2", "1000", "--json", "t.json", cwd=tmp_path)
    assert done.returncode != 0 and "no provenance record" in done.stderr
    done = featviz(
        "times", str(demo_run), "--workers", "1", "2", "1000", "--json", "t.json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads((tmp_path / "t.json").read_text())
    ran = {row["rule"]: str(row["jobs"]) for row in figures["rules"]}
    assert ran == {k: v for k, v in planned.items() if k not in ("all", "total")}
    wall = figures["projected_wall_seconds"]
    assert wall["1"] == pytest.approx(figures["job_seconds"])
    assert wall["1000"] == pytest.approx(figures["critical_path"]["seconds"])
    assert wall["1000"] <= wall["2"] <= wall["1"]
    jobs = read_jobs(demo_run)
    _, chain = critical_path(jobs)
    index = {job.command: i for i, job in enumerate(jobs)}
    before = predecessors(jobs)
    assert chain[0].rule == "prepare" and chain[-1].rule == "atlas"
    for first, then in zip(chain, chain[1:], strict=False):
        assert index[first.command] in before[index[then.command]], (first.rule, then.rule)
    assert "Critical path:" in done.stdout and "| rule | jobs | seconds |" in done.stdout


def test_provenance_records_verify(demo_run, tmp_path):
    record = json.loads(
        (demo_run / "results/synthetic-digits/cnn3/filters/conv2.png.prov.json").read_text()
    )
    assert record["rule"] == "filters" and record["params"]["filters"]["steps"] == 12
    assert record["params"]["filters"]["units"] == {"conv2": "all"}  # the job's slice
    assert record["inputs"] and record["caption"].startswith("Images that maximize")
    assert record["started"] <= record["finished"] and record["outputs"]
    assert "keras_backend" in record["device"] and record["git"]["commit"]
    gathered = json.loads((demo_run / "report" / "provenance.json").read_text())["records"]
    assert "results/synthetic-digits/cnn3/filters/conv2.png" in gathered
    # from another directory, with the configuration that made it
    out = featviz(
        "provenance",
        "verify",
        str(demo_run),
        "--allow-dirty",
        "--configfile",
        str(demo_run / "tiny.yaml"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert out.stdout.strip().endswith(" 0 problems")


@pytest.mark.parametrize(
    "tamper, expected",
    [
        ("pixel", "results/synthetic-digits/cnn3/filters/conv1.png: SHA-256"),
        ("array", "results/synthetic-digits/data/dataset.npz: an input whose SHA-256"),
        ("config", "made with filters.steps = 12, but the configuration now gives 13"),
        (
            "missing",
            "results/synthetic-digits/cnn3/joint/conv1-0-1.npz: missing: the record is stale",
        ),
        ("no record", "results/synthetic-digits/cnn3/joint/conv1-0-1.npz: no provenance record of"),
        (
            "gone",
            "results/synthetic-digits/cnn3/joint/conv1-0-1.npz: an output of this job that is gone",
        ),
        ("malformed", "fc2.csv.prov.json: not a readable provenance record"),
        ("dirty", "made from a checkout with uncommitted changes"),
        ("commit", "made by commit 0000000000000000000000000000000000000000, which featviz's"),
        ("chain", "results/synthetic-digits/cnn3/model.keras: an input that no record produced"),
        (
            "code",
            "results/synthetic-digits/cnn3/recommended/conv1.png: made by another version of "
            "featviz.units (SHA-256 000000000000)",
        ),
        (
            "target",
            "results/atlas/index.html: missing: the configuration asks for it, and the run did "
            "not make it",
        ),
    ],
)
def test_verification_finds_each_broken_link(demo_run, tmp_path, tamper, expected):
    import shutil

    import numpy as np

    run = tmp_path / "run"
    shutil.copytree(demo_run, run, ignore=shutil.ignore_patterns(".snakemake"))
    base = run / "results/synthetic-digits"
    config = run / "tiny.yaml"
    args = ["provenance", "verify", str(run), "--allow-dirty"]
    if tamper == "pixel":
        png = base / "cnn3/filters/conv1.png"
        data = bytearray(png.read_bytes())
        data[-20] ^= 1
        png.write_bytes(bytes(data))
    elif tamper == "array":
        arrays = dict(np.load(base / "data/dataset.npz"))
        arrays["x_test"][0, 0, 0, 0] ^= 1
        np.savez(base / "data/dataset.npz", **arrays)
    elif tamper == "config":
        edited = yaml.safe_load(config.read_text())
        edited["filters"]["steps"] = 13
        config.write_text(yaml.safe_dump(edited))
        args += ["--configfile", str(config)]
    elif tamper == "missing":
        (base / "cnn3/joint/conv1-0-1.npz").unlink()  # as a failed rerun leaves it
    elif tamper == "no record":
        (base / "cnn3/joint/conv1-0-1.npz.prov.json").unlink()
    elif tamper == "gone":
        (base / "cnn3/joint/conv1-0-1.npz").unlink()
        (base / "cnn3/joint/conv1-0-1.npz.prov.json").unlink()
    elif tamper == "malformed":
        (base / "cnn3/filters/fc2.csv.prov.json").write_text("{not json")
    elif tamper == "target":
        # a second run in the same folder failed and Snakemake deleted the atlas: every file
        # left is consistent, but the configuration asks for more
        shutil.rmtree(run / "results" / "atlas")
        args += ["--configfile", str(config)]
    elif tamper == "code":
        # one figure made before an edit of the scoring module that every other job saw
        record = base / "cnn3/recommended/conv1.png.prov.json"
        rec = json.loads(record.read_text())
        rec["code"]["modules"]["featviz.units"] = "0" * 64
        record.write_text(json.dumps(rec))
    elif tamper in ("dirty", "commit"):
        record = base / "cnn3/filters/conv2.png.prov.json"
        rec = json.loads(record.read_text())
        rec["git"] = (
            {"commit": "0" * 40, "dirty": False}
            if tamper == "commit"
            else {"commit": rec["git"]["commit"], "dirty": True}
        )
        record.write_text(json.dumps(rec))
        if tamper == "dirty":
            args.remove("--allow-dirty")
    elif tamper == "chain":
        for record in (base / "cnn3").glob("*.prov.json"):
            record.unlink()  # the training's records gone: what read its model has no upstream
    out = featviz(*args, cwd=tmp_path)
    assert out.returncode == 1
    assert expected in out.stdout, out.stdout[-3000:]
    # a file gone: verify says how to make it again
    assert ("Make it again" in out.stdout) == (tamper in ("missing", "gone", "target"))


def test_the_commands_verify_prints_remake_a_deleted_file(demo_run, tmp_path):
    """A deleted intermediate is not remade by a rerun (nothing asked for needs it anew);
    verify names it and prints the command that makes it again, bit for bit."""
    import shlex
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run, symlinks=True)
    gone = run / "results/synthetic-digits/cnn3/joint/conv1-0-1.npz"
    before = gone.read_bytes()
    gone.unlink()
    args = ["provenance", "verify", str(run), "--allow-dirty", "--configfile"]
    out = featviz(*args, str(run / "tiny.yaml"), cwd=tmp_path)
    assert out.returncode == 1
    advice = out.stdout.split("Make it again, then what reads it:\n", 1)[1].splitlines()
    command = shlex.split(advice[0])
    assert command[:3] == ["snakemake", "--cores", "2"] and command[3:5] == ["-d", str(run)]
    assert command[5:] == [str(gone.relative_to(run)), "--configfile", str(run / "tiny.yaml")]
    result = snakemake(run, *command[5:])
    assert result.returncode == 0, result.stderr[-3000:]
    assert gone.read_bytes() == before


def test_editing_a_studys_code_reruns_its_jobs_and_what_reads_them(demo_run, tmp_path):
    """A comment added to the deconv study's module: Snakemake's parameter trigger (the
    code digest of each rule) reruns the deconv jobs, then the report and the atlas; the
    other studies, whose code did not change, stay."""
    import re
    import shutil

    shutil.copytree(ROOT / "src" / "featviz", tmp_path / "featviz")
    module = tmp_path / "featviz" / "studies" / "deconv.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    env = {"PYTHONPATH": str(tmp_path)}
    result = snakemake(demo_run, "-n", "--configfile", str(demo_run / "tiny.yaml"), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:", 1)[1], re.M))
    assert {k for k in jobs if k not in ("all", "total", "pdf")} == {"deconv", "report", "atlas"}
    assert jobs["deconv"] == "2"


def test_the_ablation_split_into_shard_jobs_makes_the_same_files(demo_run, tmp_path):
    """The tiny run's ablation ran whole; split (its plan key only), Snakemake plans a job per
    shard and a merging job, whose files equal the whole job's bit for bit."""
    import re
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run, symlinks=True)
    base = "results/synthetic-digits/cnn3/ablation"
    shutil.rmtree(run / base)
    split = yaml.safe_load((demo_run / "tiny.yaml").read_text())
    split["ablation"]["split"] = True
    (run / "split.yaml").write_text(yaml.safe_dump(split, sort_keys=False))
    target = f"{base}/recipes.result.json"
    args = (target, "--configfile", str(run / "split.yaml"))
    planned = snakemake(run, "-n", *args)
    assert planned.returncode == 0, planned.stderr[-2000:]
    out = planned.stdout + planned.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:", 1)[1], re.M))
    # three groups (pixels, maco, prior; no decorrelated colour on grey data) x three layers
    # (conv1, conv2 and the classes' fc2), then the ablation's own job
    assert jobs == {"ablation_shard": "9", "ablation": "1", "total": "10"}
    assert f"{base}/shards/recipes/0-maco-fc2.npz" in out
    result = snakemake(run, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    made = sorted(p.relative_to(run / base) for p in (run / base).glob("*") if p.is_file())
    whole = sorted(p.relative_to(demo_run / base) for p in (demo_run / base).glob("*"))
    assert made == whole
    for name in made:
        if not name.name.endswith(".prov.json"):  # records name their inputs and times
            assert (run / base / name).read_bytes() == (demo_run / base / name).read_bytes(), name
    record = json.loads((run / base / "recipes.npz.prov.json").read_text())
    assert sum("/shards/recipes/" in path for path in record["inputs"]) == 9
    # a shard's record names the rule that made it, as featviz times sums it
    shard = json.loads((run / base / "shards/recipes/0-maco-fc2.npz.prov.json").read_text())
    assert (record["rule"], shard["rule"]) == ("ablation", "ablation_shard")


def test_changing_one_setting_reruns_only_what_reads_it(demo_run, tmp_path):
    import re

    edited = yaml.safe_load((demo_run / "tiny.yaml").read_text())
    edited["filters"]["steps"] = 13
    (tmp_path / "edited.yaml").write_text(yaml.safe_dump(edited))
    result = snakemake(demo_run, "-n", "--configfile", str(tmp_path / "edited.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:", 1)[1], re.M))
    # filters reruns (4 layers, 2 datasets); the deconvnet and the recommended recipe's
    # renders read it, and the dictionary reads those; then the report and the atlas
    assert {k for k in jobs if k not in ("all", "total", "pdf")} == {
        "filters",
        "deconv",
        "recommended",
        "dictionary",
        "report",
        "atlas",
    }
    assert jobs["filters"] == "8"


def test_filters_rose_and_arrays_have_shapes(demo_run):
    import numpy as np

    data = np.load(demo_run / "results/synthetic-house-numbers/cnn3/filters/conv1.npz")
    assert data["images"].shape == (4, 32, 32, 3)
    alive = data["traces"][:, 0] > 0
    assert (data["values"][alive] > data["traces"][alive, 0]).all()
    fc1 = np.load(demo_run / "results/synthetic-digits/cnn3/filters/fc1.npz")
    assert fc1["indices"].tolist() == [0, 3] and fc1["restart_values"].shape == (2, 2)
    classes = np.load(demo_run / "results/synthetic-digits/cnn3/filters/fc2.npz")
    assert classes["images"].shape == (10, 28, 28, 1)
    assert (classes["values"] > classes["traces"][:, 0]).all()
    maps = np.load(demo_run / "results/synthetic-digits/cnn3/activations/conv2.npz")
    assert maps["maps"].shape == (2, 14, 14, 6)


def test_html_report_with_captions(demo_run, tmp_path):
    # written outside the run's folder: a file there without a record would fail verify
    out = tmp_path / "report.html"
    result = snakemake(demo_run, "--configfile", str(demo_run / "tiny.yaml"), "--report", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    html = out.read_text(errors="replace")
    assert len(html) > 10_000
    # the captions the studies wrote, the same text as in report.md
    markdown = (demo_run / "report" / "report.md").read_text()
    captions = [
        line.split("** ", 1)[1].rsplit(" ([PDF]", 1)[0]
        for line in markdown.splitlines()
        if line.startswith("**Figure")
    ]
    fourier = [c for c in captions if "of conv2 of cnn3 on synthetic-digits: 12 Adam" in c]
    assert len(fourier) == 1 and "Fourier 1/f^1 parameterization" in fourier[0]
    assert "blur 0.5/4" in fourier[0] and "pixel" not in fourier[0]
    tradeoffs = [c for c in captions if c.startswith("Trade-off")]
    assert len(tradeoffs) == 4
    for caption in [fourier[0], *tradeoffs]:  # the HTML holds captions as JSON strings
        assert caption in html or json.dumps(caption)[1:-1] in html, caption


def test_paper_dry_run_lists_the_whole_dag(tmp_path):
    result = snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config" / "paper.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    for rule in ("download", "prepare", "train", "activations", "filters", "report"):
        assert f"rule {rule}:" in out
    assert (
        "resources/svhn/train_32x32.mat" in out
        and "resources/mnist/t10k-images-idx3-ubyte.gz" in out
    )


def test_convergence_plateaus_lie_within_the_run(demo_run):
    import csv

    import numpy as np

    for layer in ("conv2", "fc2"):
        base = demo_run / "results/synthetic-digits/cnn3/convergence"
        data = np.load(base / f"{layer}.npz")
        assert data["steps"][0] == 0 and data["steps"][-1] == 200
        assert data["traces"].shape == (2 if layer == "conv2" else 10, len(data["steps"]))
        with open(base / f"{layer}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(data["traces"])
        for row in rows:
            if row["plateau_step"]:
                assert 0 <= int(row["plateau_step"]) <= 200
        assert (data["traces"][:, -1] >= data["traces"][:, 0]).all()


def test_joint_and_directions_outputs(demo_run):
    import numpy as np

    base = demo_run / "results/synthetic-house-numbers/cnn3"
    pair = np.load(base / "joint/conv1-0-1.npz")
    assert pair["images"].shape == (3, 32, 32, 3) and pair["weights"].shape == (3, 2)
    triple = np.load(base / "joint/conv1-0-1-2.npz")
    assert triple["weights"].shape == (6, 3)
    directions = np.load(base / "directions/conv3.npz")
    assert directions["directions"].shape == (3, 8)


def test_ablation_ranks_the_settings_and_the_report_names_the_winner(demo_run):
    import csv

    report = (demo_run / "report" / "report.md").read_text()
    for dataset, channels in (("synthetic-digits", 1), ("synthetic-house-numbers", 3)):
        base = demo_run / f"results/{dataset}/cnn3/ablation"
        recommended = json.loads((base / "recipes_recommended.json").read_text())
        with open(base / "recipes.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        settings = {r["setting"] for r in rows}
        expected = {"none", "blur", "transforms", "maco", "prior", "blur+transforms"}
        assert settings == expected | ({"decorrelated"} if channels == 3 else set())
        best = max(rows, key=lambda r: float(r["score"]))
        assert 0 <= float(best["two_afc_mean"]) <= 1 and 0 <= float(best["transfer_mean"]) <= 1
        # per layer: the best setting or the simplest one tied with it, in the report's table
        numbers = json.loads((base / "recipes.result.json").read_text())["numbers"]
        layers = {row["layer"]: row for row in numbers["layers"]}
        assert set(layers) == {*recommended["layers"], "every layer"}
        assert recommended["setting"] == layers["every layer"]["setting"]
        assert layers["every layer"]["best"] == best["setting"]
        for layer, row in layers.items():
            assert row["setting"] in row["tied"] and row["tied"][0] == row["best"]
            assert f"| {layer} | {row['targets']} | **{row['setting']}** |" in report
            if layer != "every layer":
                assert recommended["layers"][layer]["setting"] == row["setting"]
    assert "| synthetic-digits | judge |" in report


def test_deconvnet_and_redundancy(demo_run):
    import numpy as np

    base = demo_run / "results/synthetic-digits/cnn3"
    projected = np.load(base / "deconv/conv2.npz")
    assert projected["deconvnet"].shape == (6, 9, 28, 28, 1)
    assert np.abs(projected["guided"]).max() > 0
    rendered = np.load(base / "filters/conv2.npz")
    np.testing.assert_array_equal(projected["top"], rendered["top"])
    report = (demo_run / "report" / "report.md").read_text()
    assert "| variant | parameters | test accuracy | seeds |" in report
    assert "| half |" in report and "| full |" in report
    assert (demo_run / "results/synthetic-digits/cnn3.half.s1/metrics.json").exists()

"""The docs' performance tables are the ones the benchmarks' JSON files give."""

import json

import numpy as np
import pytest

from benchmarks.readme_table import (
    END,
    MEASURES_PAGE,
    PEERS,
    PERFORMANCE_PAGE,
    REACH_END,
    REACH_START,
    START,
    reach_table,
    table,
)
from tests.conftest import ROOT


def _load(name):
    path = ROOT / "benchmarks" / name
    return json.loads(path.read_text()) if path.is_file() else None


def test_performance_table_matches_benchmark_json():
    report = _load("engine_speed.json")
    job = _load("job_speed.json")
    page = PERFORMANCE_PAGE.read_text()
    section = page.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == table(report, job)
    assert set(report["cases"]) >= {"conv2", "conv3", "class"}
    for case in report["cases"].values():
        assert {"featviz", "naive"} <= set(case["methods"])


def test_job_benchmark_rows():
    """Each measured shape of the paper's filters job has its fixed-steps row, and a row
    per peer it was compared with, extrapolated to the same steps."""
    job = _load("job_speed.json")
    if job is None:
        return
    assert not job["quick"]
    lines = table(_load("engine_speed.json"), job).splitlines()
    for shape, entry in job["shapes"].items():
        rows = [line for line in lines if line.startswith(f"| paper `filters` job, {shape} ")]
        fixed = entry["fixed"]
        assert fixed["target_steps"] == 20_000
        assert any("20,000 steps" in row for row in rows)
        for name, seconds in entry.get("peers", {}).get("job_seconds_at_target", {}).items():
            if name not in PEERS:
                continue
            assert seconds > 0
            assert sum(1 for row in rows if f"| {PEERS[name]}, " in row) == 1


def test_job_targets_each_met_or_explained():
    """Every target of the job is recorded for each measured shape, met, or not met with the
    measured reason (the work against the machine's peak, where the time went)."""
    job = _load("job_speed.json")
    if job is None:
        return
    for shape, entry in job["shapes"].items():
        targets = entry["targets"]
        layers = entry["peers"]["layers"]
        assert {"fixed_job_seconds", *(f"peers_{layer}" for layer in layers)} <= set(targets)
        assert set(layers) == {"conv1", "conv2", "conv3", "fc1", "fc2"}
        for name, target in targets.items():
            assert isinstance(target["met"], bool), (shape, name)
            if not target["met"] and name != "auto_objective_ratio":
                assert "GFLOP/s" in target["reason"], (shape, name)


def test_peer_ratios_are_medians_of_their_runs():
    """featviz's rate over each peer's is the median of at least three runs, each taken from
    the slope of the line through two step counts (without the fixed part of a call)."""
    job = _load("job_speed.json")
    if job is None:
        return
    for entry in job["shapes"].values():
        lo, hi = entry["peers"]["steps"]
        assert lo < hi
        for r in entry["peers"]["layers"].values():
            assert len(r["runs"]) == r["repeats"] >= 3
            ours = [n for n in ("featviz", "featviz_bf16") if f"{n}_rate_over" in r]
            for name, mine in ((n, m) for n in PEERS for m in ours):
                ratios = [
                    run[mine]["image_steps_per_s"] / run[name]["image_steps_per_s"]
                    for run in r["runs"]
                ]
                assert r[f"{mine}_rate_over"][name] == float(np.median(ratios))
                assert r[f"{mine}_rate_over_range"][name] == [min(ratios), max(ratios)]
                for run in r["runs"]:
                    seconds = run[name]["seconds"]
                    slope = (seconds[str(hi)] - seconds[str(lo)]) / (r["images"] * (hi - lo))
                    assert np.isclose(run[name]["image_steps_per_s"], 1 / slope)


def test_reach_table_matches_its_json():
    """The starts' table is the one benchmarks/reach.json gives, and the defaults the schema
    names are the ones that left no live unit at its start or below its best test image."""
    from featviz.settings import defaults

    reach = _load("reach.json")
    page = MEASURES_PAGE.read_text()
    section = page.split(REACH_START, 1)[1].split(REACH_END, 1)[0].strip()
    assert section == reach_table(reach)
    chosen = defaults("directions")
    name = f"{chosen['start']} + {chosen['relu_gradient'].replace('_', '-')}"
    for total in (t for t in reach["totals"] if t["remedy"] == name):
        assert total["stuck"] == 0 and total["below_best"] == 0


def test_dictionary_table_matches_its_json():
    """The learners' table is the one benchmarks/dictionary_fit.json gives, and the schema's
    default learner is the one that recovered planted directions best and explained most of
    every demo layer's activations."""
    from benchmarks.readme_table import DICTIONARY_END, DICTIONARY_START, dictionary_table
    from featviz.settings import defaults

    fits = _load("dictionary_fit.json")
    page = MEASURES_PAGE.read_text()
    section = page.split(DICTIONARY_START, 1)[1].split(DICTIONARY_END, 1)[0].strip()
    assert section == dictionary_table(fits)
    chosen = defaults("dictionary")["method"]
    by = {(r["dataset"], r["layer"], r["method"]): r for r in fits["rows"]}
    for (dataset, layer, method), row in by.items():
        if method != chosen:
            ours = by[(dataset, layer, chosen)]
            assert ours["explained"] >= row["explained"], (dataset, layer)
            if "min_cosine" in row:
                assert ours["min_cosine"] >= row["min_cosine"]


def test_accentuation_table_matches_its_json():
    """The anchors' table is the one benchmarks/accentuation.json gives, and the ablation's
    accentuation setting is the anchor the sweep chose: of those under which every sampled
    live unit ends above its best test image, the one that moves the pixels least."""
    from benchmarks.accentuation import VARIANTS
    from benchmarks.readme_table import ACCENTUATION_END, ACCENTUATION_START, accentuation_table
    from featviz.settings import defaults

    sweep = _load("accentuation.json")
    page = MEASURES_PAGE.read_text()
    section = page.split(ACCENTUATION_START, 1)[1].split(ACCENTUATION_END, 1)[0].strip()
    assert section == accentuation_table(sweep)
    rows = sweep["rows"]
    keeping = [
        name
        for name in VARIANTS
        if VARIANTS[name] and all(r["above_best"] == 1.0 for r in rows if r["variant"] == name)
    ]
    moved = {n: np.mean([r["pixels_moved"] for r in rows if r["variant"] == n]) for n in keeping}
    chosen = VARIANTS[min(moved, key=moved.get)]
    setting = defaults("ablation")["settings"]["accentuation"]["regularizers"]
    assert {k: v for k, v in setting.items() if v} == chosen


def test_paper_dag_table_matches_its_json():
    """The paper-sized DAG's table is the one benchmarks/paper_dag.json gives; every job of
    the DAG is priced, and the projections cannot beat the critical path or the total."""
    from benchmarks.readme_table import PAPER_DAG_END, PAPER_DAG_START, paper_dag_table

    dag = _load("paper_dag.json")
    if dag is None:
        return
    page = PERFORMANCE_PAGE.read_text()
    section = page.split(PAPER_DAG_START, 1)[1].split(PAPER_DAG_END, 1)[0].strip()
    assert section == paper_dag_table(dag)
    assert sum(r["jobs"] for r in dag["rules"]) == dag["jobs"]
    assert set(dag["priced_by_rule"]) == {r["rule"] for r in dag["rules"]}
    walls = dag["projected_wall_seconds"]
    assert walls["1"] == pytest.approx(dag["job_seconds"])
    for n in ("2", "8"):
        assert dag["critical_path"]["seconds"] <= walls[n] + 1e-6
        assert walls[n] >= dag["job_seconds"] / int(n) - 1e-6


def test_core_bound_table_matches_its_json():
    """The table of the paper's training and render steps against the machine's peak is the
    one benchmarks/core_bound.json gives, and each figure is the median of its runs."""
    from benchmarks.readme_table import CORE_BOUND_END, CORE_BOUND_START, core_bound_table

    bound = _load("core_bound.json")
    if bound is None:
        return
    assert not bound["quick"]
    page = PERFORMANCE_PAGE.read_text()
    section = page.split(CORE_BOUND_START, 1)[1].split(CORE_BOUND_END, 1)[0].strip()
    assert section == core_bound_table(bound)
    for n, summary in bound["summary"].items():
        runs = [run for run in bound["runs"] if str(run["threads"]) == n]
        assert len(runs) == bound["repeats"] >= 3
        for kind in ("train", "render"):
            for shape, entry in summary[kind].items():
                steps = [run[kind][shape]["ms_per_step"] for run in runs]
                assert entry["ms_per_step"] == pytest.approx(np.median(steps))
                assert 0 < entry["share_of_peak"] <= 1

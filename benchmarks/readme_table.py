"""Write the docs' performance table from ``benchmarks/engine_speed.json`` and, when
it exists, ``benchmarks/job_speed.json`` (the paper's ``filters`` job, whole); and the
table of starts from ``benchmarks/reach.json``.

The tables sit between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in
``docs/performance.md``, between ``<!-- reach:start -->`` and ``<!-- reach:end -->`` (and the
``dictionary`` and ``accentuation`` markers, from ``benchmarks/dictionary_fit.json`` and
``benchmarks/accentuation.json``) in ``docs/measures.md``, and the paper DAG's (the
``paper-dag`` and ``core-bound`` markers, from ``benchmarks/paper_dag.json`` and
``benchmarks/core_bound.json``) in ``docs/performance.md``; this script replaces what is
there, so the docs never quote a number the benchmark did not produce.
``tests/test_benchmark_table.py`` checks that they agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
REACH_START, REACH_END = "<!-- reach:start -->", "<!-- reach:end -->"
DICTIONARY_START, DICTIONARY_END = "<!-- dictionary:start -->", "<!-- dictionary:end -->"
ACCENTUATION_START, ACCENTUATION_END = "<!-- accentuation:start -->", "<!-- accentuation:end -->"
PAPER_DAG_START, PAPER_DAG_END = "<!-- paper-dag:start -->", "<!-- paper-dag:end -->"
CORE_BOUND_START, CORE_BOUND_END = "<!-- core-bound:start -->", "<!-- core-bound:end -->"
LABELS = {
    "featviz": "featviz `render` (graph mode, truncated, channel-sliced)",
    "featviz_regularized": "featviz with `default_set()` regularizers",
    "naive": "naive: one filter at a time, eager",
    "tf_keras_vis": "tf-keras-vis 0.8.7, one batch",
}
CASES = {"conv2": "64 conv2 filters", "conv3": "128 conv3 filters", "class": "10 class logits"}


#: The page each table is written into.
PERFORMANCE_PAGE = ROOT / "docs" / "performance.md"
MEASURES_PAGE = ROOT / "docs" / "measures.md"

PEERS = {"tf_keras_vis": "tf-keras-vis 0.8.7", "xplique": "Xplique 2.0.2"}
TARGETS = {
    "fixed_job_seconds": "whole job at fixed steps, seconds",
    "auto_job_seconds": "whole job with `steps: auto`, seconds",
    "auto_objective_ratio": "`steps: auto`'s mean final objective",
    **{f"peers_{layer}": f"{layer} rate" for layer in ("conv1", "conv2", "conv3", "fc1")},
    "peers_fc2": "class-logit rate",
}


def peer_steps(peers: dict) -> str:
    """How the peers were timed: the two step counts and the runs."""
    lo, hi = peers["steps"]
    return f"line through {lo:,} and {hi:,} steps, median of {peers['repeats']} runs"


def over(r: dict, name: str, ours: str = "featviz") -> str:
    """featviz's rate over a peer's: the median of the runs and their range (``ours``
    ``featviz_bf16``: featviz with ``precision: bfloat16``)."""
    if f"{ours}_rate_over" not in r:
        return "—"
    lo, hi = r[f"{ours}_rate_over_range"][name]
    return f"{r[f'{ours}_rate_over'][name]:.2f}× ({lo:.2f}–{hi:.2f})"


def job_rows(job: dict) -> list[str]:
    """Rows of the table for the paper's ``filters`` job, one set per image shape."""
    rows = []
    for shape, entry in job.get("shapes", {}).items():
        fixed = entry.get("fixed")
        if not fixed:
            continue
        what = f"paper `filters` job, {shape} ({fixed['images']} images)"
        lo, hi = fixed["measured_steps"]
        rows.append(
            f"| {what} | featviz `filters` study, {fixed['target_steps']:,} steps "
            f"(line through {lo:,} and {hi:,}) | {fixed['seconds_at_target']:.0f} "
            f"| {fixed['image_steps_per_s_at_target']:,.0f} | — | — | — |"
        )
        auto = entry.get("auto")
        if auto and auto.get("layers_done"):
            stop, done = auto["stopped"], auto["layers_done"]
            partial = len(done) < len(auto["layers_asked"])
            scope = f"; layers {', '.join(done)} only" if partial else ""
            # against the fixed run's time for the same layers
            same = sum(fixed["jobs"][k]["seconds_at_target"] for k in done)
            rows.append(
                f"| {what} | featviz `filters` study, `steps: auto` (stopped at median "
                f"{stop['median']:,}, most {stop['max']:,}{scope}) | {auto['seconds']:.0f} "
                f"| {auto['image_steps_per_s']:,.0f} | — | "
                f"{auto['objective_ratio']:.4f}× fixed "
                f"| {same / auto['seconds']:.1f}× faster than fixed |"
            )
        peers = entry.get("peers", {})
        for name, label in PEERS.items():
            seconds = peers.get("job_seconds_at_target", {}).get(name)
            if seconds is None:
                continue
            rows.append(
                f"| {what} | {label}, render only ({peer_steps(peers)}) "
                f"| {seconds:.0f} | {fixed['images'] * fixed['target_steps'] / seconds:,.0f} "
                f"| — | — | {peers['job_ratio'][name]:.1f}× faster |"
            )
    return rows


def markdown_table(header: list[str], rows: list[list[str]], right: int = 0) -> list[str]:
    """A Markdown table; the last ``right`` columns are right-aligned (numbers)."""
    align = ["---"] * (len(header) - right) + ["---:"] * right
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def job_notes(job: dict) -> list[str]:
    """Tables under the main one: per layer against the peers, where the job's time goes,
    each target met or not, the render step's batch sizes and the conv paths."""
    shapes = job.get("shapes", {})
    out: list[str] = []
    peer_layers = [
        r
        for entry in shapes.values()
        if entry.get("peers")
        for r in entry["peers"]["layers"].values()
    ]
    bf16 = any("featviz_bf16_rate_over" in r for r in peer_layers)
    layers = [
        [
            shape,
            layer,
            *(over(r, n) for n in PEERS),
            *((over(r, n, "featviz_bf16") for n in PEERS) if bf16 else ()),
            *(
                f"{r['featviz']['objective'] / r[n]['objective']:.3f}×"
                if r.get(n, {}).get("objective")
                else "—"
                for n in PEERS
            ),
        ]
        for shape, entry in shapes.items()
        if entry.get("peers")
        for layer, r in entry["peers"]["layers"].items()
    ]
    if layers:
        timed = next(e["peers"] for e in shapes.values() if e.get("peers"))
        timing = peer_steps(timed)
        peak = (
            f" The machine's matrix-multiply peak was {timed['matmul_gflops']:.0f} GFLOP/s."
            if timed.get("matmul_gflops")
            else ""
        )
        out += [
            "Per layer, featviz against each peer from the same start images: its image·steps/s "
            f"over the peer's ({timing}: each library's seconds at two step counts, so a "
            "long job's rate without the fixed part of a call, with the range over the runs), "
            "and its mean final objective over the peer's "
            "(tf-keras-vis moves the pixel values themselves; Xplique, like featviz, the values "
            "before a sigmoid, but then stretches each image to span all of [0, 1])."
            + peak
            + (
                " The bfloat16 columns time featviz with `precision: bfloat16` (an opt-in "
                "setting; the peers stay in float32) in the same runs."
                if bf16
                else ""
            ),
            "",
            *markdown_table(
                [
                    "shape",
                    "layer",
                    *(f"rate over {label}" for label in PEERS.values()),
                    *((f"bfloat16 rate over {label}" for label in PEERS.values()) if bf16 else ()),
                    *(f"objective over {label}" for label in PEERS.values()),
                ],
                layers,
                right=(4 if bf16 else 2) * len(PEERS),
            ),
            "",
        ]
    time_rows, rate_rows, auto_lines = [], [], []
    for shape, entry in shapes.items():
        auto = entry.get("auto")
        if auto and auto.get("layers_done"):
            low = auto.get("objective_ratio_min_unit")
            auto_lines.append(
                f"{shape}: {auto['objective_ratio']:.4f}× the objective of "
                f"{auto['ceiling']:,} fixed steps"
                + (f" (lowest unit {low:.4f}×)" if low is not None else "")
            )
        fixed = entry.get("fixed")
        if fixed and all("phases_s" in j for j in fixed["jobs"].values()):
            hi = str(fixed["measured_steps"][1])
            spent: dict[str, float] = {}
            for j in fixed["jobs"].values():
                for phase, sec in j["phases_s"][hi].items():
                    spent[phase] = spent.get(phase, 0.0) + sec
            time_rows += [
                [shape, f"{int(hi):,}", phase.replace("_", " "), f"{sec:.1f}"]
                for phase, sec in sorted(spent.items(), key=lambda kv: -kv[1])
                if sec >= 0.05
            ]
            rate = (
                entry.get("targets", {})
                .get("fixed_job_seconds", {})
                .get("render_image_steps_per_s", {})
            )
            rate_rows += [
                [
                    shape,
                    k,
                    f"{r:,.0f}",
                    f"{r * fixed['jobs'][k]['flops_per_image_step'] / 1e9:.0f}",
                    f"{fixed['matmul_peak_gflops']:.0f}",
                ]
                for k, r in rate.items()
            ]
    if auto_lines:
        out += ["`steps: auto`, first units of each layer: " + "; ".join(auto_lines) + ".", ""]
    if time_rows:
        out += [
            "Where the paper's `filters` job spends its time (its study jobs together; the rest "
            "is the study's bookkeeping), and the render's rate in that run against the "
            "machine's float32 matrix-multiply peak:",
            "",
            *markdown_table(["shape", "steps", "phase", "seconds"], time_rows, right=1),
            "",
            *markdown_table(
                ["shape", "layer", "image·steps/s", "GFLOP/s", "peak GFLOP/s"], rate_rows, right=3
            ),
            "",
        ]
    targets = []
    for shape, entry in shapes.items():
        for name, t in entry.get("targets", {}).items():
            measured = t["measured"]
            shown = (
                ", ".join(f"{v:.2f}× {PEERS[n]}" for n, v in measured.items())
                if isinstance(measured, dict)
                else f"{measured:,.4g}"
            )
            low = t.get("measured_bfloat16")
            if low:
                shown += "; bfloat16: " + ", ".join(f"{v:.2f}× {PEERS[n]}" for n, v in low.items())
            why = "" if t["met"] else t.get("reason", "")
            result = "met" if t["met"] else "not met"
            if low and not t["met"]:
                result += f" ({'met' if t['met_bfloat16'] else 'not met'} in bfloat16)"
            targets.append([shape, TARGETS.get(name, name), str(t["target"]), shown, result, why])
    if targets:
        out += [
            "Targets of the paper's `filters` job; where one is not met, the measured reason:",
            "",
            *markdown_table(["shape", "target", "goal", "measured", "result", "why not"], targets),
            "",
        ]
    loads = [
        f"{shape} {min(x):.1f} to {max(x):.1f}"
        for shape, entry in shapes.items()
        if (x := [v[0] for phase in entry.get("load_average", {}).values() for v in phase])
    ]
    if loads:
        out += [f"1-minute load average while measured (2 shared cores): {'; '.join(loads)}.", ""]
    step = job.get("render_step", {})
    if step.get("batch_sizes"):
        out += [
            f"The render step by batch size ({step['objectives']} {step['layer']} objectives, "
            f"{step['steps']} steps):",
            "",
            *markdown_table(
                ["batch size", "image·steps/s"],
                [
                    [str(int(b)), f"{r['image_steps_per_s']:,.0f}"]
                    for b, r in sorted(step["batch_sizes"].items(), key=lambda kv: int(kv[0]))
                ],
                right=2,
            ),
            "",
        ]
    paths = load("conv_paths.json")
    if paths:
        rows = [
            [
                what,
                way.replace("_", " "),
                f"{ms:.2f}",
                "yes" if paths["featviz_uses"][part] == way else "",
            ]
            for part, what in (
                ("sliced_conv2", "conv2, one channel per image"),
                ("conv1_whole", "conv1 whole"),
            )
            for way, ms in sorted(paths[f"{part}_ms_per_step"].items(), key=lambda kv: kv[1])
        ]
        out += [
            f"The two parts of a conv2 step ({paths['images']} images), each timed several ways "
            "by `benchmarks/conv_paths.py`:",
            "",
            *markdown_table(["part", "way", "ms per step", "featviz uses"], rows),
            "",
        ]
    probe = step.get("bf16_probe")
    if probe:
        out.append(
            f"bfloat16 (`mixed_bfloat16`, {probe['layer']}): "
            f"{probe['speed_ratio_bf16_to_fp32']:.2f}× the float32 speed, objective "
            f"{probe['objective_ratio_bf16_to_fp32']:.4f}× float32's, bitwise-equal run to run: "
            f"{'yes' if probe['bf16']['bitwise_equal_run_to_run'] else 'no'}; "
            f"{'worth' if probe['adopt'] else 'not worth'} adopting by the probe's rule "
            "(objective within 1 %, faster). The CPU it was measured on "
            f"{'has' if probe.get('avx512_bf16') else 'lacks'} AVX-512 BF16"
            + (
                f" and {'has' if probe['amx_bf16'] else 'lacks'} AMX BF16"
                if "amx_bf16" in probe
                else ""
            )
            + ". featviz renders in float32 unless a config sets `precision: bfloat16`: a "
            "bfloat16 image differs from a float32 one, and between CPUs with and without "
            "these units."
        )
    while out and out[-1] == "":
        out.pop()
    return out


def table(report: dict, job: dict | None = None) -> str:
    m = report["machine"]
    lines = [
        f"Measured by `make bench` ({m['cpus']} CPU cores, TensorFlow {m['tensorflow']}, "
        f"Keras {m['keras']}, backend {m['backend']}); 2048x2048 fp32 matmul roofline "
        f"{report['roofline_gflops']:.0f} GFLOP/s. Each call timed whole, compilation included; "
        "256 Adam steps at learning rate 0.05 from the same start images, no regularizers "
        "unless stated.",
        "",
        "| objectives | method | seconds | image·steps/s | GFLOP/s | mean objective | featviz is |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = sorted(report["cases"], key=lambda c: list(CASES).index(c) if c in CASES else 99)
    for case in order:
        res = report["cases"][case]
        for name, r in res["methods"].items():
            ratio = "—" if name == "featviz" else f"{res['speedup'][f'vs_{name}']:.1f}× faster"
            if name == "featviz_regularized":
                ratio = f"{r['seconds'] / res['methods']['featviz']['seconds']:.2f}× the time"
            n = (
                f" ({r['images']} of {res['objectives']})"
                if r["images"] != res["objectives"]
                else ""
            )
            lines.append(
                f"| {CASES.get(case, case)} | {LABELS.get(name, name)}{n} | {r['seconds']:.2f} | "
                f"{r['image_steps_per_s']:,.0f} | {r['gflops']:.1f} | {r['objective']:.4f} "
                f"| {ratio} |"
            )
    if job:
        lines += job_rows(job)
    naive = [
        f"{CASES.get(c, c)} {r['methods']['naive']['featviz_objective_same_images']:.4f}"
        for c, r in report["cases"].items()
        if "featviz_objective_same_images" in r["methods"].get("naive", {})
    ]
    if naive:
        lines += [
            "",
            "The naive loop's objective is its mean over the filters it ran; featviz's "
            "mean over the same filters: " + ", ".join(naive) + ".",
        ]
    mem = report.get("memory_mb", {})
    if mem:
        steps = sorted(mem, key=int)
        lines += [
            "",
            "Peak resident memory rendering the 64 conv2 filters: "
            + ", ".join(f"{mem[s]:.0f} MB at {int(s):,} steps" for s in steps)
            + ".",
        ]
    if job:
        lines += [
            "",
            "The paper's `filters` job is measured by `python -m benchmarks.job_speed` (the "
            f"`filters` study's own jobs, whole; CPU {job['machine']['cpu']}, "
            f"{job['machine']['cpus']} cores): the fixed run is timed at two step counts and "
            "extrapolated along the line through them; the peers render the same objectives "
            "from the same start images, pixel parameterization, no transforms or regularizers, "
            "each timed likewise at two step counts and extrapolated along its line.",
        ]
        lines += ["", *job_notes(job)] if job_notes(job) else []
    return "\n".join(lines)


def reach_table(reach: dict) -> str:
    """Per remedy and budget, over both demo datasets: live units left at the start, those
    below their best test image, and the seconds taken against the seed's grey start."""
    lines = [
        "| start + ReLU gradient | steps | live units left at the start | below their best test "
        "image | seconds (× the seed's) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t in reach["totals"]:
        base = next(
            b for b in reach["totals"] if b["remedy"] == "grey" and b["steps"] == t["steps"]
        )
        lines.append(
            f"| {t['remedy']} | {t['steps']} | {t['stuck']} of {t['live']} | {t['below_best']} "
            f"| {t['seconds']:.1f} ({t['seconds'] / base['seconds']:.2f}×) |"
        )
    return "\n".join(lines)


def dictionary_table(fits: dict) -> str:
    """Per dataset, layer and learner: the fit's explained variance, zero codes, dead
    features and seconds, and on planted directions the smallest and median matched cosine."""
    lines = [
        "| data | layer | learner | samples | variance explained | zero codes | dead features "
        "| seconds | matched cosine (min / median) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in fits["rows"]:
        cosine = f"{r['min_cosine']:.3f} / {r['median_cosine']:.3f}" if "min_cosine" in r else "—"
        lines.append(
            f"| {r['dataset']} | {r['layer']} | {r['method']} | {r['samples']} "
            f"| {r['explained']:.3f} | {r['sparsity']:.3f} | {r['dead']} | {r['seconds']:.1f} "
            f"| {cosine} |"
        )
    return "\n".join(lines)


def accentuation_table(sweep: dict) -> str:
    """Per anchor and weight, over both demo datasets and every layer: the mean 2-AFC score
    and ceiling, how many layers it is tied with the best at, the median gain, the units
    above their best test image, the pixels moved and the seconds."""
    lines = [
        "| anchor | 2-AFC / ceiling (mean of layers) | tied with the layer's best "
        "| gain (median of layers) | units above their best test image | pixels moved (RMS) "
        "| seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in dict.fromkeys(r["variant"] for r in sweep["rows"]):
        mine = [r for r in sweep["rows"] if r["variant"] == name]
        above = sum(round(r["above_best"] * r["units"]) for r in mine)
        lines.append(
            f"| {name} | {np.mean([r['two_afc'] for r in mine]):.3f} / "
            f"{np.mean([r['ceiling'] for r in mine]):.3f} "
            f"| {sum(r['tied_with_best'] for r in mine)} of {len(mine)} "
            f"| {np.median([r['gain'] for r in mine]):.2f}× "
            f"| {above} of {sum(r['units'] for r in mine)} "
            f"| {np.mean([r['pixels_moved'] for r in mine]):.3f} "
            f"| {sum(r['seconds'] for r in mine):.0f} |"
        )
    return "\n".join(lines)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def paper_dag_table(dag: dict) -> str:
    """The paper-sized DAG priced job by job (``benchmarks/paper_dag.json``): per rule its
    jobs, seconds, longest job and how it was priced; the total, the critical path and the
    projected wall times."""
    lines = [
        "| rule | jobs | job time | longest job | priced as |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in dag["rules"]:
        hows = dag["priced_by_rule"][row["rule"]]
        how = "; ".join(h if len(hows) == 1 else f"{h} ({n})" for h, n in hows.items())
        lines.append(
            f"| {row['rule']} | {row['jobs']} | {_hours(row['seconds'])} "
            f"| {_hours(row['longest'])} | {how} |"
        )
    path, walls, cluster = dag["critical_path"], dag["projected_wall_seconds"], dag["cluster"]
    steps = " → ".join(dict.fromkeys(j["rule"] for j in path["jobs"]))
    lines += [
        "",
        f"{dag['jobs']} jobs, {_hours(dag['job_seconds'])} of job time. Critical path: "
        f"{_hours(path['seconds'])} ({steps}). Projected wall time on 1, 2 and 8 single-core "
        f"workers: {', '.join(_hours(walls[n]) for n in ('1', '2', '8'))}; on a cluster of "
        f"{cluster['cores']} cores at {cluster['job_overhead']:.0f} s a job: "
        f"{_hours(cluster['projected_wall_seconds'])}.",
    ]
    return "\n".join(lines)


def core_bound_table(bound: dict) -> str:
    """The paper's training and render steps against the matrix-multiply peak of as many
    threads (``benchmarks/core_bound.json``): per thread count, kind and shape, the median
    step with its range, its rate and its share of the peak."""
    what = {
        "train": "training step (batch {batch})",
        "render": "render step ({images} {layer} units)",
    }
    lines = [
        "| threads | step | shape | ms a step (range) | GFLOP/s | share of the peak |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for n, run in bound["summary"].items():
        for kind in ("train", "render"):
            for shape, r in run[kind].items():
                sample = bound["runs"][0][kind][shape]
                low, high = r["ms_range"]
                lines.append(
                    f"| {n} | {what[kind].format(**sample)} | {shape} | {r['ms_per_step']:.0f} "
                    f"({low:.0f} to {high:.0f}) | {r['gflops']:.0f} | {r['share_of_peak']:.0%} |"
                )
    peaks = ", ".join(
        f"{run['peak_gflops']:.0f} GFLOP/s on {n} thread{'s' if n != '1' else ''}"
        for n, run in bound["summary"].items()
    )
    lines += [
        "",
        f"{bound['machine']['cpu']}, {bound['machine']['cores']} cores; medians of "
        f"{bound['repeats']} runs; the float32 matrix-multiply peak (median): {peaks}.",
    ]
    return "\n".join(lines)


def replace_between(text: str, start: str, end: str, body: str, where: str = "the page") -> str:
    """``text`` with what lies between the markers ``start`` and ``end`` replaced by ``body``."""
    if start not in text or end not in text:
        sys.exit(f"{where} lacks the {start} ... {end} markers.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def load(name: str) -> dict | None:
    path = ROOT / "benchmarks" / name
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    report = load("engine_speed.json")
    page = PERFORMANCE_PAGE
    body = table(report, load("job_speed.json"))
    page.write_text(replace_between(page.read_text(), START, END, body, str(page)))
    print(f"updated the table in {page}")
    measured = (
        (load("reach.json"), reach_table, REACH_START, REACH_END, MEASURES_PAGE),
        (
            load("dictionary_fit.json"),
            dictionary_table,
            DICTIONARY_START,
            DICTIONARY_END,
            MEASURES_PAGE,
        ),
        (
            load("accentuation.json"),
            accentuation_table,
            ACCENTUATION_START,
            ACCENTUATION_END,
            MEASURES_PAGE,
        ),
        (load("paper_dag.json"), paper_dag_table, PAPER_DAG_START, PAPER_DAG_END, PERFORMANCE_PAGE),
        (
            load("core_bound.json"),
            core_bound_table,
            CORE_BOUND_START,
            CORE_BOUND_END,
            PERFORMANCE_PAGE,
        ),
    )
    for found, write, start, end, page in measured:
        if found is not None:
            body = write(found)
            page.write_text(replace_between(page.read_text(), start, end, body, str(page)))
            print(f"updated a table in {page}")


if __name__ == "__main__":
    main()

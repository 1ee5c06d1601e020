"""How near a core's peak do the paper DAG's two largest kinds of work run?

The paper-sized DAG (``benchmarks/paper_dag.py``) runs single-threaded jobs; most of its
job time is renders (the ablation's shards, ``recommended``) and the trainings, and its
critical path starts with house numbers' cnn3 training. This measures each at the paper's
settings against the machine's float32 matrix-multiply peak with the same thread count
(measured just before and just after each, the higher taken), so the DAG's totals can be
read as "this much work at this share of the peak" (each the median of ``--repeats`` runs,
3 by default, with their range):

- ``train``: one step of the paper's training of cnn3 (``train`` section: batch 50, Adam;
  compiled by :func:`featviz.models.train.compiled_model`, op determinism on, as the
  ``train`` rule runs it) on each shape, milliseconds a step as the slope between two
  ``fit`` calls of different lengths (so without tracing and epoch overhead);
- ``render``: the render step of the ``filters`` study's recipe (``render_with``) for 128
  fc1 units in one batch, the slope between two step counts;
- the floating-point operations each does per image: the convolutions and dense layers,
  forward, and for training the weight gradients and the gradients back to the first
  layer's input, for a render back to the image (``job_speed.flops_per_image_step``).

TensorFlow's thread count is fixed when it starts, so each thread count (``--threads``,
1 and 2 by default) runs in a process of its own; the renders only on one thread, as the
DAG's jobs run them. Writes ``benchmarks/core_bound.json``; ``benchmarks/readme_table.py``
writes its table into docs/performance.md. Weights are random: the time of a step does
not depend on them. ``--quick`` takes a few steps (a smoke test, numbers meaningless).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "core_bound.json"
SHAPES = {"28x28x1": (28, 28, 1), "32x32x3": (32, 32, 3)}


def training_flops_per_image(model) -> int:
    """Forward, weight gradients and the gradients back to the first layer's input."""
    from benchmarks.flops import layer_macs

    macs = [m for m in map(layer_macs, model.layers) if m]
    return 2 * (2 * sum(macs) + sum(macs[1:]))


def slope_ms(run, short: int, long: int) -> tuple[float, float]:
    """Milliseconds per unit of ``run(n)`` from the line through ``short`` and ``long``,
    and the intercept in seconds (tracing and fixed costs)."""
    seconds = []
    for n in (short, long):
        start = time.perf_counter()
        run(n)
        seconds.append(time.perf_counter() - start)
    per = (seconds[1] - seconds[0]) / (long - short)
    return 1000 * per, seconds[0] - short * per


def measure_training(shape: tuple[int, ...], quick: bool) -> dict:
    import numpy as np

    from benchmarks.job_speed import paper
    from featviz.models.spec import Architecture
    from featviz.models.train import compiled_model, seed_everything

    config = paper()
    settings = config["train"]
    batch = int(settings["batch_size"])
    seed_everything(settings["seed"])
    arch = Architecture.from_config(config["models"]["cnn3"], "models.cnn3")
    model = compiled_model(arch, shape, 10, 0, settings["learning_rate"])
    short, long = (2, 6) if quick else (40, 240)
    rng = np.random.default_rng(0)
    x = rng.random((long * batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, long * batch)

    def fit(n: int) -> None:
        model.fit(x[: n * batch], y[: n * batch], batch_size=batch, epochs=1, verbose=0)

    fit(short)  # trace
    ms, fixed = slope_ms(fit, short, long)
    flops = training_flops_per_image(model)
    return {
        "batch": batch,
        "ms_per_step": ms,
        "fixed_seconds": fixed,
        "flops_per_image": flops,
        "gflops": flops * batch / ms / 1e6,
    }


def measure_render(shape: tuple[int, ...], quick: bool) -> dict:
    from benchmarks.job_speed import filters_settings, flops_per_image_step
    from featviz.engine import for_units, recipe
    from featviz.models import probe
    from featviz.models.build import build_model
    from featviz.models.spec import Architecture

    model = build_model(Architecture(), shape, 10, seed=0)
    objectives = for_units(probe.layer_table(model), "fc1", list(range(128)))[1]
    settings = filters_settings()
    short, long = (4, 12) if quick else (50, 350)

    def render(n: int) -> None:
        recipe.render_with(model, objectives, settings, batch_size=128, steps=n, progress=False)

    render(short)  # trace
    ms, fixed = slope_ms(render, short, long)
    flops = flops_per_image_step(model, objectives)
    return {
        "images": len(objectives),
        "layer": "fc1",
        "ms_per_step": ms,
        "fixed_seconds": fixed,
        "flops_per_image_step": flops,
        "gflops": flops * len(objectives) / ms / 1e6,
    }


def child(threads: int, renders: bool, quick: bool) -> dict:
    """Measure in this process, whose TensorFlow has ``threads`` threads."""
    from benchmarks.job_speed import matmul_gflops

    out: dict = {"threads": threads, "train": {}, "render": {}}
    measures = {"train": measure_training, "render": measure_render if renders else None}
    for name, shape in SHAPES.items():
        for kind, measure in measures.items():
            if measure is None:
                continue
            # the peak just before and just after: the machine's state moves within minutes,
            # and the higher of the two makes the share the more modest
            before = matmul_gflops(repeats=5)
            entry = measure(shape, quick)
            entry["peak_gflops"] = max(before, matmul_gflops(repeats=5))
            entry["share_of_peak"] = entry["gflops"] / entry["peak_gflops"]
            out[kind][name] = entry
    out["peak_gflops"] = max(e["peak_gflops"] for kind in measures for e in out[kind].values())
    return out


def run_child(threads: int, renders: bool, quick: bool) -> dict:
    from featviz.cli import THREAD_VARIABLES  # as ``featviz --threads`` sets them

    env = {**os.environ, **{var: str(threads) for var in THREAD_VARIABLES}}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-m", "benchmarks.core_bound", "--child", str(threads)]
    command += ["--renders"] if renders else []
    command += ["--quick"] if quick else []
    done = subprocess.run(
        command, env=env, cwd=HERE.parent, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each thread count")
    parser.add_argument("--quick", action="store_true", help="a few steps (a smoke test)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--renders", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.renders, args.quick)))
        return
    from benchmarks.machine import cpu_model

    # the thread counts interleaved, so a change of the machine's state reaches each alike
    runs = [run_child(n, n == 1, args.quick) for _ in range(args.repeats) for n in args.threads]
    report = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "quick": args.quick,
        "repeats": args.repeats,
        "summary": summarize(runs),
        "runs": runs,
    }
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(args.out)
    for n, run in report["summary"].items():
        print(f"{n} thread(s): matmul peak {run['peak_gflops']:.0f} GFLOP/s (median)")
        for kind in ("train", "render"):
            for shape, r in run[kind].items():
                low, high = r["ms_range"]
                print(
                    f"  {kind} {shape}: {r['ms_per_step']:.1f} ms a step ({low:.1f} to "
                    f"{high:.1f}), {r['gflops']:.0f} GFLOP/s, {r['share_of_peak']:.0%} of the peak"
                )
    print(f"wrote {args.out}")


def summarize(runs: list[dict]) -> dict:
    """Per thread count: the median of the runs' peaks, and per kind and shape the median
    step with the runs' range, its rate and its share of its own run's peak."""
    import numpy as np

    out: dict = {}
    for n in dict.fromkeys(run["threads"] for run in runs):
        mine = [run for run in runs if run["threads"] == n]
        entry: dict = {"peak_gflops": float(np.median([r["peak_gflops"] for r in mine]))}
        for kind in ("train", "render"):
            entry[kind] = {}
            for shape in mine[0][kind]:
                got = [r[kind][shape] for r in mine]
                ms = [g["ms_per_step"] for g in got]
                entry[kind][shape] = {
                    "ms_per_step": float(np.median(ms)),
                    "ms_range": [min(ms), max(ms)],
                    "gflops": float(np.median([g["gflops"] for g in got])),
                    "share_of_peak": float(np.median([g["share_of_peak"] for g in got])),
                }
        out[str(n)] = entry
    return out


if __name__ == "__main__":
    main()

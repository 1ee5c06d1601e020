"""How long does the paper's ``filters`` work take for one dataset shape, whole?

The job (issue 18): cnn3 of ``config/paper.yaml`` on 28x28x1 and on 32x32x3 images, every
unit the paper's ``filters.units`` asks for (and every class) with its restarts and recipe,
run by the ``filters`` study itself (:meth:`featviz.studies.filters.Filters.execute`: render,
rank the test images, draw and write the figures), one study job per layer. The weights
come from a short training on featviz's generated datasets (render time does not depend on
how good they are); the dataset and the trained model are kept under ``benchmarks/.cache``
so reruns skip them. Measured, per shape:

- ``fixed``: the paper's fixed 20 000 steps. A full run takes longer than the machine is
  quiet for, so the job is timed whole at two smaller step counts and extrapolated along
  the line through them (seconds = intercept + slope x steps; the intercept is what does
  not depend on steps: loading, ranking, figures, compilation). The two per-layer rates
  show the time is linear in steps.
- ``auto``: ``steps: auto`` with the schema's ceiling of 20 000 steps, timed whole; the step
  each objective stopped at; and the final objective of the first units of each layer
  relative to a fixed 20 000-step run of the same units from the same start images
  (``param.init`` draws image i the same whatever the number of images).
- ``peers``: per layer, the same objectives from the same start images with featviz's
  render (the study's ``recipe.render_with`` call), tf-keras-vis 0.8.7 (in this process)
  and Xplique 2.0.2 (its own environment, ``benchmarks/xplique_env.sh``, in a subprocess
  per call), interleaved; each timed at two step counts (reduced: the peers are slow), so
  that its rate per step is the slope of the line through them and its fixed part (tracing,
  compilation) the intercept, in each of three runs (both counts at least
  ``backend.ROUTED_FROM_STEPS``, from which featviz's render pools at a steady cost, so the
  line joins two runs of one kind); image-steps per second, the job time
  extrapolated to 20 000 steps, and featviz's rate over each peer's as the median of the
  runs with their range.
- ``render_step``: the render step at several batch sizes for one layer (throughput), and
  in bfloat16 (Keras ``mixed_bfloat16``): throughput, objective relative to float32 and
  whether one seed gives bitwise-equal images run to run.

Writes ``benchmarks/job_speed.json``; ``benchmarks/readme_table.py`` adds its rows to the
performance page's table (docs/performance.md). ``--quick`` runs everything at a few steps
(a smoke test, numbers meaningless). Runs in ``benchmarks/.venv``
(``make benchmarks/.venv/.installed``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.keras -> tf_keras, for tf-keras-vis only

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.flops import layer_macs  # noqa: E402
from benchmarks.machine import cpu_flags, cpu_model  # noqa: E402
from featviz.data.catalog import resolve  # noqa: E402
from featviz.data.prepare import load_prepared, prepare, to_model_input  # noqa: E402
from featviz.engine import evaluate, for_units, recipe  # noqa: E402
from featviz.engine.params import pixel  # noqa: E402
from featviz.models import probe  # noqa: E402
from featviz.models.build import build_model  # noqa: E402
from featviz.models.spec import Architecture  # noqa: E402
from featviz.models.train import compiled_model  # noqa: E402
from featviz.settings import load_config_file, validate_section  # noqa: E402
from featviz.studies.base import Job  # noqa: E402
from featviz.studies.filters import STUDY, _indices  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
XPLIQUE_PYTHON = HERE / ".venv-xplique" / "bin" / "python"
SHAPES = {"28x28x1": "synthetic-digits", "32x32x3": "synthetic-house-numbers"}
TARGET_STEPS = 20_000


def paper() -> dict:
    return load_config_file(ROOT / "config" / "paper.yaml")


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def matmul_gflops(n: int = 2048, repeats: int = 20) -> float:
    """The machine's float32 matrix-multiply rate (TensorFlow graph mode), the roofline the
    render rates are compared with."""
    a = tf.random.stateless_uniform((n, n), seed=(0, 1))
    b = tf.random.stateless_uniform((n, n), seed=(0, 2))

    @tf.function
    def many(a, b):
        c = a
        for _ in range(repeats):
            c = tf.matmul(c, b) * 1e-3
        return c

    many(a, b).numpy()  # trace and warm
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        many(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best / 1e9


def flops_per_image_step(model, objectives, slicing: bool = True) -> int:
    """Floating-point operations of one render step for one image: the convolutions and dense
    layers up to the deepest layer read, forward and back to the input (no weight gradients),
    that layer computed for one channel where the render loop slices it."""
    from featviz.engine.slicing import plan_slice

    layers = list(dict.fromkeys(layer for o in objectives for layer in o.layers))
    sliced = plan_slice(model, objectives, layers) if slicing else None
    deepest = max(layers, key=[layer.name for layer in model.layers].index)
    total = 0
    for layer in model.layers:
        total += 2 * layer_macs(layer, 1 if (sliced and layer.name == deepest) else None)
        if layer.name == deepest:
            break
    return 2 * total  # forward, and the gradient back to the input


# -- data and model, cached -------------------------------------------------------------------


def dataset(shape: str, n_train: int, n_test: int) -> Path:
    """The prepared generated dataset of ``shape`` (written once)."""
    name = SHAPES[shape]
    out = CACHE / f"{name}-{n_train}-{n_test}.npz"
    if not out.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        prepare(
            resolve(name, {"kind": name}),
            out,
            validation_fraction=0.1,
            seed=0,
            n_train=n_train,
            n_test=n_test,
        )
    return out


def trained_model(shape: str, data: Path, epochs: int) -> tuple[Path, dict]:
    """cnn3 of the paper config trained briefly on ``data`` (trained once, then cached)."""
    out = CACHE / f"cnn3-{shape}-{data.stem}-e{epochs}.keras"
    meta = out.with_suffix(".json")
    if out.is_file() and meta.is_file():
        return out, json.loads(meta.read_text())
    arrays = load_prepared(data)
    arch = Architecture.from_config(paper()["models"]["cnn3"], "models.cnn3")
    x, y = to_model_input(arrays["x_train"]), arrays["y_train"].astype(np.int64)
    model = compiled_model(arch, x.shape[1:], len(arrays["class_names"]), 0, 1e-3)
    start = time.perf_counter()
    model.fit(x, y, batch_size=50, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(
        to_model_input(arrays["x_test"]), arrays["y_test"].astype(np.int64), verbose=0
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    model.save(out)
    info = {
        "train_images": len(x),
        "epochs": epochs,
        "optimizer": "Adam 1e-3, batch 50",
        "train_seconds": seconds,
        "test_accuracy": float(accuracy),
    }
    meta.write_text(json.dumps(info, indent=2) + "\n")
    return out, info


# -- the study, run as the workflow runs it ---------------------------------------------------


def paper_filters() -> dict:
    """The paper's ``filters`` settings, validated."""
    return filters_settings()


def filters_settings(**changes) -> dict:
    """The paper's ``filters`` section with ``changes``, validated (schema defaults filled)."""
    section = dict(paper()["filters"])
    section.update(changes)
    return validate_section("filters", section)


#: What a ``filters`` job spends its time on: phase -> (module, function) timed.
PHASES = {
    "load_model": ("featviz.models.probe", "load_model"),
    "load_data": ("featviz.studies.filters", "load_prepared"),
    "render": ("featviz.engine.recipe", "render_with"),
    "rank_test_images": ("featviz.models.probe", "rank_images"),
    "receptive_fields": ("featviz.models.receptive", "receptive_fields"),
    "write_arrays": ("featviz.studies.filters", "write_npz"),
    "figure_grid": ("featviz.plotting", "plot_grid"),
    "figure_examples": ("featviz.studies.filters", "plot_examples"),
}


@contextlib.contextmanager
def timed_phases():
    """Seconds spent in each of :data:`PHASES` inside the block (the functions wrapped with a
    clock for its duration: no profiler slowing the Python-heavy parts)."""
    import importlib

    spent = dict.fromkeys(PHASES, 0.0)
    originals = []
    for phase, (module_name, name) in PHASES.items():
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def clocked(*args, _f=original, _phase=phase, **kwargs):
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_phase] += time.perf_counter() - start

        originals.append((module, name, original))
        setattr(module, name, clocked)
    try:
        yield spent
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def run_study(model: Path, data: Path, settings: dict, out_dir: Path, label: str) -> dict:
    """Every job of the ``filters`` study for ``settings``, each timed whole, with the seconds
    of its phases (:data:`PHASES`; the rest is the study's own bookkeeping)."""
    table = probe.layer_table(probe.load_model(model))
    jobs = {}
    for key in STUDY.jobs(settings, table):
        job = Job(key, model, out_dir, data, dataset=label, model_name="cnn3")
        start = time.perf_counter()
        with timed_phases() as spent:
            STUDY.execute(job, STUDY.job_settings(settings, key))
        seconds = time.perf_counter() - start
        with np.load(job.path(STUDY.files["arrays"])) as arrays:
            values = arrays["values"]
            jobs[key] = {
                "units": int(len(arrays["indices"])),
                "images": int(arrays["restart_values"].size),
                "seconds": seconds,
                "values": values.astype(float).tolist(),
                "start_values": arrays["traces"][:, 0].astype(float).tolist(),
                "stopped": arrays["stopped"].astype(int).tolist(),
            }
        jobs[key]["phases_s"] = spent
        print(
            f"  {key:6s} {jobs[key]['images']:4d} images {seconds:8.2f} s "
            f"(stopped at {int(np.max(jobs[key]['stopped'])):,})",
            flush=True,
        )
    return jobs


def job_objectives(keras_model, key: str, settings: dict) -> list:
    """The objectives one ``filters`` job renders (restarts included)."""
    table = probe.layer_table(keras_model)
    names = [str(i) for i in range(int(keras_model.outputs[0].shape[-1]))]
    _, objectives = for_units(
        table, key, _indices(settings, key), names if key == table.logits else None
    )
    return [o for o in objectives for _ in range(settings["restarts"])]


def fixed_job(model, data, label, step_counts, work, peak_gflops) -> dict:
    """The job at two step counts, and the line through them extrapolated to 20 000 steps;
    per layer, the phases' seconds and the render's floating-point rate against the
    machine's matrix-multiply peak."""
    keras_model = probe.load_model(model)
    runs = {}
    for steps in step_counts:
        print(f"fixed, {steps} steps", flush=True)
        runs[steps] = run_study(
            model, data, filters_settings(steps=steps), work / f"fixed{steps}", label
        )
    lo, hi = step_counts
    per_job = {}
    for key in runs[lo]:
        a, b = runs[lo][key], runs[hi][key]
        slope = (b["seconds"] - a["seconds"]) / (hi - lo)
        intercept = a["seconds"] - slope * lo
        per_job[key] = {
            "units": a["units"],
            "images": a["images"],
            "seconds": {str(lo): a["seconds"], str(hi): b["seconds"]},
            "image_steps_per_s": {
                str(lo): a["images"] * lo / a["seconds"],
                str(hi): b["images"] * hi / b["seconds"],
            },
            "marginal_image_steps_per_s": a["images"] / slope if slope > 0 else None,
            "intercept_s": intercept,
            "seconds_at_target": intercept + slope * TARGET_STEPS,
            "mean_objective": {
                str(lo): float(np.mean(a["values"])),
                str(hi): float(np.mean(b["values"])),
            },
            "phases_s": {str(lo): a["phases_s"], str(hi): b["phases_s"]},
        }
        flops = flops_per_image_step(keras_model, job_objectives(keras_model, key, paper_filters()))
        render_slope = (b["phases_s"]["render"] - a["phases_s"]["render"]) / (hi - lo)
        rate = a["images"] / render_slope if render_slope > 0 else None
        per_job[key] |= {
            "flops_per_image_step": flops,
            "render_marginal_image_steps_per_s": rate,
            "render_marginal_gflops": rate * flops / 1e9 if rate else None,
            "render_share_of_matmul_peak": rate * flops / 1e9 / peak_gflops if rate else None,
            "seconds_at_target_at_matmul_peak": a["images"]
            * TARGET_STEPS
            * flops
            / (peak_gflops * 1e9),
        }
    total = {str(s): sum(r["seconds"] for r in runs[s].values()) for s in step_counts}
    slope = (total[str(hi)] - total[str(lo)]) / (hi - lo)
    images = sum(j["images"] for j in per_job.values())
    return {
        "measured_steps": list(step_counts),
        "target_steps": TARGET_STEPS,
        "extrapolated": True,
        "how": (
            f"the whole job timed at {lo} and {hi} steps; seconds at {TARGET_STEPS} steps "
            "from the line through the two (intercept: what does not depend on steps)"
        ),
        "images": images,
        "seconds": total,
        "intercept_s": total[str(lo)] - slope * lo,
        "seconds_at_target": total[str(lo)] + slope * (TARGET_STEPS - lo),
        "image_steps_per_s_at_target": images
        * TARGET_STEPS
        / (total[str(lo)] + slope * (TARGET_STEPS - lo)),
        "matmul_peak_gflops": peak_gflops,
        "seconds_at_target_at_matmul_peak": sum(
            j["seconds_at_target_at_matmul_peak"] for j in per_job.values()
        ),
        "jobs": per_job,
    }


def auto_job(model, data, label, ceiling, sample, work, save=None) -> dict:
    """The job with ``steps: auto``, and its objective against fixed ``ceiling`` steps.

    Layer by layer, cheapest first (each layer is its own study job, so the order does not
    change its result): its auto run, then its first ``sample`` units run a fixed ``ceiling``
    steps from the same start images. ``save`` is called with the figures so far after each
    layer, so a run cut short keeps the layers it finished (``layers_done``)."""
    table = probe.layer_table(probe.load_model(model))
    settings = filters_settings()
    keys = STUDY.jobs(settings, table)
    order = sorted(keys, key=lambda k: (k in ("conv3", "fc1"), keys.index(k)))
    out = {"ceiling": ceiling, "layers": {}, "layers_done": [], "layers_asked": keys}
    for key in order:
        print(f"auto, {key}, ceiling {ceiling}", flush=True)
        one = filters_settings(
            steps="auto",
            max_steps=ceiling,
            units={} if key == table.logits else {key: settings["units"].get(key, "all")},
            classes=key == table.logits,
        )
        r = run_study(model, data, one, work / "auto", label)[key]
        k = min(sample, r["units"])
        fixed = run_study(
            model,
            data,
            filters_settings(steps=ceiling, units={key: list(range(k))}, classes=False),
            work / "fixed_sample",
            label,
        )[key]
        a, f = np.array(r["values"][:k]), np.array(fixed["values"])
        out["layers"][key] = {
            "images": r["images"],
            "seconds": r["seconds"],
            "phases_s": r["phases_s"],
            "stopped": sorted(set(r["stopped"])),
            "stopped_all": r["stopped"],
            "units_compared": k,
            "auto_values": a.tolist(),
            "fixed_values": f.tolist(),
            "auto_mean": float(a.mean()),
            "fixed_mean": float(f.mean()),
            "ratio": float(a.mean() / f.mean()) if f.mean() else None,
            "start_objective_max_difference": float(
                np.max(np.abs(np.array(r["start_values"][:k]) - fixed["start_values"]))
            ),
            "fixed_sample_seconds": fixed["seconds"],
        }
        out["layers_done"].append(key)
        out |= _auto_summary(out["layers"], sample, ceiling)
        if save:
            save(out)
    return out


def _auto_summary(layers: dict, sample: int, ceiling: int) -> dict:
    stopped = np.concatenate([r["stopped_all"] for r in layers.values()])
    seconds = sum(r["seconds"] for r in layers.values())
    auto = np.concatenate([r["auto_values"] for r in layers.values()])
    fixed = np.concatenate([r["fixed_values"] for r in layers.values()])
    live = fixed > 0
    return {
        "seconds": seconds,
        "images": int(sum(r["images"] for r in layers.values())),
        "image_steps_run": int(stopped.sum()),
        "image_steps_per_s": float(stopped.sum() / seconds),
        "stopped": {
            "min": int(stopped.min()),
            "median": int(np.median(stopped)),
            "mean": float(stopped.mean()),
            "max": int(stopped.max()),
        },
        "objective_ratio": float(auto.mean() / fixed.mean()),
        "objective_ratio_min_unit": float(np.min(auto[live] / fixed[live])) if live.any() else None,
        "dead_units_compared": int((~live).sum()),
        "objective_compared": (
            f"mean final objective of the first {sample} units of each layer ({len(auto)} "
            f"compared) under auto over the same units run a fixed {ceiling} steps from the "
            "same start images"
        ),
        "start_objective_max_difference": max(
            r["start_objective_max_difference"] for r in layers.values()
        ),
        "fixed_sample_seconds": sum(r["fixed_sample_seconds"] for r in layers.values()),
    }


# -- peers --------------------------------------------------------------------------------------


def start_params(shape, n: int, seed: int) -> np.ndarray:
    return pixel().bind(shape).init(n, seed)


def peer_layer(
    model_path, model, layer, settings, steps, xplique, work, repeats=3, bf16=False
) -> dict:
    """featviz, tf-keras-vis and Xplique on one layer's objectives, each timed at two step
    counts in every one of ``repeats`` runs, interleaved (the order turns each run); with
    ``bf16``, featviz also with ``precision: bfloat16`` (its own row: the peers run in
    float32).

    A long job's time is a fixed part (tracing, compilation, start) and a part per step; the
    rate of one call of a few hundred steps mixes the two, and each library's fixed part
    differs. The rate per step is the slope of the line through the two counts, measured
    per run; featviz's rate over a peer's is taken within a run (so drift of the machine
    between runs cancels), and the median over runs is reported with its range.
    """
    from benchmarks.engine_speed import run_tf_keras_vis

    table = probe.layer_table(model)
    indices, objectives = for_units(table, layer, _indices(settings, layer), None)
    objectives = [o for o in objectives for _ in range(settings["restarts"])]
    indices = [i for i in indices for _ in range(settings["restarts"])]
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    params = start_params(shape, len(objectives), settings["seed"])
    images0 = 1.0 / (1.0 + np.exp(-params))
    lr = settings["learning_rate"]
    n = len(objectives)

    def featviz(count: int, precision: str = "float32") -> tuple[float, float]:
        start = time.perf_counter()
        result, _ = recipe.render_with(
            model,
            objectives,
            settings | {"precision": precision},
            batch_size=settings["batch_size"],
            steps=count,
            progress=False,
        )
        return time.perf_counter() - start, float(result.values.mean())

    def featviz_bf16(count: int) -> tuple[float, float]:
        return featviz(count, "bfloat16")

    def tf_keras_vis(count: int) -> tuple[float, float]:
        seconds, images = run_tf_keras_vis(model, layer, indices, images0, count, lr, shape=shape)
        return seconds, float(evaluate(model, objectives, images).mean())

    def peer_xplique(count: int) -> tuple[float, float]:
        info = run_xplique(model_path, model, layer, indices, objectives, params, count, lr, work)
        if "error" in info:
            raise RuntimeError(f"Xplique on {layer}: {info['error']}")
        return info["seconds"], info["objective"]

    runners = {"featviz": featviz, "tf_keras_vis": tf_keras_vis}
    if xplique:
        runners["xplique"] = peer_xplique
    if bf16:
        runners["featviz_bf16"] = featviz_bf16
    peers_of = [name for name in runners if not name.startswith("featviz")]
    lo, hi = steps
    runs = []
    for repeat in range(repeats):
        names = list(runners)
        names = names[repeat % len(names) :] + names[: repeat % len(names)]
        seconds: dict[str, dict[int, float]] = {name: {} for name in names}
        objective = {}
        for count in (lo, hi):
            for name in names:
                seconds[name][count], objective[name] = runners[name](count)
        run = {}
        for name in names:
            rate = n * (hi - lo) / (seconds[name][hi] - seconds[name][lo])
            run[name] = {
                "seconds": {str(k): v for k, v in seconds[name].items()},
                "image_steps_per_s": rate,
                "fixed_seconds": seconds[name][lo] - n * lo / rate,
                "objective": objective[name],
            }
        for ours in (n for n in runners if n.startswith("featviz")):
            run[f"{ours}_rate_over"] = {
                name: run[ours]["image_steps_per_s"] / run[name]["image_steps_per_s"]
                for name in peers_of
            }
        runs.append(run)

    out = {
        "images": n,
        "steps": list(steps),
        "repeats": repeats,
        "runs": runs,
        "flops_per_image_step": {
            "featviz": flops_per_image_step(model, objectives),
            "whole_layer": flops_per_image_step(model, objectives, slicing=False),
        },
    }
    for name in runners:
        rates = [r[name]["image_steps_per_s"] for r in runs]
        out[name] = {
            "image_steps_per_s": float(np.median(rates)),
            "image_steps_per_s_range": [min(rates), max(rates)],
            "fixed_seconds": float(np.median([r[name]["fixed_seconds"] for r in runs])),
            "objective": runs[-1][name]["objective"],
        }
    for ours in (n for n in runners if n.startswith("featviz")):
        over = {name: [r[f"{ours}_rate_over"][name] for r in runs] for name in peers_of}
        out[f"{ours}_rate_over"] = {name: float(np.median(v)) for name, v in over.items()}
        out[f"{ours}_rate_over_range"] = {name: [min(v), max(v)] for name, v in over.items()}
    if bf16:
        out["featviz_bf16_over_featviz"] = float(
            np.median(
                [
                    r["featviz_bf16"]["image_steps_per_s"] / r["featviz"]["image_steps_per_s"]
                    for r in runs
                ]
            )
        )
    return out


def run_xplique(model_path, model, layer, indices, objectives, params, steps, lr, work) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    start, images, result = work / "start.npy", work / "images.npy", work / "result.json"
    np.save(start, params)
    request = {
        "model": str(model_path),
        "start": str(start),
        "layer": layer,
        "indices": [int(i) for i in indices],
        "steps": steps,
        "learning_rate": lr,
        "images": str(images),
        "result": str(result),
    }
    (work / "request.json").write_text(json.dumps(request))
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run(
        [str(XPLIQUE_PYTHON), str(HERE / "xplique_peer.py"), str(work / "request.json")],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    info = json.loads(result.read_text())
    info["objective"] = float(evaluate(model, objectives, np.load(images)).mean())
    return info


def peers(model_path, settings, steps, xplique, work, fixed, repeats=3, bf16=False) -> dict:
    """Every layer of the job against the peers (:func:`peer_layer`), and the job's render
    time at the target steps for each library: its fixed seconds plus the steps at its rate."""
    model = probe.load_model(model_path)
    table = probe.layer_table(model)
    layers = {}
    for key in STUDY.jobs(settings, table):
        layers[key] = res = peer_layer(
            model_path, model, key, settings, steps, xplique, work / key, repeats, bf16
        )
        print(
            f"  peers {key:6s} "
            + ", ".join(
                f"{n} {res[n]['image_steps_per_s']:8.0f} img*step/s"
                for n in ("featviz", "featviz_bf16", "tf_keras_vis", "xplique")
                if n in res
            )
            + "".join(
                f" | {ours} over "
                + ", ".join(
                    f"{n} {v:.2f}x ({lo:.2f}-{hi:.2f})"
                    for n, v in res[f"{ours}_rate_over"].items()
                    for lo, hi in [res[f"{ours}_rate_over_range"][n]]
                )
                for ours in ("featviz", "featviz_bf16")
                if f"{ours}_rate_over" in res
            ),
            flush=True,
        )
    out = {
        "steps": list(steps),
        "repeats": repeats,
        "layers": layers,
        "job_seconds_at_target": {},
        "job_ratio": {},
    }
    for name in ("featviz", "featviz_bf16", "tf_keras_vis", "xplique"):
        if all(name in r for r in layers.values()):
            out["job_seconds_at_target"][name] = sum(
                r[name]["fixed_seconds"] + r["images"] * TARGET_STEPS / r[name]["image_steps_per_s"]
                for r in layers.values()
            )
    for name in ("tf_keras_vis", "xplique"):
        if name in out["job_seconds_at_target"]:
            out["job_ratio"][name] = out["job_seconds_at_target"][name] / fixed["seconds_at_target"]
    return out


# -- the targets, met or not, with the measured reason ---------------------------------

#: featviz's rate over each peer's that the job asks for, at every layer (median of the runs).
PEER_TARGET = 1.5
FIXED_TARGET_S, AUTO_TARGET_S, AUTO_OBJECTIVE = 600.0, 120.0, 0.01


def targets(entry: dict, peak: float, step: dict | None = None, shape: str = "") -> dict:
    """Each target of the job for one shape: what was asked, what was measured, whether it
    was met and, where not, the measured reason (the work in FLOP against the machine's
    matrix-multiply peak, and what the time not rendering goes to)."""
    out = {}
    fixed, auto, peers = entry.get("fixed"), entry.get("auto"), entry.get("peers")
    if fixed:
        jobs = fixed["jobs"]
        hi = str(fixed["measured_steps"][1])
        # what does not render (loading, ranking, figures) does not grow with the steps: as
        # measured in the longer run; the render is the rest of the extrapolated time
        seconds = fixed["seconds_at_target"]
        other = sum(j["seconds"][hi] - j["phases_s"][hi]["render"] for j in jobs.values())
        render = seconds - other
        # each layer's render rate in the longer run, compilation included
        rate = {k: j["images"] * int(hi) / j["phases_s"][hi]["render"] for k, j in jobs.items()}
        floor = fixed["seconds_at_target_at_matmul_peak"]
        fixed_peak = fixed["matmul_peak_gflops"]  # the peak measured with these figures
        work = sum(j["images"] * TARGET_STEPS * j["flops_per_image_step"] for j in jobs.values())
        out["fixed_job_seconds"] = {
            "target": f"<= {FIXED_TARGET_S:.0f}",
            "measured": seconds,
            "met": seconds <= FIXED_TARGET_S,
            "render_seconds": render,
            "other_seconds": other,
            "render_image_steps_per_s": rate,
            "work_tflop": work / 1e12,
            "seconds_at_matmul_peak": floor,
            "render_share_of_matmul_peak": floor / render,
            "reason": None
            if seconds <= FIXED_TARGET_S
            else (
                f"{work / 1e12:.0f} TFLOP of render steps ({TARGET_STEPS:,} steps); at this "
                f"machine's float32 matrix-multiply peak ({fixed_peak:.0f} GFLOP/s) that alone is "
                f"{floor:.0f} s; the render ran at {floor / render:.0%} of that peak "
                f"({render:.0f} s), and loading, ranking test images and figures took "
                f"{other:.0f} s"
            ),
        }
    if auto and fixed and set(auto.get("layers_done", ())) == set(auto.get("layers_asked", ())):
        # jobs, rate and other: the fixed run's, above
        run = {k: int(np.sum(r["stopped_all"])) for k, r in auto["layers"].items()}
        floor = sum(run[k] * jobs[k]["flops_per_image_step"] / (peak * 1e9) for k in auto["layers"])
        render = sum(run[k] / rate[k] for k in run)
        seconds = auto["seconds"]
        ratio = auto["objective_ratio"]
        out["auto_job_seconds"] = {
            "target": f"<= {AUTO_TARGET_S:.0f}",
            "measured": seconds,
            "met": seconds <= AUTO_TARGET_S,
            "image_steps_run": sum(run.values()),
            "image_steps_fixed": fixed["images"] * auto["ceiling"],
            "render_seconds_at_fixed_rates": render,
            "seconds_at_matmul_peak": floor,
            "reason": None
            if seconds <= AUTO_TARGET_S
            else (
                f"the objectives ran {sum(run.values()):,} image·steps "
                f"({sum(run.values()) / (fixed['images'] * auto['ceiling']):.0%} of the fixed "
                f"run's; median stop {auto['stopped']['median']:,}); at the machine's "
                f"matrix-multiply peak ({peak:.0f} GFLOP/s) that alone is {floor:.0f} s, at "
                f"the fixed run's render rates {render:.0f} s; not render steps at those "
                f"rates, the other {seconds - render:.0f} s: loading, ranking and figures "
                f"({other:.0f} s in the fixed run), a compilation after each compaction, "
                "stopped objectives computed on until a quarter of their batch has stopped, "
                "and the lower rates of the small batches left"
            ),
        }
        out["auto_objective_ratio"] = {
            "target": f">= {1 - AUTO_OBJECTIVE:.2f} of fixed",
            "measured": ratio,
            "met": ratio >= 1 - AUTO_OBJECTIVE,
        }
    if peers:
        goal = PEER_TARGET
        for layer, r in peers["layers"].items():
            over = r["featviz_rate_over"]
            met = bool(over) and all(v >= goal for v in over.values())
            flops = r["flops_per_image_step"]
            fv = r["featviz"]["image_steps_per_s"] * flops["featviz"] / 1e9
            objective = {
                n: r["featviz"]["objective"] / r[n]["objective"]
                for n in PEERS_RUN
                if n in r and r[n].get("objective")
            }
            split = (
                (step or {}).get("conv2_split")
                if layer == "conv2" and (step or {}).get("shape") == shape
                else None
            )
            work = flops["whole_layer"] / flops["featviz"]
            gflops = {
                n: r[n]["image_steps_per_s"] * flops["whole_layer"] / 1e9
                for n in PEERS_RUN
                if "image_steps_per_s" in r.get(n, {})
            }
            low = r.get("featviz_bf16_rate_over")
            out[f"peers_{layer}"] = {
                "target": f">= {goal:g}x each peer's image·steps/s",
                "measured": over,
                "met": met,
                # the opt-in precision: bfloat16 against the same float32 peers
                "measured_bfloat16": low,
                "met_bfloat16": bool(low) and all(v >= goal for v in low.values()),
                "featviz_objective_over_peer": objective,
                "featviz_gflops": fv,
                "featviz_share_of_matmul_peak": fv / peak,
                "flops_per_image_step": flops,
                "reason": None
                if met
                else (
                    f"featviz's rate over a peer's is the work it skips times its efficiency "
                    f"over the peer's: a whole-layer step is {flops['whole_layer'] / 1e6:.1f} "
                    f"MFLOP per image, featviz's {flops['featviz'] / 1e6:.1f} "
                    + (f"({work:.1f}x less)" if work > 1.05 else "(the same: it needs every layer)")
                    + "; featviz ran at "
                    f"{fv:.0f} GFLOP/s ({fv / peak:.0%} of the matrix-multiply peak), "
                    + ", ".join(
                        f"{PEER_NAMES[n]} at {gflops[n]:.0f} GFLOP/s, so {goal:g}x it needs "
                        f"featviz at {goal * gflops[n] / work:.0f} GFLOP/s"
                        for n in gflops
                    )
                    + (
                        f"; featviz's conv2 step for 64 images takes "
                        f"{split['conv2_step_ms']:.1f} ms, a step computing only conv1 whole "
                        f"(forward and back, read-out and Adam included; every conv2 channel "
                        f"reads all of conv1) {split['conv1_whole_step_ms']:.1f} ms "
                        f"({split['conv1_share']:.0%})"
                        if split
                        else ""
                    )
                    + (
                        f"; with precision: bfloat16 (opt-in, the peers in float32) featviz "
                        f"ran {r['featviz_bf16_over_featviz']:.2f}x its float32 rate, "
                        + ", ".join(f"{v:.2f}x {PEER_NAMES[n]}" for n, v in low.items())
                        if low
                        else ""
                    )
                ),
            }
    return out


PEERS_RUN = ("tf_keras_vis", "xplique")
PEER_NAMES = {"tf_keras_vis": "tf-keras-vis", "xplique": "Xplique"}


def fill_flops(entry: dict, shape: str, n_train: int, n_test: int, epochs: int) -> None:
    """Add the FLOP counts to a shape's peer figures measured before they were recorded."""
    layers = entry.get("peers", {}).get("layers", {})
    if all("flops_per_image_step" in r for r in layers.values()):
        return
    model = probe.load_model(trained_model(shape, dataset(shape, n_train, n_test), epochs)[0])
    for key, r in layers.items():
        objectives = job_objectives(model, key, paper_filters())
        r["flops_per_image_step"] = {
            "featviz": flops_per_image_step(model, objectives),
            "whole_layer": flops_per_image_step(model, objectives, slicing=False),
        }


# -- the render step: batch size and bfloat16 ----------------------------------------------------


def step_split(model_path, steps: int) -> dict:
    """Where a conv2 render step goes: the step for the 64 conv2 objectives (conv1 whole, conv2
    one channel per image) against a step computing conv1 whole alone (64 conv1 objectives,
    unsliced), each in milliseconds per step from the difference of two step counts (so
    without compilation)."""
    model = probe.load_model(model_path)
    table = probe.layer_table(model)
    settings = filters_settings()

    def ms_per_step(objectives, **kwargs) -> float:
        seconds = []
        for n in (steps // 10, steps + steps // 10):
            start = time.perf_counter()
            recipe.render_with(
                model, objectives, settings, batch_size=64, steps=n, progress=False, **kwargs
            )
            seconds.append(time.perf_counter() - start)
        return 1000 * (seconds[1] - seconds[0]) / steps

    conv2 = for_units(table, "conv2")[1][:64]
    conv1 = [for_units(table, "conv1")[1][i % 32] for i in range(64)]
    whole = ms_per_step(conv2)
    first = ms_per_step(conv1, slice_channels=False)
    return {
        "images": 64,
        "steps": steps,
        "conv2_step_ms": whole,
        "conv1_whole_step_ms": first,
        "conv1_share": first / whole,
        "what": (
            "a conv2 objective's step computes conv1 whole (forward and back; every conv2 channel "
            "reads all 32 conv1 channels) and conv2 for one channel: the conv1 part is timed as "
            "a step for 64 conv1 objectives without slicing"
        ),
    }


def render_step(model_path, layer, steps, batch_sizes, restarts) -> dict:
    model = probe.load_model(model_path)
    table = probe.layer_table(model)
    _, objectives = for_units(table, layer)
    objectives = [o for o in objectives for _ in range(restarts)]
    settings = filters_settings()
    n = len(objectives)

    def timed(m, batch_size, seed=0, **kwargs):
        start = time.perf_counter()
        result, _ = recipe.render_with(
            m,
            objectives,
            {**settings, "seed": seed},
            batch_size=batch_size,
            steps=steps,
            progress=False,
            **kwargs,
        )
        return time.perf_counter() - start, result

    sweep = {}
    for bs in batch_sizes:
        seconds, result = timed(model, bs)
        sweep[str(bs)] = {
            "seconds": seconds,
            "image_steps_per_s": n * steps / seconds,
            "objective": float(result.values.mean()),
        }
        print(f"  batch {bs:4d}: {sweep[str(bs)]['image_steps_per_s']:8.0f} img*step/s", flush=True)

    bs = max(b for b in batch_sizes if b <= 128)
    fp32 = [timed(model, bs) for _ in range(2)]
    # featviz's channel-sliced step (its default) fails under mixed_bfloat16 (its sliced
    # kernel stays float32); bfloat16 is measured on the unsliced step, against float32
    # on the same step.
    unsliced = [timed(model, bs, slice_channels=False) for _ in range(2)]
    previous = keras.config.dtype_policy()
    sliced_error = bf16 = error = None
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        shape = tuple(int(s) for s in model.inputs[0].shape[1:])
        arch = Architecture.from_config(paper()["models"]["cnn3"], "models.cnn3")
        bf_model = build_model(arch, shape, int(model.outputs[0].shape[-1]), seed=0)
        bf_model.set_weights(model.get_weights())
        try:
            timed(bf_model, bs)
        except Exception as err:  # record why, go on
            sliced_error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1]}"
        bf16 = [timed(bf_model, bs, slice_channels=False) for _ in range(2)]
    except Exception as err:  # record why, go on
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1]}"
    finally:
        keras.config.set_dtype_policy(previous)
    out = {
        "layer": layer,
        "objectives": n,
        "steps": steps,
        "batch_sizes": sweep,
        "fp32": {
            "batch_size": bs,
            "seconds": fp32[1][0],
            "image_steps_per_s": n * steps / fp32[1][0],
            "objective": float(fp32[1][1].values.mean()),
            "bitwise_equal_run_to_run": bool(np.array_equal(fp32[0][1].images, fp32[1][1].images)),
        },
        "cpu_has_avx512_bf16": "avx512_bf16" in cpu_flags(),
        "cpu_has_amx_bf16": "amx_bf16" in cpu_flags(),
    }
    out["fp32_unsliced"] = {
        "seconds": unsliced[1][0],
        "image_steps_per_s": n * steps / unsliced[1][0],
        "objective": float(unsliced[1][1].values.mean()),
    }
    if bf16 is None:
        out["bf16"] = {"error": error, "sliced_error": sliced_error}
        print("  bfloat16: featviz's render refuses it; the probe instead", flush=True)
        out["bf16_probe"] = bf16_probe(
            model, layer, min(n, 128), steps, settings["learning_rate"], settings["seed"]
        )
    else:
        values = evaluate(model, objectives, bf16[1][1].images)  # judged in float32
        out["bf16"] = {
            "policy": "mixed_bfloat16 (layers compute in bfloat16, variables float32)",
            "step": "unsliced (slice_channels=False)",
            "sliced_error": sliced_error,
            "seconds": bf16[1][0],
            "image_steps_per_s": n * steps / bf16[1][0],
            "objective": float(values.mean()),
            "objective_ratio_to_fp32": float(values.mean() / unsliced[1][1].values.mean()),
            "speed_ratio_to_fp32_unsliced": unsliced[1][0] / bf16[1][0],
            "speed_ratio_to_fp32_sliced": fp32[1][0] / bf16[1][0],
            "bitwise_equal_run_to_run": bool(np.array_equal(bf16[0][1].images, bf16[1][1].images)),
        }
        r = out["bf16"]
        r["adopt"] = bool(
            abs(r["objective_ratio_to_fp32"] - 1) <= 0.01 and r["speed_ratio_to_fp32_sliced"] > 1
        )
    return out


def bf16_probe(model, layer: str, n: int, steps: int, lr: float, seed: int) -> dict:
    """bfloat16 convolutions in a step like featviz's: the model up to ``layer`` built under
    Keras' ``mixed_bfloat16`` policy (float32 weights, bfloat16 compute) or in float32, the
    same pixel parameterization, channel-mean objectives and Adam, ``n`` images, each
    objective on its own channel: what bfloat16 changes in a bare step, on any machine in a
    minute (featviz's own ``precision: bfloat16`` is timed beside the peers)."""
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    channels = int(model.get_layer(layer).output.shape[-1])
    index = np.arange(n) % channels
    start = start_params(shape, n, seed)
    arch = Architecture.from_config(paper()["models"]["cnn3"], "models.cnn3")
    fp32_probe = keras.Model(model.inputs[0], model.get_layer(layer).output)

    def loop(truncated):
        pick = tf.one_hot(index, channels, dtype=tf.float32)

        @tf.function
        def run(params, m, v):
            for t in tf.range(1, steps + 1):
                with tf.GradientTape() as tape:
                    tape.watch(params)
                    act = tf.cast(truncated(tf.sigmoid(params)), tf.float32)
                    loss = -tf.reduce_sum(tf.reduce_mean(act, axis=(1, 2)) * pick)
                grad = tape.gradient(loss, params)
                m = 0.9 * m + 0.1 * grad
                v = 0.999 * v + 0.001 * tf.square(grad)
                tf_t = tf.cast(t, tf.float32)
                m_hat = m / (1.0 - tf.pow(0.9, tf_t))
                v_hat = v / (1.0 - tf.pow(0.999, tf_t))
                params = params - lr * m_hat / (tf.sqrt(v_hat) + 1e-8)
            return params

        p0 = tf.constant(start)
        began = time.perf_counter()
        params = run(p0, tf.zeros_like(p0), tf.zeros_like(p0)).numpy()
        seconds = time.perf_counter() - began
        images = 1.0 / (1.0 + np.exp(-params))
        values = np.asarray(fp32_probe(images)).mean(axis=(1, 2))[np.arange(n), index]
        return seconds, images, float(values.mean())

    out = {}
    previous = keras.config.dtype_policy()
    for name, policy in (("fp32", "float32"), ("bf16", "mixed_bfloat16")):
        try:
            keras.config.set_dtype_policy(policy)
            built = build_model(arch, shape, int(model.outputs[0].shape[-1]), seed=0)
            built.set_weights(model.get_weights())
            truncated = keras.Model(built.inputs[0], built.get_layer(layer).output)
        finally:
            keras.config.set_dtype_policy(previous)
        runs = [loop(truncated) for _ in range(2)]
        out[name] = {
            "seconds": runs[1][0],
            "image_steps_per_s": n * steps / runs[1][0],
            "objective": runs[1][2],
            "bitwise_equal_run_to_run": bool(np.array_equal(runs[0][1], runs[1][1])),
        }
    out["objective_ratio_bf16_to_fp32"] = out["bf16"]["objective"] / out["fp32"]["objective"]
    out["speed_ratio_bf16_to_fp32"] = out["fp32"]["seconds"] / out["bf16"]["seconds"]
    out["adopt"] = bool(
        abs(out["objective_ratio_bf16_to_fp32"] - 1) <= 0.01 and out["speed_ratio_bf16_to_fp32"] > 1
    )
    out |= {
        "layer": layer,
        "images": n,
        "steps": steps,
        "what": " ".join(bf16_probe.__doc__.split()),
    }
    return out


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at a few steps")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--fixed-steps", type=int, nargs=2, default=[1000, 2000])
    parser.add_argument("--auto-sample", type=int, default=4, help="units per layer compared")
    parser.add_argument(
        "--peer-steps", type=int, nargs=2, default=[300, 600], help="the two step counts timed"
    )
    parser.add_argument("--peer-repeats", type=int, default=3, help="runs of each peer timing")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--sweep-layer", default="conv3")
    parser.add_argument("--sweep-steps", type=int, default=128)
    parser.add_argument("--no-xplique", action="store_true")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["fixed", "auto", "peers", "render_step"]
    )
    parser.add_argument("--only-bf16", action="store_true", help="just the bfloat16 probe")
    parser.add_argument(
        "--bf16",
        choices=["auto", "on", "off"],
        default="auto",
        help="time featviz with precision: bfloat16 beside the peers (auto: on a CPU with "
        "AMX or AVX-512 BF16 units)",
    )
    parser.add_argument(
        "--targets-only",
        action="store_true",
        help="recompute each shape's targets from the figures in the JSON, running nothing",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ceiling = TARGET_STEPS
    n_train, n_test, epochs = 4000, 10000, 2
    if args.quick:
        args.fixed_steps, args.peer_steps, args.sweep_steps = [10, 20], [5, 10], 4
        args.peer_repeats = 2
        args.batch_sizes, ceiling, n_test = [64, 128], 200, 500
    out = (
        Path(args.out)
        if args.out
        else (CACHE / "job_speed.quick.json" if args.quick else HERE / "job_speed.json")
    )
    xplique = not args.no_xplique and XPLIQUE_PYTHON.is_file()
    bf16 = args.bf16 == "on" or (
        args.bf16 == "auto" and bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
    )
    xplique_note = None
    if not xplique:
        xplique_note = (
            "not run: --no-xplique"
            if args.no_xplique
            else f"not run: {XPLIQUE_PYTHON} is absent (bash benchmarks/xplique_env.sh builds it)"
        )

    # Each phase's figures are merged into the JSON as soon as they exist, so shapes and
    # phases can be measured by separate runs (and a long run leaves what it finished).
    report = json.loads(out.read_text()) if out.is_file() else {}
    report |= {
        "quick": args.quick,
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "avx512_bf16": "avx512_bf16" in cpu_flags(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "tf_keras_vis": "0.8.7",
            # measured again on every run but one that only recomputes the targets
            "matmul_gflops": report.get("machine", {}).get("matmul_gflops")
            if args.targets_only and report.get("machine", {}).get("matmul_gflops")
            else matmul_gflops(256 if args.quick else 2048),
        },
        "config": "config/paper.yaml, filters section",
        "filters": {k: v for k, v in filters_settings().items() if k != "units"}
        | {"units": paper()["filters"]["units"]},
    }
    report.setdefault("shapes", {})
    if xplique_note:
        report["xplique"] = xplique_note

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")

    if args.targets_only:
        for shape, entry in report["shapes"].items():
            fill_flops(entry, shape, n_train, n_test, epochs)
            entry["targets"] = targets(
                entry, report["machine"]["matmul_gflops"], report.get("render_step"), shape
            )
        save()
        print(json.dumps({s: e["targets"] for s, e in report["shapes"].items()}, indent=1))
        return
    if args.only_bf16:
        shape = args.shapes[0]
        model = trained_model(shape, dataset(shape, n_train, n_test), epochs)[0]
        settings = filters_settings()
        load = [load_average()]
        result = bf16_probe(
            probe.load_model(model),
            args.sweep_layer,
            8 if args.quick else 128,
            args.sweep_steps,
            settings["learning_rate"],
            settings["seed"],
        )
        report.setdefault("render_step", {})["bf16_probe"] = result | {
            # the machine it was measured on
            "avx512_bf16": report["machine"]["avx512_bf16"],
            "amx_bf16": "amx_bf16" in cpu_flags(),
            "matmul_gflops": report["machine"]["matmul_gflops"],
            "shape": shape,
            "load_average": [*load, load_average()],
        }
        save()
        print(json.dumps(result, indent=1))
        return
    for shape in args.shapes:
        print(f"== {shape}", flush=True)
        data = dataset(shape, n_train, n_test)
        model, training = trained_model(shape, data, epochs)
        entry = report["shapes"].setdefault(shape, {})
        entry |= {
            "dataset": SHAPES[shape],
            "data": {"train": n_train, "test": n_test},
            "model": training,
        }
        loads = entry.setdefault("load_average", {})
        work = Path(tempfile.mkdtemp(prefix=f"job_speed_{shape}_"))
        label = SHAPES[shape]
        try:
            # warm-up: thread pools and kernels once, before any timing
            warm = filters_settings(steps=2, units={"conv1": [0]}, classes=False)
            run_study(model, data, warm, work / "warm", label)
            if "fixed" not in args.skip:
                loads["fixed"] = [load_average()]
                entry["fixed"] = fixed_job(
                    model, data, label, args.fixed_steps, work, report["machine"]["matmul_gflops"]
                )
                loads["fixed"].append(load_average())
                save()
                print(f"fixed: {entry['fixed']['seconds_at_target']:.0f} s at 20 000", flush=True)
            if "peers" not in args.skip and "fixed" in entry:
                loads["peers"] = [load_average()]
                entry["peers"] = peers(
                    model,
                    filters_settings(),
                    args.peer_steps,
                    xplique,
                    work / "peers",
                    entry["fixed"],
                    args.peer_repeats,
                    bf16,
                )
                entry["peers"]["matmul_gflops"] = report["machine"]["matmul_gflops"]
                loads["peers"].append(load_average())
                save()
            if "render_step" not in args.skip and shape == args.shapes[0]:
                print("render step", flush=True)
                load = [load_average()]
                step = render_step(model, args.sweep_layer, args.sweep_steps, args.batch_sizes, 2)
                step["conv2_split"] = step_split(model, 50 if args.quick else 1000)
                report["render_step"] = step | {
                    "shape": shape,
                    "load_average": [*load, load_average()],
                }
                save()
            if "auto" not in args.skip:
                loads["auto"] = [load_average()]

                def partial(result, entry=entry, loads=loads):
                    entry["auto"] = result
                    loads["auto"] = [loads["auto"][0], load_average()]
                    save()

                entry["auto"] = auto_job(
                    model, data, label, ceiling, args.auto_sample, work, partial
                )
                save()
                a = entry["auto"]
                print(
                    f"auto: {a['seconds']:.0f} s, stopped {a['stopped']}, "
                    f"objective ratio {a['objective_ratio']:.4f}",
                    flush=True,
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        entry["targets"] = targets(
            entry, report["machine"]["matmul_gflops"], report.get("render_step"), shape
        )
        save()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

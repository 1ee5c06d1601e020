"""How fast is featviz's render loop? The same work done several ways in one process.

The work (fixed by the engine issue): the seed's cnn3 with random weights on 28x28 grey
input, one objective per filter of a layer (or per class), 256 Adam steps at learning rate
0.05, no regularizers, the same start images for every method, each call timed whole,
compilation included. Methods:

- ``featviz``: ``featviz.engine.render`` with its defaults (graph mode, truncated and
  channel-sliced model);
- ``featviz_regularized``: the same with ``default_set()`` regularizers on;
- ``naive``: one filter at a time, eager ``GradientTape``, one Adam step per Python
  iteration (timed on the first ``--naive-filters`` filters: its rate per image-step does
  not depend on how many filters it is run for);
- ``tf_keras_vis``: tf-keras-vis 0.8.7 ``ActivationMaximization`` on the same model (rebuilt
  in tf_keras with the same weights, truncated at the layer), all objectives in one batch,
  its regularizers off;
- the machine's roofline: a 2048x2048 float32 matmul.

Needs tf-keras-vis and tf_keras: ``make bench`` sets up ``benchmarks/.venv`` with them.
Writes ``benchmarks/engine_speed.json``; ``benchmarks/readme_table.py`` turns it into the
performance page's table (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.keras -> tf_keras, for tf-keras-vis only

import keras  # noqa: E402  (Keras 3, used by featviz)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.flops import layer_macs  # noqa: E402
from featviz.engine import channel, class_logit, default_set, pixel, render  # noqa: E402
from featviz.models.build import build_model  # noqa: E402
from featviz.models.spec import Architecture  # noqa: E402

HERE = Path(__file__).resolve().parent
SHAPE = (28, 28, 1)


def seed_model() -> keras.Model:
    return build_model(Architecture(), SHAPE, 10, seed=0)


def objectives_for(case: str, model: keras.Model):
    if case == "class":
        layer = model.layers[-1].name
        return layer, [class_logit(layer, i) for i in range(10)], list(range(10))
    n = int(model.get_layer(case).output.shape[-1])
    return case, [channel(case, i) for i in range(n)], list(range(n))


def macs_per_image(model: keras.Model, upto: str, sliced: bool) -> int:
    """Multiply-accumulates of one forward pass up to ``upto`` (one channel there if sliced)."""
    total = 0
    for layer in model.layers:
        total += layer_macs(layer, 1 if (sliced and layer.name == upto) else None)
        if layer.name == upto:
            break
    return total


def flops_per_image_step(model, upto, sliced) -> int:
    # forward plus the backward pass to the input (no weight gradients): 2x the MACs, 2 FLOPs each
    return 4 * macs_per_image(model, upto, sliced)


def roofline_gflops() -> float:
    a = tf.random.uniform((2048, 2048))
    b = tf.random.uniform((2048, 2048))
    mm = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    mm(a, b).numpy()
    reps = 10
    start = time.perf_counter()
    for _ in range(reps):
        mm(a, b).numpy()
    return 2 * 2048**3 * reps / (time.perf_counter() - start) / 1e9


def objective_of(model, layer, indices, images) -> np.ndarray:
    """Each image's own objective (channel mean or logit) on the featviz model."""
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    acts = np.asarray(probe(images))
    if acts.ndim == 4:
        acts = acts.mean(axis=(1, 2))
    return acts[np.arange(len(indices)), indices]


def run_featviz(model, objectives, steps, lr, seed, regularizers=()):
    start = time.perf_counter()
    result = render(
        model,
        objectives,
        steps=steps,
        learning_rate=lr,
        seed=seed,
        batch_size=len(objectives),
        regularizers=list(regularizers),
        progress=False,
    )
    return time.perf_counter() - start, result


def run_naive(model, layer, indices, start_params, steps, lr):
    """The loop people write first: one filter at a time, eager, one step per iteration."""
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    images = []
    t0 = time.perf_counter()
    for k, index in enumerate(indices):
        var = tf.Variable(start_params[k : k + 1])
        opt = keras.optimizers.Adam(learning_rate=lr)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                act = probe(tf.sigmoid(var), training=False)
                act = tf.reduce_mean(act, axis=(1, 2)) if act.shape.rank == 4 else act
                loss = -act[0, index]
            opt.apply_gradients([(tape.gradient(loss, var), var)])
        images.append(tf.sigmoid(var).numpy())
    return time.perf_counter() - t0, np.concatenate(images)


def run_tf_keras_vis(model, layer, indices, start_images, steps, lr, shape=SHAPE):
    import tf_keras
    from tf_keras_vis.activation_maximization import ActivationMaximization

    # The same architecture and weights in tf_keras, truncated at the objective's layer
    # (what tf-keras-vis's ExtractIntermediateLayer model modifier does).
    inputs = tf_keras.Input(shape)
    x = inputs
    for src in model.layers[1:]:
        cfg = src.get_config()
        kind = type(src).__name__
        if kind == "Conv2D":
            layer_ = tf_keras.layers.Conv2D(
                cfg["filters"], cfg["kernel_size"], padding="same", activation="relu", name=src.name
            )
        elif kind == "MaxPooling2D":
            layer_ = tf_keras.layers.MaxPooling2D(cfg["pool_size"], padding="same", name=src.name)
        elif kind == "Flatten":
            layer_ = tf_keras.layers.Flatten(name=src.name)
        elif kind == "Dense":
            layer_ = tf_keras.layers.Dense(
                cfg["units"], activation=cfg["activation"], name=src.name
            )
        elif kind == "Dropout":
            layer_ = tf_keras.layers.Dropout(cfg["rate"], name=src.name)
        x = layer_(x)
        if src.get_weights():
            layer_.set_weights(src.get_weights())
        if src.name == layer:
            break
    truncated = tf_keras.Model(inputs, x)
    index = tf.constant(indices)

    def score(output):
        """Image i scores its own objective: the mean of channel (or the unit) indices[i]."""
        out = tf.reduce_mean(output, axis=(1, 2)) if output.shape.rank == 4 else output
        return tf.gather_nd(out, tf.stack([tf.range(len(indices)), index], axis=1))

    visualize = ActivationMaximization(truncated, clone=False)
    t0 = time.perf_counter()
    images = visualize(
        score,
        seed_input=start_images,
        steps=steps,
        input_range=(0.0, 1.0),
        optimizer=tf_keras.optimizers.Adam(learning_rate=lr),
        regularizers=[],
        input_modifiers=[],
    )
    return time.perf_counter() - t0, np.asarray(images, dtype=np.float32)


def peak_memory_mb(case: str, steps: int) -> float:
    """Peak resident memory of a fresh process rendering ``case`` for ``steps`` steps."""
    code = (
        "import resource, sys; sys.argv=['x']; "
        "from benchmarks.engine_speed import seed_model, objectives_for, run_featviz; "
        f"m=seed_model(); _, objs, _ = objectives_for({case!r}, m); "
        f"run_featviz(m, objs, {steps}, 0.05, 0); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def warm_up() -> None:
    """Create the process's thread pools and convolution primitives once, before any timing."""
    model = seed_model()
    render(model, [channel("conv2", 0), channel("conv3", 1)], steps=4, progress=False)
    probe = keras.Model(model.inputs[0], model.outputs)
    with tf.GradientTape() as tape:
        x = tf.random.uniform((2, *SHAPE))
        tape.watch(x)
        y = tf.reduce_sum(probe(x))
    tape.gradient(y, x)


def bench_case(case, steps, lr, seed, naive_filters, with_tfkv) -> dict:
    model = seed_model()
    layer, objectives, indices = objectives_for(case, model)
    start_params = pixel().bind(SHAPE).init(len(objectives), seed)
    start_images = 1.0 / (1.0 + np.exp(-start_params))
    n = len(objectives)
    methods = {}

    seconds, result = run_featviz(model, objectives, steps, lr, seed)
    methods["featviz"] = {
        "seconds": seconds,
        "images": n,
        "objective": float(result.values.mean()),
        "flops_per_image_step": flops_per_image_step(model, layer, True),
    }
    seconds, reg = run_featviz(model, objectives, steps, lr, seed, default_set())
    methods["featviz_regularized"] = {
        "seconds": seconds,
        "images": n,
        "objective": float(reg.values.mean()),
        "flops_per_image_step": flops_per_image_step(model, layer, True),
    }
    k = min(naive_filters, n)
    seconds, images = run_naive(model, layer, indices[:k], start_params, steps, lr)
    methods["naive"] = {
        "seconds": seconds,
        "images": k,
        "objective": float(objective_of(model, layer, indices[:k], images).mean()),
        "featviz_objective_same_images": float(result.values[:k].mean()),
        "flops_per_image_step": flops_per_image_step(model, layer, False),
    }
    if with_tfkv:
        seconds, images = run_tf_keras_vis(model, layer, indices, start_images, steps, lr)
        methods["tf_keras_vis"] = {
            "seconds": seconds,
            "images": n,
            "objective": float(objective_of(model, layer, indices, images).mean()),
            "flops_per_image_step": flops_per_image_step(model, layer, False),
        }
    for m in methods.values():
        m["image_steps_per_s"] = m["images"] * steps / m["seconds"]
        m["gflops"] = m["image_steps_per_s"] * m["flops_per_image_step"] / 1e9
    fv = methods["featviz"]["image_steps_per_s"]
    ratios = {
        f"vs_{name}": fv / m["image_steps_per_s"]
        for name, m in methods.items()
        if name != "featviz"
    }
    return {
        "layer": layer,
        "objectives": n,
        "steps": steps,
        "learning_rate": lr,
        "methods": methods,
        "speedup": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["conv2", "conv3", "class"])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--naive-filters", type=int, default=4)
    parser.add_argument("--memory-steps", type=int, nargs=2, default=[256, 4096])
    parser.add_argument("--no-tf-keras-vis", action="store_true")
    parser.add_argument("--out", default=str(HERE / "engine_speed.json"))
    args = parser.parse_args()

    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
        },
        "roofline_gflops": roofline_gflops(),
        "cases": {},
    }
    print(f"roofline: 2048x2048 fp32 matmul {report['roofline_gflops']:.0f} GFLOP/s", flush=True)
    warm_up()
    for case in args.cases:
        res = bench_case(
            case,
            args.steps,
            args.learning_rate,
            args.seed,
            args.naive_filters,
            not args.no_tf_keras_vis,
        )
        report["cases"][case] = res
        for name, m in res["methods"].items():
            print(
                f"{case:6s} {name:20s} {m['seconds']:8.2f} s "
                f"{m['image_steps_per_s']:9.0f} img*step/s "
                f"{m['gflops']:7.1f} GFLOP/s  objective {m['objective']:.4f}",
                flush=True,
            )
        print(
            f"{case:6s} speed-up: " + ", ".join(f"{k} {v:.1f}x" for k, v in res["speedup"].items()),
            flush=True,
        )
    lo, hi = args.memory_steps
    report["memory_mb"] = {str(s): peak_memory_mb("conv2", s) for s in (lo, hi)}
    print(f"peak memory, conv2: {report['memory_mb']}", flush=True)
    Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

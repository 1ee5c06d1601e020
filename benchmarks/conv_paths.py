"""Which way of computing the two parts of a conv2 render step is fastest on this machine?

A step for conv2 objectives of cnn3 (28x28x1 images, 64 of them) computes conv1 whole
(one input channel, 32 output channels, 5x5) and conv2 for one channel per image, each
forward and back to the input. Each part is timed here several ways inside one compiled
loop (200 steps after a warm-up, milliseconds per step), in one process:

- the sliced conv2: depthwise convolution over the batch folded into channels (featviz's
  choice), a grouped ``conv2d`` on the same folding, patches (``extract_patches``) and an
  einsum, 25 shifted slices and an einsum each, and the whole layer then one channel taken;
- conv1 whole: ``conv2d`` in graph mode (featviz's choice), the same under XLA
  (``jit_compile``), and 25 shifted slices stacked into one matrix product, with and
  without XLA.

Writes ``benchmarks/conv_paths.json``; ``benchmarks/readme_table.py`` quotes it under the
performance page's table (docs/performance.md). Random weights: the time does not depend on
their values.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
B, K = 64, 5


def ms_per_step(part: Callable, x0: tf.Tensor, jit: bool = False, steps: int = 200) -> float:
    """Milliseconds per step of ``steps`` gradient steps on ``x0`` through ``part``."""

    @tf.function(jit_compile=jit)
    def loop(x, n):
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.nn.relu(part(x)))
            x = x + 1e-3 * tape.gradient(y, x)
        return x

    loop(x0, tf.constant(2)).numpy()
    start = time.perf_counter()
    loop(x0, tf.constant(steps)).numpy()
    return 1000 * (time.perf_counter() - start) / steps


def sliced_conv2() -> dict[str, float]:
    """conv2 (14x14, 32 -> 64 channels) computed for one channel per image, five ways."""
    h = w = 14
    c, o = 32, 64
    x0 = tf.random.stateless_normal((B, h, w, c), seed=(0, 1))
    kernel = tf.random.stateless_normal((K, K, c, o), seed=(0, 2)) * 0.05
    pick = np.arange(B) % o
    chosen = tf.gather(kernel, pick, axis=3)  # (K, K, C, B)
    depthwise_kernel = tf.reshape(tf.transpose(chosen, (0, 1, 3, 2)), (K, K, B * c, 1))
    per_image = tf.transpose(chosen, (3, 0, 1, 2))  # (B, K, K, C)

    def fold(x):
        return tf.reshape(tf.transpose(x, (1, 2, 0, 3)), (1, h, w, B * c))

    def depthwise(x):
        out = tf.nn.depthwise_conv2d(fold(x), depthwise_kernel, [1, 1, 1, 1], "SAME")
        return tf.transpose(tf.reduce_sum(tf.reshape(out, (h, w, B, c)), -1), (2, 0, 1))

    def grouped(x):
        return tf.transpose(tf.nn.conv2d(fold(x), chosen, 1, "SAME")[0], (2, 0, 1))

    def patches(x):
        p = tf.image.extract_patches(x, [1, K, K, 1], [1, 1, 1, 1], [1, 1, 1, 1], "SAME")
        return tf.einsum("bhwk,bk->bhw", p, tf.reshape(per_image, (B, K * K * c)))

    def shifted(x):
        padded = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]])
        return tf.add_n(
            [
                tf.einsum("bhwc,bc->bhw", padded[:, i : i + h, j : j + w, :], per_image[:, i, j])
                for i in range(K)
                for j in range(K)
            ]
        )

    one_hot = tf.one_hot(pick, o)[:, None, None, :]

    def whole(x):
        return tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, "SAME") * one_hot, -1)

    ways = {
        "depthwise_folded": depthwise,
        "grouped_conv2d": grouped,
        "patches_einsum": patches,
        "shifted_einsum": shifted,
        "whole_layer": whole,
    }
    return {name: ms_per_step(part, x0) for name, part in ways.items()}


def conv1_whole() -> dict[str, float]:
    """conv1 (28x28, 1 -> 32 channels) computed whole, four ways."""
    x0 = tf.random.stateless_normal((B, 28, 28, 1), seed=(0, 3))
    kernel = tf.random.stateless_normal((K, K, 1, 32), seed=(0, 4)) * 0.1
    matrix = tf.reshape(kernel, (K * K, 32))

    def conv(x):
        return tf.nn.conv2d(x, kernel, 1, "SAME")

    def shifted(x):
        padded = tf.pad(x[..., 0], [[0, 0], [2, 2], [2, 2]])
        columns = tf.stack(
            [padded[:, i : i + 28, j : j + 28] for i in range(K) for j in range(K)], axis=-1
        )
        return tf.reshape(tf.matmul(tf.reshape(columns, (-1, K * K)), matrix), (B, 28, 28, 32))

    return {
        "conv2d_graph": ms_per_step(conv, x0),
        "conv2d_xla": ms_per_step(conv, x0, jit=True),
        "shifted_matmul_graph": ms_per_step(shifted, x0),
        "shifted_matmul_xla": ms_per_step(shifted, x0, jit=True),
    }


def main() -> None:
    report = {
        "images": B,
        "tensorflow": tf.__version__,
        "cpus": os.cpu_count(),
        "load_average": [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]],
        "sliced_conv2_ms_per_step": sliced_conv2(),
        "conv1_whole_ms_per_step": conv1_whole(),
        # what featviz's render step does (engine.slicing, engine.backend)
        "featviz_uses": {"sliced_conv2": "depthwise_folded", "conv1_whole": "conv2d_graph"},
    }
    report["fastest"] = {
        part: min(report[f"{part}_ms_per_step"].items(), key=lambda kv: kv[1])[0]
        for part in ("sliced_conv2", "conv1_whole")
    }
    out = HERE / "conv_paths.json"
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""The render loop: optimize a batch of images, one objective each, in one compiled step.

The loop knows nothing about particular objectives: it asks each for the
layers it reads and a read-out vector per layer, builds a model truncated at
those layers, and runs Adam on the images' parameters inside one compiled
function, ``trace_every`` steps per call. Objectives are processed in chunks
of ``batch_size`` so that memory stays bounded.

Images are parameterized in pixel space through a sigmoid, which maps any
real parameter into the models' valid input range (0, 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from featviz.engine.objectives import Objective
from featviz.progress import bar


class RenderError(RuntimeError):
    """Optimization produced a non-finite value."""


@dataclass(frozen=True)
class RenderResult:
    """Images and objective values of one render call.

    Attributes:
        images: ``(N, H, W, C)`` float32 images in the model's input range.
        values: ``(N,)`` final value of each objective on its image.
        trace_steps: ``(T,)`` steps at which the objectives were recorded.
        traces: ``(N, T)`` objective value of each image at those steps.
        names: the objectives' names.
    """

    images: np.ndarray
    values: np.ndarray
    trace_steps: np.ndarray
    traces: np.ndarray
    names: list[str]


def activation_layers(model: keras.Model) -> list[str]:
    """Names of the layers whose outputs an objective may read."""
    skip = (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.Flatten)
    return [layer.name for layer in model.layers if not isinstance(layer, skip)]


def check_objectives(model: keras.Model, objectives: Sequence[Objective]) -> None:
    """Check that every layer exists and every index is in range.

    Raises:
        ValueError: naming the objective, what was received and what is valid.
    """
    valid = activation_layers(model)
    for objective in objectives:
        for _, term in objective.terms:
            if term.layer not in valid:
                raise ValueError(
                    f"Objective '{objective.name}': unknown layer '{term.layer}'. "
                    f"Layers with activations: {', '.join(valid)}."
                )
            n = int(model.get_layer(term.layer).output.shape[-1])
            if term.index is not None and not 0 <= term.index < n:
                raise ValueError(
                    f"Objective '{objective.name}': index {term.index} out of range for layer "
                    f"'{term.layer}', which has {n} channels (valid: 0..{n - 1})."
                )
            term.weights(n)  # checks a direction's length


def render(
    model: keras.Model,
    objectives: Sequence[Objective],
    *,
    steps: int = 256,
    learning_rate: float = 0.05,
    seed: int = 0,
    batch_size: int = 64,
    trace_every: int | None = None,
    progress: bool = True,
) -> RenderResult:
    """Maximize each objective on its own image, all of them batched.

    Args:
        model: any Keras 3 model with one image input.
        objectives: one objective per image.
        steps: Adam steps per image.
        learning_rate: Adam's step size on the image parameters.
        seed: seeds the start images (the same seed gives the same images).
        batch_size: objectives optimized together; bounds memory.
        trace_every: record the objectives every this many steps (default:
            about 64 records per run).
        progress: show a progress bar on stderr.

    Returns:
        A :class:`RenderResult`.

    Raises:
        ValueError: an unknown layer or an index out of range.
        RenderError: a NaN or Inf appeared; names the objective and step.
    """
    if not objectives:
        raise ValueError("render() needs at least one objective.")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}.")
    check_objectives(model, objectives)
    trace_every = trace_every or max(1, steps // 64)
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    # One draw for all images, so an image does not depend on the batch it lands in.
    start = (
        np.random.default_rng(seed)
        .normal(0.0, 0.1, size=(len(objectives), *shape))
        .astype(np.float32)
    )

    images, values, traces = [], [], []
    record_steps = np.array(sorted(set(range(0, steps, trace_every)) | {steps}), dtype=np.int64)
    with bar(len(objectives) * steps, desc="render", unit="img·step", disable=not progress) as pbar:
        for lo in range(0, len(objectives), batch_size):
            chunk = list(objectives[lo : lo + batch_size])
            img, val, trace = _render_chunk(
                model, chunk, start[lo : lo + len(chunk)], record_steps, learning_rate, pbar
            )
            images.append(img)
            values.append(val)
            traces.append(trace)
    return RenderResult(
        images=np.concatenate(images),
        values=np.concatenate(values),
        trace_steps=record_steps,
        traces=np.concatenate(traces),
        names=[o.name for o in objectives],
    )


def _readouts(model: keras.Model, chunk: Sequence[Objective]) -> tuple[list[str], list[np.ndarray]]:
    """Layers read by the chunk and, per layer, a ``(B, C)`` read-out matrix."""
    layers = list(dict.fromkeys(layer for o in chunk for layer in o.layers))
    mats = []
    for layer in layers:
        n = int(model.get_layer(layer).output.shape[-1])
        mat = np.zeros((len(chunk), n), dtype=np.float32)
        for b, objective in enumerate(chunk):
            for weight, term in objective.terms:
                if term.layer == layer:
                    mat[b] += weight * term.weights(n)
        mats.append(mat)
    return layers, mats


def _render_chunk(model, chunk, start, record_steps, learning_rate, pbar):
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise NotImplementedError(
            f"render() runs on the TensorFlow backend; Keras uses '{backend}'."
        )
    import tensorflow as tf

    layers, mats = _readouts(model, chunk)
    features = keras.Model(model.inputs, [model.get_layer(name).output for name in layers])
    mats = [tf.constant(m) for m in mats]

    def objective_values(image):
        outputs = features(image, training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        total = 0.0
        for act, mat in zip(outputs, mats, strict=True):
            reduced = (
                tf.reduce_mean(act, axis=list(range(1, act.shape.rank - 1)))
                if act.shape.rank > 2
                else act
            )
            total += tf.reduce_sum(reduced * mat, axis=-1)
        return total

    beta1, beta2, eps = 0.9, 0.999, 1e-8

    @tf.function
    def run(param, m, v, t, n_steps):
        for _ in tf.range(n_steps):
            with tf.GradientTape() as tape:
                tape.watch(param)
                loss = -tf.reduce_sum(objective_values(tf.sigmoid(param)))
            grad = tape.gradient(loss, param)
            t += 1.0
            m = beta1 * m + (1.0 - beta1) * grad
            v = beta2 * v + (1.0 - beta2) * tf.square(grad)
            m_hat = m / (1.0 - tf.pow(beta1, t))
            v_hat = v / (1.0 - tf.pow(beta2, t))
            param -= learning_rate * m_hat / (tf.sqrt(v_hat) + eps)
        return param, m, v, t, objective_values(tf.sigmoid(param))

    param = tf.constant(start)
    m = tf.zeros_like(param)
    v = tf.zeros_like(param)
    t = tf.constant(0.0)
    trace = np.zeros((len(chunk), len(record_steps)), dtype=np.float32)
    trace[:, 0] = objective_values(tf.sigmoid(param)).numpy()
    done = 0
    for k, step in enumerate(record_steps[1:], start=1):
        param, m, v, t, obj = run(param, m, v, t, tf.constant(int(step - done)))
        trace[:, k] = obj.numpy()
        bad = ~np.isfinite(trace[:, k])
        if bad.any():
            names = ", ".join(chunk[i].name for i in np.flatnonzero(bad)[:5])
            raise RenderError(
                f"Objective became non-finite by step {int(step)} (after step {done}) "
                f"for: {names}. Lower the learning rate or add a regularizer."
            )
        pbar.update(len(chunk) * int(step - done))
        done = int(step)
    images = tf.sigmoid(param).numpy()
    return images, trace[:, -1].copy(), trace

"""Project one activation back to pixels: the deconvnet, guided backpropagation, the gradient.

The three differ only in what a ReLU passes backwards. Going down from the
activation, layer by layer:

- a max pooling routes the signal to the position that won the forward pass
  (the pooling *switches*) and puts zeros elsewhere;
- a convolution applies its transposed filters (the gradient of a convolution
  with respect to its input; the bias plays no part);
- a ReLU passes, by ``rule``:

  - ``gradient``: the signal where the forward input was positive;
  - ``deconvnet`` (Zeiler and Fergus 2014): the signal's positive part,
    whatever the forward pass did;
  - ``guided`` (Springenberg et al. 2015): the signal where both the forward
    input and the signal are positive.

The pass starts from the activation's own value at its position (zeros
elsewhere), so a conv1 unit's deconvnet projection is its filter scaled by the
activation, placed where the activation is. Everything is written in
``keras.ops`` and runs on TensorFlow and JAX; the projections of a layer's units
are computed as batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

RULES = ("gradient", "deconvnet", "guided")


def chain(model: keras.Model, layer: str) -> list[keras.layers.Layer]:
    """The layers from the input up to ``layer``, each reading the one before.

    Raises:
        ValueError: a layer the projection does not know (only ``Conv2D`` with a ReLU or
            no activation, and non-overlapping ``MaxPooling2D``), or a branching graph.
    """
    layers = []
    current = model.get_layer(layer)
    while not isinstance(current, keras.layers.InputLayer):
        nodes = current._inbound_nodes[0].input_tensors
        if len(nodes) != 1:
            raise ValueError(f"Layer '{current.name}' merges branches; projections need a chain.")
        if isinstance(current, keras.layers.Conv2D):
            kind = getattr(current.activation, "__name__", "")
            if type(current) is not keras.layers.Conv2D or kind not in ("relu", "linear"):
                raise ValueError(
                    f"Layer '{current.name}': projections take Conv2D with a ReLU or no "
                    f"activation, not {type(current).__name__} with '{kind}'."
                )
        elif isinstance(current, keras.layers.MaxPooling2D):
            if tuple(current.pool_size) != tuple(current.strides):
                raise ValueError(f"Layer '{current.name}': only non-overlapping max pooling.")
        else:
            raise ValueError(
                f"Layer '{current.name}' ({type(current).__name__}): projections go through "
                "Conv2D and MaxPooling2D layers only."
            )
        layers.append(current)
        current = nodes[0]._keras_history.operation
    return layers[::-1]


def switches(x, pool: int):
    """One-hot ``(N, H, W, C)``: where each ``pool`` x ``pool`` window of ``x`` has its maximum.

    The first maximum in a window (row-major) wins a tie; windows that run past
    the border (``same`` padding) are padded with ``-inf`` at the bottom and right.
    """
    n, h, w, c = (int(s) for s in x.shape)
    ho, wo = -(-h // pool), -(-w // pool)
    padded = ops.pad(
        x, [[0, 0], [0, ho * pool - h], [0, wo * pool - w], [0, 0]], constant_values=-np.inf
    )
    windows = ops.reshape(padded, (n, ho, pool, wo, pool, c))
    windows = ops.reshape(ops.transpose(windows, (0, 1, 3, 5, 2, 4)), (n, ho, wo, c, pool * pool))
    hot = ops.one_hot(ops.argmax(windows, axis=-1), pool * pool)
    hot = ops.reshape(hot, (n, ho, wo, c, pool, pool))
    hot = ops.reshape(ops.transpose(hot, (0, 1, 4, 2, 5, 3)), (n, ho * pool, wo * pool, c))
    return hot[:, :h, :w, :]


def unpool(signal, winners, pool: int):
    """Place each value of ``signal`` at its window's switch position, zeros elsewhere."""
    h, w = int(winners.shape[1]), int(winners.shape[2])
    spread = ops.repeat(ops.repeat(signal, pool, axis=1), pool, axis=2)[:, :h, :w, :]
    return winners * spread


def relu_backward(signal, forward_positive, rule: str):
    """What a ReLU passes backwards under ``rule`` (see the module docstring)."""
    if rule == "gradient":
        return signal * forward_positive
    if rule == "deconvnet":
        return ops.relu(signal)
    if rule == "guided":
        return signal * forward_positive * ops.cast(signal > 0, signal.dtype)
    raise ValueError(f"Unknown projection rule '{rule}'. Rules: {', '.join(RULES)}.")


def project(
    model: keras.Model,
    layer: str,
    images: np.ndarray,
    channels: Sequence[int],
    positions: Sequence[Sequence[int]],
    rule: str,
    batch_size: int = 256,
) -> np.ndarray:
    """For each image, its activation of ``channels[i]`` at ``positions[i]`` of ``layer``,
    projected back to pixels by ``rule``.

    Returns:
        ``(N, H, W, C)`` projections, in the units of the input.
    """
    if rule not in RULES:
        raise ValueError(f"Unknown projection rule '{rule}'. Rules: {', '.join(RULES)}.")
    layers = chain(model, layer)
    forward = keras.Model(model.inputs[0], [lay.input for lay in layers] + [layers[-1].output])
    channels, positions = np.asarray(channels), np.asarray(positions)
    out = []
    for lo in range(0, len(images), batch_size):
        batch = np.asarray(images[lo : lo + batch_size], dtype=np.float32)
        acts = forward(batch, training=False)
        top = ops.convert_to_numpy(acts[-1])
        n = len(batch)
        seed = np.zeros_like(top)
        rows, (ys, xs) = np.arange(n), positions[lo : lo + n].T
        cs = channels[lo : lo + n]
        seed[rows, ys, xs, cs] = top[rows, ys, xs, cs]
        signal = ops.convert_to_tensor(seed)
        for k in range(len(layers) - 1, -1, -1):
            lay = layers[k]
            if isinstance(lay, keras.layers.MaxPooling2D):
                pool = int(lay.pool_size[0])
                signal = unpool(signal, switches(acts[k], pool), pool)
                continue
            output = acts[k + 1]
            if getattr(lay.activation, "__name__", "") == "relu":
                signal = relu_backward(signal, ops.cast(output > 0, signal.dtype), rule)
            signal = ops.conv_transpose(
                signal,
                lay.kernel,
                strides=lay.strides,
                padding=lay.padding,
                dilation_rate=lay.dilation_rate,
            )
            shape = tuple(int(s) for s in acts[k].shape[1:3])
            signal = signal[:, : shape[0], : shape[1], :]
        out.append(ops.convert_to_numpy(signal))
    return np.concatenate(out).astype(np.float32)

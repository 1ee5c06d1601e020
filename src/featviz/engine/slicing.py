"""Compute only what a batch of objectives reads.

Two savings, both exact:

- *truncation*: the forward pass stops at the deepest layer an objective
  reads; nothing after it is computed;
- *channel slicing*: when every image of the batch reads exactly one
  channel (or unit) of that deepest layer, and the layer is a plain
  ``Conv2D`` or ``Dense``, only that channel is computed for that image: a
  grouped convolution with one output channel per image (the batch folded
  into channels, computed depthwise), or one gathered column of the dense kernel. At conv2 of
  cnn3 this skips 63 of every 64 output channels.

Anything else (weighted sums over several channels of that layer,
directions, diversity, class probabilities, other layer types) falls back
to computing the whole layer, as does a layer whose activation mixes channels
(softmax).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from featviz.engine import backend
from featviz.engine.objectives import Objective


@dataclass
class Slice:
    """The deepest layer computed for one channel per image."""

    layer: str
    channels: np.ndarray  # (B,) channel read by each image


def model_order(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers]


def plan_slice(
    model: keras.Model, chunk: Sequence[Objective], layers: Sequence[str]
) -> Slice | None:
    """The slice that computes the deepest read layer one channel per image, if it is exact."""
    order = model_order(model)
    deepest = max(layers, key=order.index)
    layer = model.get_layer(deepest)
    if type(layer) not in (keras.layers.Conv2D, keras.layers.Dense):
        return None
    if getattr(layer.activation, "__name__", "") in ("softmax", "log_softmax"):
        return None  # not elementwise: one channel alone does not give its value
    if isinstance(layer, keras.layers.Conv2D) and (
        layer.groups != 1 or layer.data_format != "channels_last"
    ):
        return None
    channels = []
    for objective in chunk:
        read = {(t.kind, t.index) for _, t in objective.terms if t.layer == deepest}
        if len(read) != 1:
            return None
        kind, index = read.pop()
        if kind != "mean" or index is None:
            return None
        channels.append(index)
    return Slice(deepest, np.array(channels, dtype=np.int64))


def _conv_one_channel(layer: keras.layers.Conv2D, x: Any, kernel: Any, bias: Any) -> Any:
    """Each image's input convolved with its own single kernel.

    The batch is folded into channels and convolved depthwise (one kernel
    slice per input channel of each image), then summed over input channels.
    This is the grouped convolution written with depthwise kernels, which
    TensorFlow's CPU kernels run far faster than a grouped ``conv2d``.
    ``kernel`` is ``(kh, kw, B * Cin, 1)``, image-major.
    """
    b, h, w, cin = (int(s) for s in x.shape)
    folded = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (1, h, w, b * cin))
    out = ops.depthwise_conv(
        folded,
        kernel,
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation_rate,
    )
    ho, wo = int(out.shape[1]), int(out.shape[2])
    out = ops.sum(ops.reshape(out, (ho, wo, b, cin)), axis=-1)  # (H', W', B)
    out = ops.expand_dims(ops.transpose(out, (2, 0, 1)), -1)  # (B, H', W', 1)
    if bias is not None:
        out = out + ops.reshape(bias, (b, 1, 1, 1))
    return out


def _dense_one_unit(layer: keras.layers.Dense, x: Any, kernel: Any, bias: Any) -> Any:
    out = ops.sum(x * kernel, axis=-1, keepdims=True)
    if bias is not None:
        out = out + ops.reshape(bias, (-1, 1))
    return out


def is_relu(layer: keras.layers.Layer) -> bool:
    """A plain ``Conv2D`` or ``Dense`` whose activation is a ReLU: its pre-activation can be
    computed from its input, and a unit that is off there has no gradient."""
    return (
        type(layer) in (keras.layers.Conv2D, keras.layers.Dense)
        and getattr(layer.activation, "__name__", "") == "relu"
        and getattr(layer, "data_format", "channels_last") == "channels_last"
        and getattr(layer, "groups", 1) == 1
    )


def _pre_activation(layer: keras.layers.Layer, x: Any) -> Any:
    """The layer's output before its activation, from its input."""
    if isinstance(layer, keras.layers.Conv2D):
        out = layer.convolution_op(x, layer.kernel)
    else:
        out = ops.matmul(x, layer.kernel)
    return out + layer.bias if layer.use_bias else out


@keras.ops.custom_gradient
def redirected_relu(x: Any) -> Any:
    """A ReLU whose gradient is redirected (Lucid's): where an image's ReLU passes no
    gradient at all, the gradient passes through anyway, except where it would push a
    negative input lower. The forward value is the ReLU's."""
    on = ops.greater(x, 0.0)

    def grad(*args: Any, upstream: Any = None) -> Any:
        if upstream is None:
            (upstream,) = args
        plain = ops.where(on, upstream, ops.zeros_like(upstream))
        lower = ops.logical_and(ops.logical_not(on), ops.greater(upstream, 0.0))
        redirected = ops.where(lower, ops.zeros_like(upstream), upstream)
        axes = tuple(range(1, len(x.shape)))
        passes = ops.sum(ops.square(plain), axis=axes, keepdims=True) > 0.0
        return ops.where(passes, plain, redirected)

    return ops.relu(x), grad


class FirstMaxPooling2D(keras.layers.MaxPooling2D):
    """``MaxPooling2D`` over windows that do not overlap, pooled by :func:`backend.max_pool`:
    the same values and gradients, at a steady cost in the render's compiled loop."""

    def call(self, inputs: Any) -> Any:
        return backend.max_pool(inputs, tuple(self.pool_size), self.padding)


def _first_max_poolable(layer: keras.layers.Layer) -> bool:
    return (
        type(layer) is keras.layers.MaxPooling2D
        and tuple(layer.pool_size) == tuple(layer.strides)
        and layer.data_format == "channels_last"
    )


#: Keras' dtype policy of the steps' copy for each precision the steps may run in (None: the
#: model's own float32; ``mixed_bfloat16``: float32 weights, bfloat16 products).
POLICIES = {"float32": None, "bfloat16": "mixed_bfloat16"}


def stepping_clone(
    model: keras.Model,
    redirected: bool = False,
    precision: str = "float32",
    steady_pooling: bool = False,
) -> keras.Model | None:
    """The copy of ``model`` (same weights) the steps climb: its ReLUs with redirected
    gradients (:func:`redirected_relu`) where ``redirected``, its layers computing in
    ``precision``, its max pooling by :class:`FirstMaxPooling2D` where ``steady_pooling``
    (on TensorFlow; a render of many steps); ``None`` where the steps climb ``model`` itself
    (nothing to change, or only the pooling of a model that cannot be copied).

    Covers ReLUs inside ``Conv2D`` and ``Dense`` layers and ``Activation('relu')`` layers;
    a model that cannot be cloned (subclassed) is refused with a message where it needs
    redirected gradients or another precision.
    """
    if precision not in POLICIES:
        raise ValueError(f"precision '{precision}': expected one of {', '.join(POLICIES)}.")
    policy = POLICIES[precision]
    pools = (
        steady_pooling
        and backend.name() == "tensorflow"
        and any(map(_first_max_poolable, model.layers))
    )
    if not redirected and policy is None and not pools:
        return None

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if policy is not None:
            config["dtype"] = policy
        kind = FirstMaxPooling2D if pools and _first_max_poolable(layer) else layer.__class__
        new = kind.from_config(config)
        if redirected and getattr(getattr(layer, "activation", None), "__name__", "") == "relu":
            new.activation = redirected_relu
        return new

    what = " and ".join(
        w for w, on in (("redirected ReLU gradients", redirected), (precision, policy)) if on
    )
    try:
        copy = keras.models.clone_model(model, clone_function=clone)
    except (ValueError, TypeError) as err:
        if not redirected and policy is None:
            return None  # only the pooling's cost was to change
        raise ValueError(
            f"Steps with {what} need a functional or sequential model to copy; "
            f"'{model.name}' could not be copied ({err})."
        ) from None
    copy.set_weights(model.get_weights())
    return copy


class Reader:
    """``reader(images) -> {layer: activations}`` for the layers a chunk reads.

    A sliced layer's activations have one channel per image: the one that
    image reads. With ``pre_activation``, :meth:`both` also gives the ReLU layers'
    activations before the ReLU (computed from the layer's input, at no extra cost).
    """

    def __init__(
        self,
        model: keras.Model,
        layers: Sequence[str],
        sliced: Slice | None,
        pre_activation: bool = False,
    ) -> None:
        self.layers = list(layers)
        self.sliced = sliced
        self.linear = {
            name
            for name in self.layers
            if (pre_activation and is_relu(model.get_layer(name)))
            or (sliced and name == sliced.layer)
        }
        self.owners = {name: model.get_layer(name) for name in self.linear}
        outputs = []
        for name in self.layers:
            layer = model.get_layer(name)
            outputs.append(layer.input if name in self.linear else layer.output)
        self.truncated = keras.Model(model.inputs[0], outputs)
        self.kernel = self.bias = None
        if sliced:
            layer = model.get_layer(sliced.layer)
            kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
            if isinstance(layer, keras.layers.Conv2D):
                picked = np.take(kernel, sliced.channels, axis=3)  # (kh, kw, Cin, B)
                kh, kw, cin, b = picked.shape
                depthwise = np.transpose(picked, (0, 1, 3, 2)).reshape(kh, kw, b * cin, 1)
                self.kernel = ops.convert_to_tensor(np.ascontiguousarray(depthwise))
            else:
                self.kernel = ops.convert_to_tensor(np.take(kernel, sliced.channels, axis=1).T)
            if layer.use_bias:
                bias = np.asarray(keras.ops.convert_to_numpy(layer.bias))
                self.bias = ops.convert_to_tensor(bias[sliced.channels])

    def __call__(self, images: Any) -> dict[str, Any]:
        return self.both(images)[0]

    def both(self, images: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(activations, pre-activations)``: the second holds the layers computed from
        their input (the ReLU layers with ``pre_activation``, and a sliced layer) before
        their activation, and the other read layers as they are."""
        outs = self.truncated(images, training=False)
        outs = list(outs) if isinstance(outs, list | tuple) else [outs]
        # a model computing in lower precision is read out in float32, as the objectives are
        outs = [
            o if keras.backend.standardize_dtype(o.dtype) == "float32" else ops.cast(o, "float32")
            for o in outs
        ]
        acts = dict(zip(self.layers, outs, strict=True))
        pre = dict(acts)
        for name in self.linear:
            x, layer = acts[name], self.owners[name]
            if self.sliced and name == self.sliced.layer:
                one = (
                    _conv_one_channel if isinstance(layer, keras.layers.Conv2D) else _dense_one_unit
                )
                pre[name] = one(layer, x, self.kernel, self.bias)
            else:
                pre[name] = _pre_activation(layer, x)
            acts[name] = layer.activation(pre[name])
        return acts, pre

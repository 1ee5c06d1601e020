"""The layers of a model as plain data: names, kinds, widths, and the logits layer.

The workflow decides which jobs exist (one per layer of a study) and checks the
layer names and unit indices of the configuration before any job runs, so it
needs a model's layers without loading the model. A :class:`LayerTable` comes
from an architecture spec (what :func:`~featviz.models.build.build_model` will
make) or from a model's serialized Keras config: a live model's, or the
``config.json`` inside a ``.keras`` file, read without importing Keras. A test
checks that both give the same table for the same model.

The *logits layer* is the layer whose output is the model's output: the class
scores that class objectives maximize.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Layers whose output no objective reads: the input, and layers that only copy or drop values.
UNREADABLE = frozenset({"InputLayer", "Dropout", "Flatten", "Reshape"})
#: Layers whose output has the shape of their (first) input.
SHAPE_PRESERVING = frozenset(
    {
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "Dropout",
        "SpatialDropout2D",
        "GaussianNoise",
        "GaussianDropout",
        "Rescaling",
        "Normalization",
        "Identity",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
    }
)
#: 2-D convolutions: the layers with filters whose feature maps the activations study shows.
CONVOLUTIONS = frozenset({"Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose"})
#: Layers with weights: the convolutions and dense layers.
WEIGHTED = CONVOLUTIONS | {"Dense"}


@dataclass(frozen=True)
class Layer:
    """One layer: its Keras name and class, its width, and whether its output has positions."""

    name: str
    kind: str
    units: int | None  # channels of a spatial output, units of a flat one; None if unknown
    spatial: bool | None  # output (N, H, W, C) rather than (N, C); None if unknown


@dataclass(frozen=True)
class LayerTable:
    """The layers of one model, input to output, and which one gives the logits."""

    layers: tuple[Layer, ...]
    logits: str
    input_shape: tuple[int, ...]
    #: The activation that squashes the output layer's scores (softmax, sigmoid), if any.
    squashed: str | None = None

    def check_logits(self) -> None:
        """Refuse a model whose output is squashed: class objectives maximize logits.

        Raises:
            ValueError: naming the output layer and its activation, and what to give.
        """
        if self.squashed:
            raise ValueError(
                f"The model's output layer '{self.logits}' applies a {self.squashed}; featviz "
                "maximizes class logits, the scores before it (a squashed output saturates, "
                "and a softmax ties the classes together). Give the model without it: the "
                "same weights, that layer's activation None."
            )

    def readable(self) -> list[str]:
        """Names of the layers whose outputs an objective may read."""
        return [layer.name for layer in self.layers if layer.kind not in UNREADABLE]

    def embedding_layer(self) -> str:
        """The last layer with activations before the logits: the model's embedding."""
        readable = self.readable()
        position = readable.index(self.logits)
        if position == 0:
            raise ValueError(f"The model has no layer with activations before '{self.logits}'.")
        return readable[position - 1]

    def below(self, name: str) -> str | None:
        """The nearest layer with weights (a convolution or dense layer) before ``name``;
        None when ``name`` is the first (the image itself is below it)."""
        names = [layer.name for layer in self.layers]
        before = self.layers[: names.index(self.get(name).name)]
        weighted = [layer.name for layer in before if layer.kind in WEIGHTED]
        return weighted[-1] if weighted else None

    def conv_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.kind in CONVOLUTIONS]

    def get(self, name: str) -> Layer:
        """The layer called ``name``.

        Raises:
            ValueError: naming the layer and listing the ones an objective may read.
        """
        for layer in self.layers:
            if layer.name == name and layer.kind not in UNREADABLE:
                return layer
        raise ValueError(
            f"Unknown layer '{name}'. Layers with activations: {', '.join(self.readable())}."
        )

    def check_units(self, name: str, indices: Sequence[int] | None) -> None:
        """Check that layer ``name`` exists and has every unit in ``indices``.

        Raises:
            ValueError: naming the layer, the index received and the valid range.
        """
        layer = self.get(name)
        if indices is None or layer.units is None:
            return
        for i in indices:
            if not 0 <= int(i) < layer.units:
                raise ValueError(
                    f"Index {i} out of range for layer '{name}', which has {layer.units} "
                    f"units (valid: 0..{layer.units - 1})."
                )

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_architecture(cls, arch: Any, input_shape: Sequence[int], n_classes: int) -> LayerTable:
        """The table of ``build_model(arch, input_shape, n_classes, seed)`` (any seed)."""
        layers = [Layer("image", "InputLayer", int(input_shape[-1]), True)]
        for i, width in enumerate(arch.conv_filters, start=1):
            layers.append(Layer(f"conv{i}", "Conv2D", int(width), True))
            if arch.batch_norm:
                layers.append(Layer(f"bn{i}", "BatchNormalization", int(width), True))
            layers.append(Layer(f"pool{i}", "MaxPooling2D", int(width), True))
        h, w = (int(s) for s in input_shape[:2])
        for _ in arch.conv_filters:  # 'same' pooling rounds up
            h, w = math.ceil(h / arch.pool_size), math.ceil(w / arch.pool_size)
        layers.append(Layer("flatten", "Flatten", h * w * int(arch.conv_filters[-1]), False))
        for i, units in enumerate(arch.dense_units, start=1):
            layers.append(Layer(f"fc{i}", "Dense", int(units), False))
        if arch.dropout > 0:
            layers.append(Layer("dropout", "Dropout", layers[-1].units, False))
        layers.append(Layer(arch.logits_layer, "Dense", int(n_classes), False))
        return cls(tuple(layers), arch.logits_layer, tuple(int(s) for s in input_shape))

    @classmethod
    def from_config(cls, serialized: Mapping[str, Any]) -> LayerTable:
        """The table of a serialized Keras model (``keras.saving.serialize_keras_object``).

        Output widths are read where the config states them: a layer's output
        shape is the input shape recorded by the layer that consumes it (or its
        own input shape, for layers that keep it), and a conv or dense layer's
        width is its ``filters`` or ``units``.

        Raises:
            ValueError: a config featviz cannot render from: not a functional or
                sequential model, an image input without a fixed size, several
                outputs.
        """
        try:
            return cls._from_config(serialized)
        except (KeyError, IndexError, TypeError) as err:
            raise ValueError(
                f"Unsupported Keras model config ({type(err).__name__}: {err})."
            ) from None

    @classmethod
    def _from_config(cls, serialized: Mapping[str, Any]) -> LayerTable:
        kind = serialized.get("class_name")
        config = serialized.get("config", {})
        entries = config.get("layers", [])
        if kind not in ("Functional", "Sequential", "Model") or not entries:
            raise ValueError(
                f"Not a Keras functional or sequential model: its config has class "
                f"'{kind}' and {len(entries)} layers."
            )
        names = [e.get("name") or e["config"]["name"] for e in entries]
        shapes: dict[str, list] = {}  # output shape of each layer, where known
        inputs: dict[str, list] = {}  # (first) input shape of each layer, where known
        if kind == "Sequential":
            for prev, entry in zip(names, entries[1:], strict=False):
                shape = (entry.get("build_config") or {}).get("input_shape")
                if shape is not None:
                    shapes[prev] = list(shape)
            for prev, name in zip(names, names[1:], strict=False):
                if prev in shapes:
                    inputs[name] = shapes[prev]
        else:
            for name, entry in zip(names, entries, strict=True):
                for history, shape in _inbound(entry.get("inbound_nodes", [])):
                    shapes.setdefault(history, list(shape))
                    inputs.setdefault(name, list(shape))
        layers = []
        for name, entry in zip(names, entries, strict=True):
            layer_config = entry.get("config", {})
            if entry["class_name"] == "InputLayer":
                shape = layer_config.get("batch_shape") or layer_config.get("batch_input_shape")
                shapes.setdefault(name, list(shape))
            if name not in shapes and entry["class_name"] in SHAPE_PRESERVING and name in inputs:
                shapes[name] = inputs[name]
            shape = shapes.get(name)
            units = layer_config.get("filters") or layer_config.get("units")
            if units is None and shape is not None and shape[-1] is not None:
                units = int(shape[-1])
            spatial = None if shape is None else len(shape) == 4
            if spatial is None and entry["class_name"] in CONVOLUTIONS | {"Dense"}:
                spatial = entry["class_name"] != "Dense"
            layers.append(Layer(name, entry["class_name"], units, spatial))
        if kind == "Sequential":
            logits, first = names[-1], shapes[names[0]]
        else:
            for key in ("input_layers", "output_layers"):
                spec = config[key]
                if isinstance(spec, dict) or (isinstance(spec[0], list | tuple) and len(spec) > 1):
                    raise ValueError(
                        f"The model has several {key.split('_')[0]}s; featviz renders models "
                        "with one image input and one output of class scores."
                    )
            logits = _first_name(config["output_layers"])
            first = shapes[_first_name(config["input_layers"])]
        if len(first) != 4 or any(s is None for s in first[1:]):
            raise ValueError(
                f"The model's input has shape {tuple(first[1:])}; featviz renders images of a "
                "fixed size (height, width, channels)."
            )
        squashed = _squashing(entries[names.index(logits)])
        return cls(tuple(layers), logits, tuple(int(s) for s in first[1:]), squashed)

    @classmethod
    def from_keras_file(cls, path: str | Path) -> LayerTable:
        """The table of the model saved in a ``.keras`` file, read without loading it.

        Raises:
            ValueError: the file is not a ``.keras`` archive with a model config.
        """
        try:
            with zipfile.ZipFile(path) as archive:
                serialized = json.loads(archive.read("config.json"))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError) as err:
            from featviz.io import file_kind

            kind = file_kind(path)
            if kind == "a zip archive":
                damaged = isinstance(err, zipfile.BadZipFile | EOFError)
                kind = "a damaged or truncated zip archive" if damaged else f"{kind} ({err})"
            raise ValueError(
                f"{path}: not a Keras model file; it is {kind}, expected a .keras archive "
                "holding config.json (Keras 3's model.save('name.keras'))."
            ) from None
        try:
            return cls.from_config(serialized)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None


#: Output activations that squash class scores (found by name in a layer's config).
SQUASHING = ("softmax", "log_softmax", "sigmoid")


def _squashing(entry: Mapping[str, Any]) -> str | None:
    """The squashing activation a serialized layer applies to its output, if any."""
    if entry.get("class_name") == "Softmax":
        return "softmax"
    activation = entry.get("config", {}).get("activation")
    if isinstance(activation, dict):  # a serialized function: its name is its config
        activation = activation.get("config") or activation.get("class_name")
    return activation if activation in SQUASHING else None


def _first_name(spec: list) -> str:
    """The layer name of a config's ``input_layers``/``output_layers``: ``[n, 0, 0]`` or nested."""
    return spec[0] if isinstance(spec[0], str) else spec[0][0]


def _inbound(nodes: Any):
    """``(layer name, shape)`` of every tensor a functional layer's inbound nodes read."""
    if isinstance(nodes, dict):
        if nodes.get("class_name") == "__keras_tensor__":
            cfg = nodes["config"]
            yield cfg["keras_history"][0], cfg["shape"]
        else:
            for value in nodes.values():
                yield from _inbound(value)
    elif isinstance(nodes, list | tuple):
        for value in nodes:
            yield from _inbound(value)

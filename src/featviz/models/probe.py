"""Look inside a loaded model: its layer table, its logits layer, its activations on data.

Every study that reads a model goes through these helpers, so a layer is looked
up and a data split is pushed through the model in one way everywhere (the
feature maps, the convergence sample, the metrics' embeddings).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from featviz.models.layers import LayerTable


def load_model(path: str | Path, image_input: bool = True) -> keras.Model:
    """Load a ``.keras`` model file, with a message that says what the file is not.

    Args:
        path: the file.
        image_input: check that the model takes images of a fixed size and gives one
            output (every model featviz visualizes); a generator takes a code instead.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: the file exists but is not a Keras model (of images, if asked).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file.")
    if image_input:
        LayerTable.from_keras_file(path)  # a clear message for a file featviz cannot use
    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a Keras model file ({err}).") from None


def layer_table(model: keras.Model) -> LayerTable:
    """The :class:`LayerTable` of a live model (the same one its ``.keras`` file gives)."""
    return LayerTable.from_config(keras.saving.serialize_keras_object(model))


def get_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer called ``name``; an unknown name lists the layers with activations."""
    layer_table(model).get(name)
    return model.get_layer(name)


def sub_model(model: keras.Model, layers: Sequence[str]) -> keras.Model:
    """A model from the input to the outputs of ``layers`` (a list, in that order)."""
    outputs = [get_layer(model, name).output for name in layers]
    return keras.Model(model.inputs[0], outputs)


def activations(
    model: keras.Model, images: np.ndarray, layers: Sequence[str], batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Outputs of ``layers`` for float ``images`` in the model's input range, in batches.

    Returns:
        ``{layer: array}``, each ``(N, H, W, C)`` for spatial layers or ``(N, C)``.
    """
    probe = sub_model(model, layers)
    outputs = probe.predict(np.asarray(images, dtype=np.float32), batch_size=batch_size, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return {name: np.asarray(out) for name, out in zip(layers, outputs, strict=True)}


def live_units(model: keras.Model, layer: str, images: np.ndarray) -> list[int]:
    """Units of ``layer`` whose activation is above zero somewhere on ``images``.

    A ReLU unit that is zero everywhere has no gradient: optimizing it from
    these images cannot move.
    """
    acts = activations(model, images, [layer])[layer]
    peak = acts.reshape(-1, acts.shape[-1]).max(axis=0)
    return [int(i) for i in np.flatnonzero(peak > 0)]

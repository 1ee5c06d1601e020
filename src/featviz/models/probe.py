"""Look inside a loaded model: its layer table, its logits layer, its activations on data.

Every study that reads a model goes through these helpers, so a layer is looked
up and a data split is pushed through the model in one way everywhere (the
feature maps, the convergence sample, the metrics' embeddings).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from featviz.metrics import active_share
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
    except (OSError, ValueError, KeyError, TypeError) as err:
        if not _has_config(path):
            raise ValueError(f"{path}: not a Keras model file ({err}).") from None
        # a Keras file whose configuration names what it does not define, or a class
        # Keras lacks
        raise ValueError(
            f"{path}: Keras cannot rebuild the model saved in this file ({_quoted(err)}). "
            "Expected a file saved by model.save() from Keras' own layers, whose configuration "
            "defines every layer it connects (custom layers are not loaded)."
        ) from None


def _has_config(path: Path) -> bool:
    """Whether ``path`` is a ``.keras`` archive with a model configuration."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "config.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _quoted(err: Exception) -> str:
    """What a loading error names: a missing key as ``'conv1'``, or the error's first line."""
    if isinstance(err, KeyError) and err.args:
        return f"it refers to {err.args[0]!r}, which it does not define"
    return str(err).splitlines()[0] if str(err) else type(err).__name__


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


def unit_scores(
    model: keras.Model,
    layer: str,
    images: np.ndarray,
    batch_size: int = 256,
    reduce: Literal["mean", "max"] = "mean",
) -> np.ndarray:
    """Each unit's score on each image, ``(N, units)``: its mean activation over positions
    (the objective the filters study maximizes), or with ``reduce="max"`` its peak.

    The reduction runs inside the model, so a batch's activation maps are never gathered
    for the whole split (conv1 of 26 032 colour test images would hold 3.4 GB).
    """
    return unit_scores_of(model, [layer], images, batch_size, reduce)[layer]


def unit_scores_of(
    model: keras.Model,
    layers: Sequence[str],
    images: np.ndarray,
    batch_size: int = 256,
    reduce: Literal["mean", "max"] = "mean",
) -> dict[str, np.ndarray]:
    """:func:`unit_scores` of several layers from one pass of ``images``: ``{layer: (N,
    units)}``, the same bits as a pass per layer, which would read the first layers again
    for each deeper one (the ablation's five layers of 26 032 colour test images: 16 s
    against 50 s). No layers, no pass."""
    if not layers:
        return {}
    outputs = []
    for name in layers:
        acts = get_layer(model, name).output
        if len(acts.shape) > 2:
            positions = tuple(range(1, len(acts.shape) - 1))
            acts = (keras.ops.max if reduce == "max" else keras.ops.mean)(acts, axis=positions)
        outputs.append(acts)
    scores = keras.Model(model.inputs[0], outputs).predict(
        np.asarray(images, dtype=np.float32), batch_size=batch_size, verbose=0
    )
    scores = scores if isinstance(scores, (list, tuple)) else [scores]
    return {name: np.asarray(s) for name, s in zip(layers, scores, strict=True)}


def units_on(model: keras.Model, layer: str, images: np.ndarray) -> list[int]:
    """Units of ``layer`` whose activation is above zero somewhere on ``images``.

    A ReLU unit that is zero everywhere has no gradient: optimizing it from
    these images cannot move.
    """
    acts = activations(model, images, [layer])[layer]
    peak = acts.reshape(-1, acts.shape[-1]).max(axis=0)
    return [int(i) for i in np.flatnonzero(peak > 0)]


def rank_images(
    model: keras.Model,
    layer: str,
    images: np.ndarray,
    units: Sequence[int],
    k: int,
    batch_size: int = 256,
    directions: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The ``k`` images of a split that drive each unit most and least, in one pass per batch.

    A unit's score on an image is its mean activation over positions (the
    objective the filters study maximizes); for a spatial layer the position of
    its largest activation in the image is kept too, where its receptive field
    is cropped. With ``directions`` (``(K, C)``, over the layer's channels) the
    "units" are those directions: the activations' projections onto them, ranked
    the same way (``units`` then picks among the K).

    Returns:
        ``top``, ``bottom``: ``(units, k)`` image indices, strongest (weakest) first;
        ``top_scores``, ``bottom_scores``: their scores; ``top_positions``,
        ``bottom_positions``: ``(units, k, 2)`` row and column of the maximum
        (zeros for a dense layer); ``active_share``: ``(units,)`` the share of the images
        each unit is active on (score above zero).

    Raises:
        ValueError: ``k`` larger than half the split.
    """
    units = list(units)
    if 2 * k > len(images):
        raise ValueError(f"Ranking {k} top and {k} bottom images needs {2 * k}, got {len(images)}.")
    # The reduction runs inside the model, so one predict call returns only scores and
    # positions, never a batch of whole activation maps.
    acts = get_layer(model, layer).output
    if directions is not None:
        acts = keras.ops.matmul(acts, keras.ops.convert_to_tensor(np.asarray(directions).T))
    acts = keras.ops.take(acts, np.asarray(units), axis=-1)
    if len(acts.shape) == 4:
        _, h, w, c = acts.shape
        flat = keras.ops.reshape(acts, (-1, h * w, c))
        reducer = keras.Model(
            model.inputs[0], [keras.ops.mean(flat, axis=1), keras.ops.argmax(flat, axis=1)]
        )
        score, peak = reducer.predict(np.asarray(images), batch_size=batch_size, verbose=0)
        position = np.stack([peak // w, peak % w], axis=-1).astype(np.int64)
    else:
        score = keras.Model(model.inputs[0], acts).predict(
            np.asarray(images), batch_size=batch_size, verbose=0
        )
        position = np.zeros((*score.shape, 2), dtype=np.int64)
    score, position = np.asarray(score).T, position.transpose(1, 0, 2)
    order = np.argsort(-score, axis=1, kind="stable")
    top, bottom = order[:, :k], order[:, ::-1][:, :k]
    rows = np.arange(len(units))[:, None]
    return {
        "top": top,
        "bottom": bottom,
        "top_scores": score[rows, top],
        "bottom_scores": score[rows, bottom],
        "top_positions": position[rows, top],
        "bottom_positions": position[rows, bottom],
        "active_share": active_share(score, axis=1),
    }

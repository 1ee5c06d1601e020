"""Feature maps of every convolutional layer for chosen test images (seed figures 1-3).

For each conv layer one figure: a row per image, the input on the left and
the layer's channels tiled on the right. Each row shares one grey scale from
0 to that image's largest activation in the layer, so bright channels are the
ones that fire most for that image.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from featviz.data.prepare import load_prepared
from featviz.io import write_npz
from featviz.models.train import to_model_input
from featviz.plotting import new_figure, save_figure, show_image, tile


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the model's 2-D convolution layers, input to output."""
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def select_images(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first test image of each of ``count`` classes (then of any class).

    One image per class reads best; when ``count`` exceeds the number of
    classes present, the next test images fill in.
    """
    chosen = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:count]
    for i in range(len(labels)):
        if len(chosen) >= count:
            break
        if i not in chosen:
            chosen.append(i)
    return np.array(sorted(chosen, key=lambda i: (labels[i], i)), dtype=np.int64)


def feature_maps(
    model: keras.Model, images: np.ndarray, layers: list[str]
) -> dict[str, np.ndarray]:
    """Activations ``(N, H, W, C)`` of each of ``layers`` for float ``images``."""
    probe = keras.Model(model.inputs[0], [model.get_layer(name).output for name in layers])
    outputs = probe.predict(images, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return {name: np.asarray(out) for name, out in zip(layers, outputs, strict=True)}


def plot_feature_maps(
    images: np.ndarray, labels: list[str], maps: np.ndarray, layer: str, png: str | Path
) -> list[Path]:
    """One row per image: the input, then every channel of ``layer`` tiled."""
    n, _, _, channels = maps.shape
    columns = 8 if channels <= 64 else 16
    mosaics = [tile(np.moveaxis(m, -1, 0), columns) for m in maps]
    aspect = mosaics[0].shape[1] / mosaics[0].shape[0]
    row = 1.7  # inches per image row
    fig = new_figure(row * (1 + aspect) + 0.4, row * n + 0.2)
    axes = fig.subplots(n, 2, squeeze=False, width_ratios=[1, aspect])
    for r in range(n):
        show_image(axes[r, 0], images[r], 0.0, 1.0)
        axes[r, 0].set_ylabel(labels[r])
        peak = float(np.nanmax(mosaics[r])) or 1.0
        show_image(axes[r, 1], mosaics[r], 0.0, peak)
        axes[r, 1].set_title(f"{layer}, {channels} channels, grey scale 0 to {peak:.3g}")
    return save_figure(fig, png)


def run(
    model_path: str | Path, data_path: str | Path, layer: str, out_dir: str | Path, count: int
) -> list[Path]:
    """Write ``<layer>.npz`` and the ``<layer>`` figure to ``out_dir``; return the figures."""
    out_dir = Path(out_dir)
    model = keras.saving.load_model(model_path)
    valid = conv_layers(model)
    if layer not in valid:
        raise ValueError(
            f"Unknown conv layer '{layer}'. Conv layers of {model_path}: {', '.join(valid)}."
        )
    data = load_prepared(data_path)
    idx = select_images(data["y_test"], count)
    images = to_model_input(data["x_test"][idx])
    maps = feature_maps(model, images, [layer])[layer]
    names = data["class_names"]
    labels = [f"test #{i}: {names[data['y_test'][i]]}" for i in idx]
    write_npz(out_dir / f"{layer}.npz", indices=idx, images=images, maps=maps)
    return plot_feature_maps(images, labels, maps, layer, out_dir / f"{layer}.png")

"""Feature maps of every convolutional layer for chosen test images (seed figures 1-3).

For each conv layer one figure: a row per image, the input on the left and
the layer's channels tiled on the right. Each row shares one grey scale from
0 to that image's largest activation in the layer, so bright channels are the
ones that fire most for that image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import write_npz
from featviz.models.layers import LayerTable
from featviz.plotting import new_figure, save_figure, show_image, tile
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study


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


class Activations(Study):
    name = "activations"
    resources = {"mem_mb": 2000, "runtime": 60}
    renders = False
    category = "Feature maps"
    sections = {"activations": "Feature maps of the convolutional layers"}
    files = {"arrays": "{job}.npz"}

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return table.conv_layers()

    def run(self, job: Job, settings: Settings) -> Result:
        """Write ``<layer>.npz`` (indices, images, maps) and the figure."""
        from featviz.models import probe

        model = probe.load_model(job.model)
        layer = job.key
        conv = probe.layer_table(model).conv_layers()
        if layer not in conv:
            raise ValueError(
                f"Unknown conv layer '{layer}'. Conv layers of {job.model}: {', '.join(conv)}."
            )
        data = load_prepared(job.require_data(self.name))
        if not len(data["y_test"]):
            raise ValueError(f"{job.data}: the test split is empty; no image to show.")
        idx = select_images(data["y_test"], settings["images"])
        images = to_model_input(data["x_test"][idx])
        maps = probe.activations(model, images, [layer])[layer]
        names = data["class_names"]
        labels = [f"test #{i}: {names[data['y_test'][i]]}" for i in idx]
        arrays = job.path(self.files["arrays"])
        write_npz(arrays, indices=idx, images=images, maps=maps)
        png = job.path(self.figures["figure"])
        plot_feature_maps(images, labels, maps, layer, png)
        caption = (
            f"Feature maps of {layer} of {job.label} for {len(idx)} test images (one per "
            "class first): the input, then every channel tiled; grey scale from 0 to the "
            "image's largest activation in the layer."
        )
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "activations")],
            files=[arrays],
            numbers={"layer": layer, "images": len(idx), "channels": int(maps.shape[-1])},
        )


STUDY = Activations()

"""Back to pixels: the deconvnet and guided backpropagation (what the seed could not finish).

For every filter of a layer (conv2 and conv3 by default), and for each of its
top test images (found by the filters study of the same layer), the filter's
strongest activation in that image is projected back to the input: by the
deconvnet of Zeiler and Fergus (2014), with the pooling switches of the forward
pass, rectification and the transposed filters, and by guided backpropagation
(Springenberg et al. 2015). All projections of a layer are computed as batches
(:mod:`featviz.engine.backproject`). The figure shows, per filter, its
activation-maximizing image, its top examples cropped to its receptive field,
and their two projections in the same crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import read_npz, write_npz
from featviz.models.layers import LayerTable
from featviz.plotting import image_table, save_figure, signed_to_grey
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study, format_units


class Deconv(Study):
    name = "deconv"
    resources = {"mem_mb": 4000, "runtime": 120}
    renders = False
    category = "Deconvnet"
    sections = {"deconv": "Back to pixels: the deconvnet and guided backpropagation"}
    files = {"arrays": "{job}.npz"}
    plan_keys = ("layers",)
    reads = {"filters": ("filters", "arrays")}

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return list(dict.fromkeys(settings["layers"]))

    def run(self, job: Job, settings: Settings) -> Result:
        """Project each filter's strongest activation in each of its top examples."""
        from featviz.engine.backproject import project
        from featviz.models import probe

        model = probe.load_model(job.model)
        layer = job.key
        rendered = read_npz(job.extra("filters"))
        test = to_model_input(load_prepared(job.require_data(self.name))["x_test"])
        units, top = rendered["indices"], rendered["top"]
        k = top.shape[1]
        flat = top.reshape(-1)
        channels = np.repeat(units, k)
        positions = rendered["top_positions"].reshape(-1, 2)
        projections = {
            rule: project(model, layer, test[flat], channels, positions, rule).reshape(
                len(units), k, *test.shape[1:]
            )
            for rule in ("deconvnet", "guided")
        }
        arrays = job.path(self.files["arrays"])
        write_npz(
            arrays,
            indices=units,
            top=top,
            positions=rendered["top_positions"],
            windows=rendered["top_windows"],
            deconvnet=projections["deconvnet"],
            guided=projections["guided"],
        )
        rows = min(settings["rows"], len(units))
        png = job.path(self.figures["figure"])
        plot_projections(rendered["images"], test, rendered, projections, rows, png)
        caption = (
            f"{layer} of {job.label}, {format_units(units[:rows].tolist(), 'filter')}: each "
            f"row shows the filter's activation-maximizing image, its {k} most activating test "
            "images cropped to its receptive field at its strongest activation, that "
            "activation projected back to pixels by the deconvnet (unpooling with the forward "
            "pass's switches, rectification, transposed filters; Zeiler and Fergus 2014), and "
            "by guided backpropagation (Springenberg et al. 2015), in the same crops; "
            "projections on grey, white positive and black negative, each scaled to its "
            "largest magnitude."
        )
        nonzero = float(
            np.mean(
                [np.abs(p).max() > 0 for p in projections["deconvnet"].reshape(len(units) * k, -1)]
            )
        )
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "deconv")],
            files=[arrays],
            numbers={
                "layer": layer,
                "filters": len(units),
                "examples": k,
                "nonzero_share": nonzero,
            },
        )


def plot_projections(
    images: np.ndarray,
    test: np.ndarray,
    rendered: dict[str, np.ndarray],
    projections: dict[str, np.ndarray],
    rows: int,
    png: Path,
) -> list[Path]:
    """Per filter: its rendered image, then its top crops, deconvnet and guided crops."""
    k = rendered["top"].shape[1]
    blocks: Sequence[tuple[str, callable]] = (
        ("examples", lambda r, j: test[rendered["top"][r, j]]),
        ("deconvnet", lambda r, j: signed_to_grey(projections["deconvnet"][r, j])),
        ("guided backprop", lambda r, j: signed_to_grey(projections["guided"][r, j])),
    )
    cols = 1 + len(blocks) * k
    cells = {}
    for r in range(rows):
        cells[r, 0] = images[r]
        for b, (_, picture) in enumerate(blocks):
            for j in range(k):
                top, left, bottom, right = rendered["top_windows"][r, j]
                cells[r, 1 + b * k + j] = picture(r, j)[top:bottom, left:right]
    fig = image_table(
        cells,
        0.5 * cols + 0.5,
        0.55 * rows + 0.4,
        row_labels=[f"#{rendered['indices'][r]}" for r in range(rows)],
        column_titles={1 + b * k: title for b, (title, _) in enumerate(blocks)},
        column_align="left",
    )
    return save_figure(fig, png)


STUDY = Deconv()

"""Random directions in a layer's activation space, maximized.

Individual filters are the basis directions of a layer's activation space,
and nothing makes them more special than any other direction (Szegedy et al.
2013): a random unit vector of the layer's channels, maximized as the
projection of the layer's mean activation, shows whether a mixture of filters
reads as a feature too.
"""

from __future__ import annotations

import numpy as np

from featviz.io import write_npz
from featviz.models.layers import LayerTable
from featviz.plateau import budget, describe_steps
from featviz.plotting import image_row
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study


def random_directions(n_channels: int, count: int, seed: int) -> np.ndarray:
    """``count`` random unit vectors in R^n_channels (isotropic: normalized Gaussians)."""
    v = np.random.default_rng(seed).normal(size=(count, n_channels))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Directions(Study):
    name = "directions"
    category = "Directions"
    sections = {"directions": "Random directions in activation space"}
    files = {"arrays": "{job}.npz"}
    plan_keys = ("layers",)

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return list(dict.fromkeys(settings["layers"]))

    def run(self, job: Job, settings: Settings) -> Result:
        """Maximize ``count`` random directions of the layer; write ``<layer>.npz`` and the row."""
        from featviz.engine import direction, recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        layer = job.key
        n = probe.layer_table(model).get(layer).units
        count, seed = settings["count"], settings["seed"]
        vectors = random_directions(n, count, seed)
        objectives = [direction(layer, v, label=f"dir{k}") for k, v in enumerate(vectors)]
        result, how = recipe.render_with(
            model,
            objectives,
            settings,
            job.resources([settings]),
            batch_size=len(objectives),
            **budget(settings),
        )
        steps = describe_steps(settings, result.stopped)
        arrays = job.path(self.files["arrays"])
        write_npz(arrays, directions=vectors, images=result.images, values=result.values)
        labels = [f"dir {k}  {v:.3g}" for k, v in enumerate(result.values)]
        title = f"{layer}: {count} random directions (seed {seed})"
        png = job.path(self.figures["figure"])
        image_row(result.images, labels, title, png)
        caption = (
            f"{count} random directions in the activation space of {layer} of {job.label} "
            f"(unit vectors drawn with seed {seed}), each maximized as the projection of the "
            f"layer's mean activation: {steps} (lr {settings['learning_rate']:g}; "
            f"{how}); titled with the projection reached."
        )
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "directions")],
            files=[arrays],
            numbers={
                "layer": layer,
                "count": count,
                "mean_projection": float(result.values.mean()),
            },
            seeds={"direction_seed": seed},
        )


STUDY = Directions()

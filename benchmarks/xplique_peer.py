"""Xplique 2.0.2 on the objectives of one job: run in ``benchmarks/.venv-xplique``.

``benchmarks/job_speed.py`` starts this script in Xplique's own environment (TensorFlow
2.20) with a request file (JSON) naming the model (a ``.keras`` file), the start
parameters (``.npy``, before the sigmoid), the layer, its unit indices, the steps and
the learning rate. It renders them with ``xplique.features_visualizations.optimize``:
pixel parameterization (``use_fft=False``, sigmoid to [0, 1]), no transforms, no
regularizers, Adam, all objectives of the job as one batch. Xplique draws its own start
images; here that draw returns the given ones, so both libraries start from the same
images. On three channels Xplique's pixel map also recorrelates the colours; the
map it uses for grey images is used instead: a sigmoid, as featviz's, after which Xplique
stretches each image to span all of [0, 1] (featviz does not). Writes the final images
(``.npy``) and the seconds of the ``optimize`` call, compilation included, to the paths
the request names.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main() -> None:
    with open(sys.argv[1]) as fh:
        request = json.load(fh)
    import keras
    import xplique
    from xplique.features_visualizations import Objective, optim

    model = keras.saving.load_model(request["model"], compile=False)
    start = np.load(request["start"]).astype(np.float32)
    objective = Objective.channel(model, request["layer"], list(request["indices"]))

    draw = tf.random.normal

    def given_start(shape, *args, **kwargs):
        if tuple(int(s) for s in shape) == start.shape:
            return tf.constant(start)
        return draw(shape, *args, **kwargs)

    tf.random.normal = given_start
    optim.to_valid_rgb = optim.to_valid_grayscale
    try:
        t0 = time.perf_counter()
        images, _ = optim.optimize(
            objective,
            optimizer=tf.keras.optimizers.Adam(request["learning_rate"]),
            nb_steps=int(request["steps"]),
            use_fft=False,
            std=0.01,
            regularizers=None,
            image_normalizer="sigmoid",
            values_range=(0, 1),
            transformations=None,
            custom_shape=None,
        )
        final = np.asarray(images[-1], dtype=np.float32)
        seconds = time.perf_counter() - t0
    finally:
        tf.random.normal = draw
    np.save(request["images"], final)
    with open(request["result"], "w") as fh:
        json.dump(
            {
                "seconds": seconds,
                "xplique": xplique.__version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            fh,
        )


if __name__ == "__main__":
    main()

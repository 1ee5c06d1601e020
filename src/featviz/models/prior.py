"""A learned image prior: a small autoencoder per dataset, whose decoder renders images.

Optimizing the decoder's input instead of pixels keeps a visualization on the
manifold of the dataset's images (the "learned prior" family of regularizers;
Nguyen et al. 2016 used a GAN, a small autoencoder is enough for digits). The
encoder's codes are bounded by a ``tanh``, and Gaussian noise on them during
training makes the decoder decode the neighbourhood of each code, not only the
codes of training images. The saved generator is ``tanh`` then the decoder, so
any real latent vector decodes to a code in the range the decoder was trained
on. Its output is a sigmoid: images in [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import write_json
from featviz.models.save import save_model
from featviz.models.train import seed_everything
from featviz.plotting import new_figure, save_figure, show_image
from featviz.results import Figure, Result


def build_autoencoder(
    image_shape: Sequence[int], latent_dim: int, noise: float, seed: int
) -> tuple[keras.Model, keras.Model, keras.Model]:
    """``(autoencoder, encoder, decoder)`` for images of ``image_shape`` (sides divisible by 4).

    The decoder (the generator the ``prior`` parameterization renders through) maps
    any real vector through ``tanh`` to a code, then to an image.

    Raises:
        ValueError: an image side not divisible by 4 (two stride-2 stages).
    """
    h, w, c = (int(s) for s in image_shape)
    if h % 4 or w % 4:
        raise ValueError(f"The prior's autoencoder needs image sides divisible by 4, got {h}x{w}.")
    seeds = iter(range(seed * 100, seed * 100 + 100))

    def init() -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=next(seeds))

    image = keras.Input((h, w, c), name="image")
    x = keras.layers.Conv2D(
        32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(), name="enc1"
    )(image)
    x = keras.layers.Conv2D(
        64, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(), name="enc2"
    )(x)
    x = keras.layers.Flatten(name="flatten")(x)
    # The code is batch-normalized, then bounded by a tanh. Without the normalization the
    # digits' codes drifted to one saturated value and every image decoded to the mean digit.
    code = keras.layers.Dense(latent_dim, kernel_initializer=init(), name="code")(x)
    code = keras.layers.BatchNormalization(name="code_norm")(code)
    code = keras.layers.Activation("tanh", name="code_bound")(code)
    encoder = keras.Model(image, code, name="encoder")

    bounded = keras.Input((latent_dim,), name="code")
    y = keras.layers.Dense(
        (h // 4) * (w // 4) * 64, activation="relu", kernel_initializer=init(), name="expand"
    )(bounded)
    y = keras.layers.Reshape((h // 4, w // 4, 64), name="grid")(y)
    y = keras.layers.Conv2DTranspose(
        32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(), name="dec1"
    )(y)
    y = keras.layers.Conv2DTranspose(
        c,
        3,
        strides=2,
        padding="same",
        activation="sigmoid",
        kernel_initializer=init(),
        name="dec2",
    )(y)
    core = keras.Model(bounded, y, name="decoder_core")

    noisy = keras.layers.GaussianNoise(noise, seed=next(seeds), name="noise")(encoder(image))
    autoencoder = keras.Model(image, core(noisy), name="autoencoder")
    latent = keras.Input((latent_dim,), name="latent")
    bound = keras.layers.Activation("tanh", name="bound")(latent)
    decoder = keras.Model(latent, core(bound), name="decoder")
    return autoencoder, encoder, decoder


def train_prior(
    data: str | Path, out_dir: str | Path, settings: Mapping[str, Any], label: str = "the data"
) -> Result:
    """Train the autoencoder on the training split; write ``decoder.keras``, history, metrics
    and a figure of test reconstructions and of decodings of random latent vectors.

    Args:
        data: the prepared dataset.
        out_dir: the prior's folder.
        settings: the ``prior`` section (latent_dim, noise, epochs, batch_size,
            learning_rate, seed), validated.
        label: how the caption names the dataset.
    """
    out_dir = Path(out_dir)
    arrays = load_prepared(data)
    x_train, x_test = to_model_input(arrays["x_train"]), to_model_input(arrays["x_test"])
    seed = settings["seed"]
    seed_everything(seed)
    autoencoder, _, decoder = build_autoencoder(
        x_train.shape[1:], settings["latent_dim"], settings["noise"], seed
    )
    autoencoder.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]), loss="binary_crossentropy"
    )
    start = time.perf_counter()
    history = autoencoder.fit(
        x_train,
        x_train,
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        shuffle=True,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    shown = x_test[:8]
    reconstructed = autoencoder.predict(x_test, batch_size=512, verbose=0)
    mse = float(np.mean((reconstructed - x_test) ** 2))
    codes = np.random.default_rng(seed).normal(size=(8, settings["latent_dim"])).astype("float32")
    sampled = decoder.predict(codes, verbose=0)
    files = [out_dir / n for n in ("decoder.keras", "history.json", "metrics.json")]
    save_model(decoder, files[0])
    write_json(files[1], {k: [float(v) for v in vals] for k, vals in history.history.items()})
    metrics = {
        "test_mse": mse,
        "latent_dim": settings["latent_dim"],
        "epochs": settings["epochs"],
        "train_seconds": round(seconds, 2),
    }
    write_json(files[2], metrics)
    png = out_dir / "samples.png"
    plot_samples(shown, reconstructed[:8], sampled, png)
    caption = (
        f"The learned prior of {label}: an autoencoder with a {settings['latent_dim']}-dimensional "
        f"code (Gaussian noise {settings['noise']:g} on the code while training; "
        f"{settings['epochs']} epochs, batch {settings['batch_size']}, Adam lr "
        f"{settings['learning_rate']:g}, seed {seed}). Rows: test images, their reconstructions "
        f"(mean squared error {mse:.4f} over the test split), and decodings of random latent "
        "vectors, the space in which the prior parameterization optimizes."
    )
    return Result(
        stage="prior",
        job="prior",
        figures=[Figure(png, caption, "training")],
        files=files,
        numbers=metrics,
        seeds={"prior_seed": seed},
    )


def plot_samples(
    images: np.ndarray, reconstructed: np.ndarray, sampled: np.ndarray, png: Path
) -> list[Path]:
    """Three rows: test images, their reconstructions, decodings of random codes."""
    rows = [("test", images), ("reconstructed", reconstructed), ("random code", sampled)]
    n = len(images)
    fig = new_figure(0.8 * n + 0.8, 0.85 * len(rows) + 0.2)
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (name, row) in enumerate(rows):
        for k in range(n):
            show_image(axes[r, k], row[k], 0.0, 1.0)
        axes[r, 0].set_ylabel(name, fontsize=6)
    return save_figure(fig, png)

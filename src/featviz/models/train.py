"""Train a CNN on a prepared dataset and record how it went.

Writes the model (``model.keras``), the per-epoch history (JSON), the test
metrics (JSON) and a training-curve figure. Seeds are explicit: the same
seed, data and machine give the same weights.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import write_json
from featviz.models.build import build_model
from featviz.models.save import save_model
from featviz.models.spec import Architecture
from featviz.plotting import new_figure, save_figure
from featviz.results import Figure, Result


def seed_everything(seed: int) -> None:
    """Seed Keras' (and its backend's) global generators and ask for deterministic ops.

    Model weights get their own seeds (see :func:`build_model`); this covers
    what Keras draws from global state during ``fit`` (shuffling).
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def train(
    data: str | Path,
    arch: Architecture,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    label: str = "the model",
) -> Result:
    """Train ``arch`` on the prepared dataset ``data`` and write its outputs to ``out_dir``.

    Args:
        data: the prepared dataset (``.npz``).
        arch: the architecture.
        out_dir: where ``model.keras``, ``history.json``, ``metrics.json`` and the
            training curve go.
        settings: the ``train`` section (epochs, batch_size, learning_rate, seed,
            max_train), validated, with the schema's defaults.
        label: how the caption names the model.

    Returns:
        What was written, the training curve's caption, and the metrics as numbers.
    """
    out_dir = Path(out_dir)
    arrays = load_prepared(data)
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    if settings["max_train"]:
        x_train, y_train = x_train[: settings["max_train"]], y_train[: settings["max_train"]]
    epochs, batch_size, seed = settings["epochs"], settings["batch_size"], settings["seed"]
    learning_rate = settings["learning_rate"]
    seed_everything(seed)
    model = build_model(arch, x_train.shape[1:], len(arrays["class_names"]), seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    start = time.perf_counter()
    history = model.fit(
        to_model_input(x_train),
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(to_model_input(arrays["x_val"]), arrays["y_val"])
        if len(arrays["x_val"])
        else None,
        shuffle=True,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(
        to_model_input(arrays["x_test"]), arrays["y_test"], batch_size=512, verbose=0
    )
    files = [out_dir / name for name in ("model.keras", "history.json", "metrics.json")]
    save_model(model, files[0])
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    write_json(files[1], hist)
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "final_val_accuracy": hist.get("val_accuracy", [None])[-1],
        "epochs": epochs,
        "n_train": int(len(x_train)),
        "n_test": int(len(arrays["x_test"])),
        "parameters": int(model.count_params()),
        "train_seconds": round(seconds, 2),
    }
    write_json(files[2], metrics)
    curve = out_dir / "training_curve.png"
    plot_history(hist, curve)
    caption = (
        f"Training of {label}: loss and accuracy per epoch on the training and validation "
        f"splits ({epochs} epochs, batch {batch_size}, Adam lr {learning_rate:g}, seed "
        f"{seed}); test accuracy {metrics['test_accuracy']:.2%}."
    )
    return Result(
        stage="train",
        job="training",
        figures=[Figure(curve, caption, "training")],
        files=files,
        numbers=metrics,
        seeds={"train_seed": seed},
    )


def plot_history(hist: dict[str, list[float]], png: str | Path) -> list[Path]:
    """Loss and accuracy per epoch, training and validation, side by side."""
    fig = new_figure(6.0, 2.4)
    axes = fig.subplots(1, 2)
    epochs = np.arange(1, len(hist["loss"]) + 1)
    for ax, key, label in (
        (axes[0], "loss", "cross-entropy loss"),
        (axes[1], "accuracy", "accuracy"),
    ):
        ax.plot(epochs, hist[key], marker="o", label="training")
        if f"val_{key}" in hist:
            ax.plot(epochs, hist[f"val_{key}"], marker="s", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xticks(epochs)
        ax.legend()
    return save_figure(fig, png)

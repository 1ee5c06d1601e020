"""Train a CNN on a prepared dataset and record how it went.

Writes the model after its last epoch (``model.keras``, the one the studies read)
and at its epoch of lowest validation loss (``model_best_val.keras``), the
per-epoch history (JSON), the test metrics of both (JSON) and a training-curve
figure. Seeds are explicit: the same seed, data, machine and thread count give
the same weights, whether or not the training was interrupted and resumed.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from featviz.data.prepare import load_prepared, to_model_input
from featviz.errors import FeatvizError
from featviz.io import write_json
from featviz.models.build import build_model
from featviz.models.checkpoint import Checkpoint, Progress, fingerprint
from featviz.models.save import save_model
from featviz.models.spec import Architecture
from featviz.plotting import new_figure, save_figure
from featviz.provenance import sha256_file
from featviz.results import Figure, Result

#: A training whose final training accuracy is below this multiple of chance (1 / classes)
#: is flagged: it never learned (seen on generated house numbers, loss 2.303 every epoch).
AT_CHANCE = 1.5


#: A mean loss above this multiple of chance's cross-entropy (log of the class count) means
#: the training diverged: a healthy one starts near chance and goes down.
DIVERGED = 100


def seed_everything(seed: int) -> None:
    """Seed Keras' (and its backend's) global generators and ask for deterministic ops.

    Model weights get their own seeds (see :func:`build_model`); this covers
    what Keras draws from global state during ``fit`` (shuffling).
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compiled_model(
    arch: Architecture,
    input_shape: tuple[int, ...],
    n_classes: int,
    seed: int,
    learning_rate: float,
) -> keras.Model:
    """``arch`` built from ``seed`` and compiled as :func:`train` trains it: Adam, the
    cross-entropy of the logits, accuracy."""
    model = build_model(arch, input_shape, n_classes, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, name="adam"),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def train(
    data: str | Path,
    arch: Architecture,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    label: str = "the model",
) -> Result:
    """Train ``arch`` on the prepared dataset ``data`` and write its outputs to ``out_dir``.

    Each epoch sees the training split in an order drawn from ``(seed, epoch)`` and ends
    in a checkpoint (:mod:`featviz.models.checkpoint`), so a killed training resumes from
    its last complete epoch with the same final weights. A non-finite loss stops it with
    an error naming the epoch and batch, and nothing is written.

    Args:
        data: the prepared dataset (``.npz``).
        arch: the architecture.
        out_dir: where ``model.keras`` (the last epoch), ``model_best_val.keras`` (the
            epoch of lowest validation loss), ``history.json``, ``metrics.json`` and the
            training curve go.
        settings: the ``train`` section (epochs, batch_size, learning_rate, seed,
            max_train), validated, with the schema's defaults.
        label: how the caption and messages name the model.

    Returns:
        What was written, the training curve's caption, and the metrics as numbers.
    """
    out_dir = Path(out_dir)
    arrays = load_prepared(data)
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    if settings["max_train"]:
        x_train, y_train = x_train[: settings["max_train"]], y_train[: settings["max_train"]]
    for split, images in (("training", x_train), ("test", arrays["x_test"])):
        if not len(images):
            raise FeatvizError(
                f"{data}: the {split} split has no images (shape {images.shape}); training "
                f"{label} needs at least one."
            )
    epochs, batch_size, seed = settings["epochs"], settings["batch_size"], settings["seed"]
    learning_rate = settings["learning_rate"]
    n_classes = len(arrays["class_names"])
    seed_everything(seed)
    checkpoint = Checkpoint(
        out_dir / "checkpoint",
        fingerprint(sha256_file(data), dataclasses.asdict(arch), dict(settings)),
    )
    resumed = checkpoint.resume()
    if resumed:
        model, best_weights, progress = resumed
    else:
        model = compiled_model(arch, x_train.shape[1:], n_classes, seed, learning_rate)
        best_weights, progress = None, Progress()
    validation = (
        (to_model_input(arrays["x_val"]), arrays["y_val"]) if len(arrays["x_val"]) else None
    )
    guard = FiniteLoss(label, learning_rate, n_classes)
    try:
        for epoch in range(progress.epochs_done, epochs):
            order = np.random.default_rng([seed, epoch]).permutation(len(x_train))
            guard.epoch = epoch + 1
            start = time.perf_counter()
            history = model.fit(
                to_model_input(x_train[order]),
                y_train[order],
                batch_size=batch_size,
                epochs=epoch + 1,
                initial_epoch=epoch,
                validation_data=validation,
                shuffle=False,
                verbose=2,
                callbacks=[guard],
            )
            progress.seconds += time.perf_counter() - start
            for key, values in history.history.items():
                progress.history.setdefault(key, []).extend(float(v) for v in values)
            guard.check_validation(progress.history)
            val_loss = progress.history.get("val_loss", [None])[-1]
            improved = val_loss is not None and (
                progress.best_val_loss is None or val_loss < progress.best_val_loss
            )
            if improved:
                progress.best_epoch, progress.best_val_loss = epoch + 1, val_loss
                best_weights = model.get_weights()
            progress.epochs_done = epoch + 1
            checkpoint.save(model, progress)
    except FeatvizError:
        checkpoint.clear()  # a diverged training would diverge again from its checkpoint
        raise
    result = _finish(model, best_weights, progress, arrays, len(x_train), out_dir, settings, label)
    checkpoint.clear()
    return result


class FiniteLoss(keras.callbacks.Callback):
    """Stop a training whose loss stops being a finite number or diverges, naming where."""

    def __init__(self, label: str, learning_rate: float, n_classes: int) -> None:
        super().__init__()
        self.label = label
        self.learning_rate = learning_rate
        self.limit = DIVERGED * math.log(n_classes)
        self.epoch = 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) or loss > self.limit:
            raise self.error(
                f"the training loss became {loss:.4g} at epoch {self.epoch}, batch {batch + 1}"
            )

    def check_validation(self, history: Mapping[str, list[float]]) -> None:
        loss = history.get("val_loss", [0.0])[-1]
        if not math.isfinite(loss) or loss > self.limit:
            raise self.error(f"the validation loss became {loss:.4g} after epoch {self.epoch}")

    def error(self, what: str) -> FeatvizError:
        return FeatvizError(
            f"training {self.label}: {what}; expected a finite loss below {self.limit:.4g} "
            f"(chance's loss times {DIVERGED}). Nothing was written. "
            f"A smaller train.learning_rate (now {self.learning_rate:g}) usually keeps it finite."
        )


def _finish(
    model: keras.Model,
    best_weights: list[np.ndarray] | None,
    progress: Progress,
    arrays: Mapping[str, np.ndarray],
    n_train: int,
    out_dir: Path,
    settings: Mapping[str, Any],
    label: str,
) -> Result:
    """Evaluate the last and the best validation epoch on the test split and write both
    models, the history, the metrics and the training curve."""
    x_test, y_test = to_model_input(arrays["x_test"]), arrays["y_test"]
    best = keras.models.clone_model(model)
    best.set_weights(best_weights if best_weights is not None else model.get_weights())
    test_loss, test_accuracy = evaluate(model, x_test, y_test)
    best_loss, best_accuracy = (
        evaluate(best, x_test, y_test)
        if progress.best_epoch not in (None, progress.epochs_done)
        else (test_loss, test_accuracy)
    )
    files = [
        out_dir / name
        for name in ("model.keras", "model_best_val.keras", "history.json", "metrics.json")
    ]
    save_model(model, files[0])
    save_model(best, files[1])
    hist = progress.history
    write_json(files[2], hist)
    epochs, batch_size, seed = settings["epochs"], settings["batch_size"], settings["seed"]
    chance = 1.0 / len(arrays["class_names"])
    at_chance = hist["accuracy"][-1] < AT_CHANCE * chance
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "final_val_accuracy": hist.get("val_accuracy", [None])[-1],
        "best_val_epoch": progress.best_epoch,
        "best_val_loss": progress.best_val_loss,
        "best_val_test_accuracy": float(best_accuracy),
        "best_val_test_loss": float(best_loss),
        "at_chance": bool(at_chance),
        "epochs": epochs,
        "n_train": n_train,
        "n_test": int(len(x_test)),
        "parameters": int(model.count_params()),
        "train_seconds": round(progress.seconds, 2),
    }
    write_json(files[3], metrics)
    curve = out_dir / "training_curve.png"
    plot_history(hist, curve)
    caption = (
        f"Training of {label}: loss and accuracy per epoch on the training and validation "
        f"splits ({epochs} epochs, batch {batch_size}, Adam lr {settings['learning_rate']:g}, "
        f"seed {seed}); test accuracy {metrics['test_accuracy']:.2%}"
    )
    if progress.best_epoch is not None and progress.best_epoch != epochs:
        caption += (
            f" (at epoch {progress.best_epoch}, of lowest validation loss: "
            f"{metrics['best_val_test_accuracy']:.2%})"
        )
    caption += "."
    if at_chance:
        warning = (
            f"the training accuracy stayed at chance: {hist['accuracy'][-1]:.1%} after "
            f"{epochs} epochs, with {len(arrays['class_names'])} classes"
        )
        print(
            f"warning: {label}: {warning}; another seed or learning rate may train.",
            file=sys.stderr,
        )
        caption += f" Note: {warning}."
    return Result(
        stage="train",
        job="training",
        figures=[Figure(curve, caption, "training")],
        files=files,
        numbers=metrics,
        seeds={"train_seed": seed},
    )


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of a model that outputs logits (compiled or not)."""
    logits = np.asarray(model.predict(x, batch_size=512, verbose=0), dtype=np.float64)
    top = logits.max(axis=1)
    log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    loss = float(np.mean(log_norm - logits[np.arange(len(y)), y]))
    return loss, float(np.mean(logits.argmax(axis=1) == y))


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

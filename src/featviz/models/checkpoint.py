"""Per-epoch training checkpoints, so that a killed training resumes where it stopped.

After every epoch the model (weights and optimizer state), the states of its
random generators (Keras does not save a dropout layer's generator with the
model) and the history so far are kept in a ``checkpoint/`` folder beside the
outputs, together with the model of the best validation epoch. A new run with
the same data, architecture and settings (the *fingerprint*) takes up the last
complete epoch and ends with the same weights, bit for bit, as a run that was
never interrupted; a checkpoint from other inputs is discarded with a note.
The folder is removed once the outputs are written.

Each epoch's files are written atomically and ``state.json`` is written last,
naming them, so a kill at any moment leaves either the previous epoch's state
or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from featviz.io import atomic_path, read_json, write_json

STATE = "state.json"


def fingerprint(
    data_sha256: str, architecture: Mapping[str, Any], settings: Mapping[str, Any]
) -> str:
    """What a checkpoint must have been made from to be taken up: a digest of the
    prepared data's checksum, the architecture, the training settings and Keras' version."""
    text = json.dumps(
        {
            "data": data_sha256,
            "architecture": architecture,
            "settings": settings,
            "keras": keras.__version__,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def seed_states(model: keras.Model) -> list[keras.Variable]:
    """The states of the model's random generators (dropout), in layer order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


@dataclass
class Progress:
    """Where a training stands after its last complete epoch."""

    epochs_done: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    best_val_loss: float | None = None
    seconds: float = 0.0


class Checkpoint:
    """The checkpoint folder of one training (``out_dir/checkpoint``)."""

    def __init__(self, folder: str | Path, key: str) -> None:
        self.folder = Path(folder)
        self.key = key

    def resume(self) -> tuple[keras.Model, list[np.ndarray] | None, Progress] | None:
        """The last complete epoch's model, the best validation epoch's weights and the
        progress, or None where there is nothing to take up (a checkpoint made from other
        inputs is removed, and the log says so)."""
        state_file = self.folder / STATE
        if not state_file.exists():
            return None
        try:
            state = read_json(state_file)
            if state.get("fingerprint") != self.key:
                print(
                    f"{self.folder}: checkpoint made from other data or settings; starting over",
                    file=sys.stderr,
                )
                self.clear()
                return None
            model = keras.models.load_model(self.folder / state["last"])
            for variable, value in zip(seed_states(model), state["seed_states"], strict=True):
                variable.assign(np.asarray(value, dtype=variable.dtype))
            best = (
                keras.models.load_model(self.folder / state["best"], compile=False).get_weights()
                if state.get("best")
                else None
            )
        except (OSError, ValueError, KeyError) as err:
            print(f"{self.folder}: unreadable checkpoint ({err}); starting over", file=sys.stderr)
            self.clear()
            return None
        progress = Progress(
            epochs_done=state["epochs_done"],
            history=state["history"],
            best_epoch=state.get("best_epoch"),
            best_val_loss=state.get("best_val_loss"),
            seconds=state.get("seconds", 0.0),
        )
        print(f"{self.folder}: resuming after epoch {progress.epochs_done}", file=sys.stderr)
        return model, best, progress

    def save(self, model: keras.Model, progress: Progress) -> None:
        """Keep the state after an epoch.

        One model file per epoch: the best epoch's is that epoch's file, kept until a better
        one comes, so an improving epoch costs no second save."""
        epoch = progress.epochs_done
        last = f"epoch-{epoch:04d}.keras"
        with atomic_path(self.folder / last) as tmp:
            model.save(tmp)  # resumed from, never published: no need for reproducible bytes
        best = f"epoch-{progress.best_epoch:04d}.keras" if progress.best_epoch else None
        write_json(
            self.folder / STATE,
            {
                "fingerprint": self.key,
                "epochs_done": epoch,
                "last": last,
                "best": best,
                "best_epoch": progress.best_epoch,
                "best_val_loss": progress.best_val_loss,
                "history": progress.history,
                "seconds": progress.seconds,
                "seed_states": [np.asarray(v.numpy()).tolist() for v in seed_states(model)],
            },
        )
        for stale in self.folder.glob("*.keras"):
            if stale.name not in (last, best):
                stale.unlink()

    def clear(self) -> None:
        """Remove the folder (the training finished, or its checkpoint cannot be used)."""
        shutil.rmtree(self.folder, ignore_errors=True)

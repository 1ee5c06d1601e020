"""A model trained elsewhere, taken into the workflow from its ``.keras`` file.

The file must match the SHA-256 its config entry gives (a changed file is
refused, never silently visualized); its input must take the dataset's images
and its output give one score per class. It is evaluated on the dataset's test
split, so the model table states its accuracy like a trained model's, and
copied unchanged to where the studies read models.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from featviz.data.catalog import RemoteFile
from featviz.data.download import verify
from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import atomic_path, write_json
from featviz.models import probe
from featviz.results import Result


def adopt(entry: Mapping[str, Any], data: str | Path, out_dir: str | Path) -> Result:
    """Verify, check and evaluate the model file of ``entry``; write ``model.keras`` and metrics.

    Args:
        entry: the ``models.<name>`` config entry (``path``, ``sha256``).
        data: the prepared dataset it is evaluated on.
        out_dir: where ``model.keras`` (a byte-identical copy) and ``metrics.json`` go.

    Raises:
        ChecksumError: the file differs from the configured SHA-256.
        ValueError: the model does not take the dataset's images or classes.
    """
    source = Path(entry["path"])
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such model file (models entry 'path').")
    verify(source, RemoteFile(role="model", name=str(source), sha256=entry["sha256"].lower()))
    model = probe.load_model(source)
    table = probe.layer_table(model)
    table.check_logits()
    arrays = load_prepared(data)
    shape = tuple(arrays["x_test"].shape[1:])
    if table.input_shape != shape:
        raise ValueError(
            f"{source}: the model takes images of shape {table.input_shape}, but {data} "
            f"holds images of shape {shape}."
        )
    classes = len(arrays["class_names"])
    outputs = table.get(table.logits).units
    if outputs != classes:
        raise ValueError(
            f"{source}: the model's output layer '{table.logits}' gives {outputs} scores, "
            f"but {data} has {classes} classes."
        )
    scores = model.predict(to_model_input(arrays["x_test"]), batch_size=512, verbose=0)
    accuracy = float(np.mean(np.argmax(scores, axis=-1) == arrays["y_test"]))
    out_dir = Path(out_dir)
    files = [out_dir / "model.keras", out_dir / "metrics.json"]
    with atomic_path(files[0]) as tmp:
        shutil.copyfile(source, tmp)
    metrics = {
        "test_accuracy": accuracy,
        "epochs": None,
        "n_train": None,
        "n_test": int(len(arrays["x_test"])),
        "parameters": int(model.count_params()),
        "source": str(source),
        "sha256": entry["sha256"].lower(),
    }
    write_json(files[1], metrics)
    return Result(stage="import_model", job="model", files=files, numbers=metrics)

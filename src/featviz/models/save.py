"""Save a Keras model so that the same weights give the same bytes.

Keras writes the time of saving into a ``.keras`` archive (``date_saved`` in
``metadata.json`` and the weights file's timestamp in the zip) and the memory
addresses of shared objects into its ``config.json``, so two identical trainings
gave files with different SHA-256, and every provenance record downstream
recorded a different input. Here the archive is rewritten with the time left
out, the addresses numbered in order, and every entry dated 1980-01-01.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import keras

from featviz.io import atomic_path

EPOCH = (1980, 1, 1, 0, 0, 0)


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` to ``path`` (a ``.keras`` file) atomically and byte-reproducibly."""
    path = Path(path)
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.stem + ".raw.keras")
        try:
            model.save(raw)
            normalize_archive(raw, tmp)
        finally:
            raw.unlink(missing_ok=True)
    return path


def renumber_shared_objects(config: Any) -> Any:
    """``config`` with each ``shared_object_id`` (a Python ``id()``, new every run) replaced
    by its order of first appearance, which keeps which objects are shared.

    Dtype policies lose theirs: a model built in this process shares one policy object
    between its layers, the same model loaded from a file (a resumed training) has one
    per layer, and which it is says nothing about the model."""
    numbers: dict[Any, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                node = {k: v for k, v in node.items() if k != "shared_object_id"}
            return {
                key: numbers.setdefault(value, len(numbers) + 1)
                if key == "shared_object_id"
                else walk(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(config)


def normalize_archive(source: str | Path, target: str | Path) -> None:
    """Copy the ``.keras`` archive ``source`` to ``target`` without its time of saving."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in sorted(zin.infolist(), key=lambda i: i.filename):
            data = zin.read(info)
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata, sort_keys=True).encode()
            elif info.filename == "config.json":
                data = json.dumps(renumber_shared_objects(json.loads(data))).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=EPOCH)
            entry.compress_type = info.compress_type
            entry.external_attr = 0o644 << 16
            zout.writestr(entry, data)

"""Atomic file writes and small array/JSON helpers.

Every output of featviz is written to a temporary file in the target's own
directory and renamed into place, so a failed or interrupted job never leaves
a half-written file that a later rule would mistake for a result. While
:func:`recording` is active, every file put in place (and every folder made for
one) is noted, so that a command that fails later can take back what it wrote.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Written:
    """What the writes of this process put in place while :func:`recording` was active."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)


_recorders: list[Written] = []


@contextlib.contextmanager
def recording() -> Iterator[Written]:
    """Note every file :func:`atomic_path` puts in place, and every folder it makes, while
    the block runs (the ``featviz`` command removes them when it fails)."""
    written = Written()
    _recorders.append(written)
    try:
        yield written
    finally:
        _recorders.remove(written)


def _make_parent(target: Path) -> None:
    """Make the folder of ``target``, noting each folder made; name a file in the way."""
    missing = [p for p in (target.parent, *target.parent.parents) if not p.is_dir()]
    for folder in missing:
        if folder.exists() or folder.is_symlink():
            raise NotADirectoryError(
                errno.ENOTDIR, f"{target}: cannot write, {folder} is a file, not a folder"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    for written in _recorders:
        written.folders.extend(reversed(missing))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary file keeps the target's suffix so that libraries choosing a
    format by extension (matplotlib, numpy, Keras) write the right one. On any
    exception the temporary file is removed and ``path`` is left untouched. A
    process killed while writing (SIGKILL: no exception) leaves its temporary
    file behind; the next write of the same target removes it.
    """
    target = Path(path)
    _make_parent(target)
    prefix, suffix = f".{target.stem}.", f".part{target.suffix}"
    for stale in _temporaries(target.parent, prefix, suffix):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the usual permissions.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        for written in _recorders:
            written.files.append(target)
    finally:
        tmp.unlink(missing_ok=True)


def _temporaries(folder: Path, prefix: str, suffix: str) -> Iterator[Path]:
    """Temporary files :func:`atomic_path` made for one target: ``prefix``, the eight
    characters ``mkstemp`` draws, ``suffix`` (so ``conv1.png`` never claims
    ``conv1.npz.prov.json``'s)."""
    size = len(prefix) + 8 + len(suffix)
    for entry in folder.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        if len(entry.name) == size:
            yield entry


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to a compressed ``.npz`` file atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_npz(
    path: str | os.PathLike[str],
    what: str = "an .npz archive of arrays",
    keys: Iterable[str] | None = None,
) -> dict:
    """Read every array of an ``.npz`` file into a dict (only ``keys``, where given: the
    others are not decompressed).

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: the file is not an ``.npz`` archive (``what`` says what was expected).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(errno.ENOENT, f"{path}: no such file; expected {what}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("not an archive of named arrays")
        with data:
            wanted = data.files if keys is None else [k for k in keys if k in data.files]
            return {key: data[key] for key in wanted}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        kind = file_kind(path)
        detail = f"damaged or truncated: {err}" if kind == "a zip archive" else ""
        raise ValueError(
            f"{path}: not {what}; it is {kind}{f' ({detail})' if detail else ''}."
        ) from None


def npz_shape(path: str | os.PathLike[str], key: str) -> tuple[int, ...] | None:
    """The shape of array ``key`` of an ``.npz`` file, read from its header only (the
    array itself is not decompressed); None when the archive has no such array.

    Raises:
        ValueError: the file is not an ``.npz`` archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if f"{key}.npy" not in archive.namelist():
                return None
            with archive.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, _ = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, _ = np.lib.format.read_array_header_2_0(fh)
                else:  # a newer header: read the array itself
                    shape = np.load(path, allow_pickle=False)[key].shape
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not an .npz archive of arrays ({err}).") from None
    return tuple(int(n) for n in shape)


def file_kind(path: str | os.PathLike[str]) -> str:
    """What a file is, as far as its first bytes tell (for messages about a file that
    is not in the format expected): empty, a zip archive, HDF5, text, or other binary."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        return "an empty file"
    if head.startswith(b"PK"):
        return "a zip archive"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (the .h5 format of older Keras)"
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array"
    if b"\0" not in head:
        return "a text file"
    return "a binary file of another format"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

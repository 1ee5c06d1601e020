"""Dataset definitions: files, checksums, mirrors, image shape and class names.

A dataset entry of the configuration names a ``kind``. The built-in kinds
``mnist`` and ``svhn`` carry their canonical files and checksums here; the
kind ``idx`` takes the same fields from the configuration, so another
IDX-format dataset (Fashion-MNIST, KMNIST, ...) needs configuration only.
The ``synthetic-*`` kinds are generated locally and download nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIGITS = tuple(str(d) for d in range(10))

#: The IDX roles a dataset of format ``idx`` must provide.
IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")

BUILTIN: dict[str, dict[str, Any]] = {
    "mnist": {
        "format": "idx",
        "image_shape": [28, 28, 1],
        "class_names": list(DIGITS),
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "md5": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "sha256": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "size": 9912422,
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "md5": "d53e105ee54ea40749a09fcbcd1e9432",
                "sha256": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "size": 28881,
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "md5": "9fb629c4189551a2d022fa330f9573f3",
                "sha256": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "size": 1648877,
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "md5": "ec29112dd5afa0611ce80d1b7f02629c",
                "sha256": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "size": 4542,
            },
        },
    },
    "svhn": {
        "format": "svhn-mat",
        "image_shape": [32, 32, 3],
        "class_names": list(DIGITS),
        "mirrors": ["http://ufldl.stanford.edu/housenumbers/"],
        "files": {
            "train": {
                "name": "train_32x32.mat",
                "md5": "e26dedcc434d2e4c54c9b2d4a06d8373",
                "sha256": "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
            },
            "test": {
                "name": "test_32x32.mat",
                "md5": "eb5a983be6a315427106f1b164d9cef3",
                "sha256": "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
            },
            "extra": {
                "name": "extra_32x32.mat",
                "md5": "a93ce644f1a588dc4d68dda5feec44a7",
                "sha256": "a133a4beb38a00fcdda90c9489e0c04f900b660ce8a316a5e854838379a71eb3",
            },
        },
    },
    "synthetic-digits": {
        "format": "synthetic",
        "image_shape": [28, 28, 1],
        "class_names": list(DIGITS),
    },
    "synthetic-house-numbers": {
        "format": "synthetic",
        "image_shape": [32, 32, 3],
        "class_names": list(DIGITS),
    },
}


@dataclass(frozen=True)
class RemoteFile:
    """One published file with its canonical checksums."""

    role: str
    name: str
    sha256: str
    md5: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to fetch, verify and read one dataset."""

    name: str
    kind: str
    format: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    mirrors: tuple[str, ...] = ()
    local_mirror: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_synthetic(self) -> bool:
        return self.format == "synthetic"

    def file(self, role: str) -> RemoteFile:
        """The file playing ``role`` (``train_images``, ``test``, ...)."""
        for f in self.files:
            if f.role == role:
                return f
        roles = ", ".join(f.role for f in self.files) or "none"
        raise ValueError(f"Dataset '{self.name}' has no file for role '{role}'. Roles: {roles}.")

    def file_named(self, name: str) -> RemoteFile:
        """The file whose published name is ``name``."""
        for f in self.files:
            if f.name == name:
                return f
        names = ", ".join(f.name for f in self.files) or "none"
        raise ValueError(f"Dataset '{self.name}' has no file '{name}'. Files: {names}.")


def resolve(name: str, entry: dict[str, Any]) -> DatasetSpec:
    """Build the :class:`DatasetSpec` of the configuration entry ``datasets.<name>``.

    Built-in kinds take their files from :data:`BUILTIN`; ``mirrors`` given in
    the entry are tried before the built-in ones, and ``local_mirror`` (a
    directory) before any URL.

    Raises:
        ValueError: for an unknown kind or an ``idx`` entry missing a field.
    """
    kind = entry.get("kind")
    if kind == "idx":
        missing = [k for k in ("files", "mirrors", "image_shape", "class_names") if k not in entry]
        if missing:
            raise ValueError(
                f"Dataset '{name}' of kind 'idx' lacks {', '.join(missing)}; an idx dataset "
                "must give files (with sha256), mirrors, image_shape and class_names."
            )
        base = {"format": "idx", **{k: entry[k] for k in ("image_shape", "class_names")}}
        base["files"] = entry["files"]
        base["mirrors"] = []
    elif kind in BUILTIN:
        base = BUILTIN[kind]
    else:
        known = ", ".join([*BUILTIN, "idx"])
        raise ValueError(f"Dataset '{name}' has unknown kind '{kind}'. Known kinds: {known}.")

    files = base.get("files", {})
    if base["format"] == "idx":
        absent = [r for r in IDX_ROLES if r not in files]
        if absent:
            raise ValueError(
                f"Dataset '{name}' lacks the IDX files {', '.join(absent)}; "
                f"expected all of {', '.join(IDX_ROLES)}."
            )
    roles = list(files)
    if base["format"] == "svhn-mat" and not entry.get("include_extra", False):
        roles = [r for r in roles if r != "extra"]
    remote = tuple(
        RemoteFile(
            role=r,
            name=files[r]["name"],
            sha256=files[r]["sha256"].lower(),
            md5=(files[r].get("md5") or "").lower() or None,
            size=files[r].get("size"),
        )
        for r in roles
    )
    mirrors = tuple(entry.get("mirrors", [])) + tuple(base.get("mirrors", []))
    local = entry.get("local_mirror")
    shape = tuple(int(s) for s in base["image_shape"])
    if len(shape) != 3:
        raise ValueError(
            f"Dataset '{name}': image_shape must be [height, width, channels], got {list(shape)}."
        )
    return DatasetSpec(
        name=name,
        kind=kind,
        format=base["format"],
        image_shape=shape,  # type: ignore[arg-type]
        class_names=tuple(base["class_names"]),
        files=remote,
        mirrors=mirrors,
        local_mirror=Path(local) if local else None,
        options={k: v for k, v in entry.items() if k not in {"kind", "files", "mirrors"}},
    )

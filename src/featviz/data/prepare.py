"""Turn verified raw files (or a generator) into one compact ``.npz`` per dataset.

The archive holds ``x_train, y_train, x_val, y_val, x_test, y_test`` as
uint8 arrays (images ``(N, H, W, C)``, labels ``(N,)``), ``class_names``, and the
training split's mean amplitude spectrum (``amplitude_spectrum``, ``(C, H, W)``),
which MACO rendering keeps fixed.
The validation split is drawn from the training split by a seeded
permutation, so it is the same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from featviz.data.catalog import DatasetSpec
from featviz.data.formats import FormatError, read_idx_pair, read_svhn_mat
from featviz.io import read_npz, write_npz

SPLITS = ("train", "val", "test")


def load_raw(
    spec: DatasetSpec, raw: Mapping[str, str | Path]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the raw files of ``spec`` (``role -> path``) as ``{split: (x, y)}``."""
    if spec.format == "idx":
        splits = {
            split: read_idx_pair(raw[f"{split}_images"], raw[f"{split}_labels"])
            for split in ("train", "test")
        }
    elif spec.format == "svhn-mat":
        splits = {"train": read_svhn_mat(raw["train"]), "test": read_svhn_mat(raw["test"])}
        if "extra" in raw:
            xe, ye = read_svhn_mat(raw["extra"])
            x, y = splits["train"]
            splits["train"] = (np.concatenate([x, xe]), np.concatenate([y, ye]))
    else:
        raise ValueError(
            f"Dataset '{spec.name}' of format '{spec.format}' has no raw files to read."
        )
    for split, (x, y) in splits.items():
        if x.shape[1:] != spec.image_shape:
            raise FormatError(
                f"Dataset '{spec.name}', {split} split: images of shape {x.shape[1:]}, "
                f"expected {spec.image_shape} (image_shape in the catalog or config)."
            )
        if y.size and int(y.max()) >= len(spec.class_names):
            raise FormatError(
                f"Dataset '{spec.name}', {split} split: label {int(y.max())} but only "
                f"{len(spec.class_names)} class names."
            )
    return splits


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Split off ``fraction`` of ``(x, y)`` as validation by a seeded permutation."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(fraction * len(x)))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train], y[train]), (x[val], y[val])


def prepare(
    spec: DatasetSpec,
    out: str | Path,
    raw: Mapping[str, str | Path] | None = None,
    *,
    validation_fraction: float,
    seed: int,
    n_train: int | None = None,
    n_test: int | None = None,
) -> dict[str, int]:
    """Write the prepared arrays of ``spec`` to ``out`` and return the split sizes.

    Args:
        spec: the dataset.
        out: the ``.npz`` to write (atomically).
        raw: role -> verified raw file, for downloaded datasets.
        validation_fraction: share of the training split held out for validation.
        seed: seeds the validation split and, for generated data, the generator.
        n_train, n_test: number of examples to generate (generated data), or a
            cap on the number kept (real data; the first ones of each split).
    """
    if spec.is_synthetic:
        if not n_train or not n_test:
            raise ValueError(f"Dataset '{spec.name}' is generated: give n_train and n_test.")
        # imported here: the generator's imaging libraries cost every job that only reads
        # a prepared dataset a third of a second
        from featviz.data.synthetic import generate

        train_seed, test_seed = np.random.SeedSequence(seed).generate_state(2)
        splits = {
            "train": generate(spec.kind, n_train, int(train_seed)),
            "test": generate(spec.kind, n_test, int(test_seed)),
        }
    else:
        if raw is None:
            raise ValueError(f"Dataset '{spec.name}' is downloaded: give its raw files.")
        splits = load_raw(spec, raw)
        caps = {"train": n_train, "test": n_test}
        splits = {
            s: (x[: caps[s]], y[: caps[s]]) if caps[s] else (x, y) for s, (x, y) in splits.items()
        }
    (x_train, y_train), (x_val, y_val) = split_validation(
        *splits["train"], validation_fraction, seed
    )
    x_test, y_test = splits["test"]
    write_npz(
        out,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        class_names=np.array(spec.class_names),
        amplitude_spectrum=amplitude_spectrum(x_train),
    )
    return {"train": len(x_train), "val": len(x_val), "test": len(x_test)}


def amplitude_spectrum(images: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Mean amplitude spectrum ``(C, H, W)`` of uint8 ``(N, H, W, C)`` images taken to [0, 1].

    ``|FFT2|`` per channel, averaged over the images (in batches, so memory stays
    bounded): the magnitude MACO keeps fixed while it optimizes the phase.
    """
    n, h, w, c = images.shape
    total = np.zeros((c, h, w), dtype=np.float64)
    for lo in range(0, n, batch):
        x = np.moveaxis(to_model_input(images[lo : lo + batch]), -1, 1).astype(np.float64)
        total += np.abs(np.fft.fft2(x, axes=(2, 3))).sum(axis=0)
    return (total / max(n, 1)).astype(np.float32)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in the models' input range [0, 1]."""
    return np.asarray(images, dtype=np.float32) / 255.0


def load_prepared(path: str | Path) -> dict[str, np.ndarray]:
    """Read a prepared dataset archive, checking every split's arrays.

    Raises:
        FormatError: naming the file and the array that is missing or has the wrong
            type or shape, with what was expected (what :func:`prepare` writes).
    """
    arrays = read_npz(path, "a prepared dataset (.npz from featviz prepare)")
    expected = [f"{p}_{s}" for s in SPLITS for p in ("x", "y")] + [
        "class_names",
        "amplitude_spectrum",
    ]
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise FormatError(
            f"{path}: not a prepared dataset; lacks {', '.join(missing)} "
            f"(holds {', '.join(arrays) or 'no array'})."
        )
    _check_prepared(path, arrays)
    return arrays


def _check_prepared(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """The types and shapes :func:`prepare` writes; anything else is named."""

    def bad(key: str, expected: str) -> FormatError:
        a = arrays[key]
        return FormatError(
            f"{path}: {key} is a {a.dtype} array of shape {a.shape}; expected {expected}."
        )

    names = arrays["class_names"]
    if names.ndim != 1 or names.dtype.kind not in "US" or len(names) < 2:
        raise bad("class_names", "one name (a string) per class, at least two")
    image_shape = None
    for split in SPLITS:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4:
            raise bad(f"x_{split}", "uint8 images (N, height, width, channels)")
        if image_shape is None:
            image_shape = x.shape[1:]
        elif x.shape[1:] != image_shape and len(x):
            raise bad(f"x_{split}", f"images of shape {image_shape} like x_train's")
        if y.dtype.kind not in "iu" or y.shape != (len(x),):
            raise bad(f"y_{split}", f"{len(x)} integer labels, one per image of x_{split}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(names)):
            raise bad(
                f"y_{split}",
                f"labels from 0 to {len(names) - 1} (one per class name), "
                f"found {int(y.min())} to {int(y.max())}",
            )
    spectrum = arrays["amplitude_spectrum"]
    h, w, c = image_shape
    if spectrum.dtype.kind != "f" or spectrum.shape != (c, h, w):
        raise bad("amplitude_spectrum", f"floats of shape {(c, h, w)} (channels, height, width)")

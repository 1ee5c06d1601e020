"""Readers for the published file formats: IDX (MNIST family) and SVHN ``.mat``.

Both readers check what they read and fail with the file's name, what was
found and what was expected, rather than returning a misshapen array.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

#: IDX type codes (third byte of the magic number) and their big-endian dtypes.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class FormatError(ValueError):
    """A file is not in the format its reader expects."""


def read_idx(path: str | Path, expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array.

    The magic number is two zero bytes, a type code and the number of
    dimensions; then one big-endian uint32 per dimension, then the data.

    Args:
        path: the ``.gz`` or raw IDX file.
        expect_ndim: if given, the number of dimensions the file must have
            (3 for images, 1 for labels).

    Raises:
        FormatError: bad magic number, unknown type code, unexpected number of
            dimensions, or a data length that does not match the dimensions.
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise FormatError(f"{path}: {len(raw)} bytes, too short for an IDX header (4 bytes).")
    zero, code, ndim = raw[0] << 8 | raw[1], raw[2], raw[3]
    if zero != 0 or code not in IDX_DTYPES:
        raise FormatError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()}; expected 0x0000TTNN with type "
            f"code TT in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}}."
        )
    if expect_ndim is not None and ndim != expect_ndim:
        raise FormatError(f"{path}: IDX file has {ndim} dimensions, expected {expect_ndim}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FormatError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header}).")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise FormatError(
            f"{path}: IDX data is {len(raw) - header} bytes, but dimensions {dims} of "
            f"{dtype.name} need {expected}."
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))
    )


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching IDX image and label files as ``(N, H, W, 1) uint8`` and ``(N,) uint8``."""
    x = read_idx(images, expect_ndim=3)
    y = read_idx(labels, expect_ndim=1)
    if x.shape[0] != y.shape[0]:
        raise FormatError(
            f"{images} holds {x.shape[0]} images but {labels} holds {y.shape[0]} labels."
        )
    return x[..., None].astype(np.uint8), y.astype(np.uint8)


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN ``*_32x32.mat`` file as ``(N, 32, 32, 3) uint8`` images and labels.

    The files store ``X`` as ``(32, 32, 3, N)`` and ``y`` as ``(N, 1)`` with
    label 10 standing for the digit 0; labels are returned as digits 0-9.

    Raises:
        FormatError: not a MATLAB file, missing ``X``/``y``, wrong shapes, or
            labels outside 1-10.
    """
    from scipy.io import loadmat  # scipy is slow to import; only this reader needs it

    path = Path(path)
    try:
        mat = loadmat(path)
    except (ValueError, OSError, TypeError, IndexError) as err:
        raise FormatError(f"{path}: not a readable MATLAB .mat file ({err}).") from err
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        raise FormatError(f"{path}: lacks variable(s) {', '.join(missing)}; expected X and y.")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise FormatError(f"{path}: X has shape {x.shape}, expected (32, 32, 3, N).")
    if x.shape[3] != y.shape[0]:
        raise FormatError(f"{path}: X holds {x.shape[3]} images but y holds {y.shape[0]} labels.")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise FormatError(
            f"{path}: labels range {int(y.min())}..{int(y.max())}, expected 1..10 (10 = digit 0)."
        )
    images = np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2)), dtype=np.uint8)
    return images, (y % 10).astype(np.uint8)


def _read_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (EOFError, gzip.BadGzipFile, OSError) as err:
            raise FormatError(f"{path}: corrupt or truncated gzip stream ({err}).") from err
    return path.read_bytes()

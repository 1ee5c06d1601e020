import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from featviz.data.formats import FormatError, read_idx, read_idx_pair, read_svhn_mat


def write_idx(path: Path, array: np.ndarray, code: int = 0x08, compress: bool = True) -> Path:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def test_idx_round_trip_gz_and_raw(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.gz", images)), images)
    np.testing.assert_array_equal(
        read_idx(write_idx(tmp_path / "a", images, compress=False)), images
    )


def test_idx_other_dtypes(tmp_path):
    values = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)
    out = read_idx(write_idx(tmp_path / "f.gz", values, code=0x0D))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(FormatError, match="bad IDX magic number 0x01020801"):
        read_idx(path)


def test_idx_wrong_ndim(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(FormatError, match="has 1 dimensions, expected 3"):
        read_idx(path, expect_ndim=3)


def test_idx_truncated_data(tmp_path):
    path = write_idx(tmp_path / "a", np.zeros((4, 2, 2), dtype=np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FormatError, match=r"IDX data is 13 bytes, but dimensions \(4, 2, 2\)"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "a.gz", np.zeros((40, 8, 8), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(FormatError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_idx_pair_count_mismatch(tmp_path):
    x = write_idx(tmp_path / "x.gz", np.zeros((3, 2, 2), dtype=np.uint8))
    y = write_idx(tmp_path / "y.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(FormatError, match="holds 3 images but .* holds 4 labels"):
        read_idx_pair(x, y)


def test_svhn_mat_label_10_is_zero(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(32, 32, 3, 5), dtype=np.uint8)
    y = np.array([[10], [1], [2], [9], [10]], dtype=np.uint8)
    savemat(tmp_path / "t.mat", {"X": x, "y": y})
    images, labels = read_svhn_mat(tmp_path / "t.mat")
    assert images.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(images[1], x[..., 1])
    assert labels.tolist() == [0, 1, 2, 9, 0]


def test_svhn_mat_wrong_shape_and_labels(tmp_path):
    savemat(tmp_path / "s.mat", {"X": np.zeros((28, 28, 1, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(
        FormatError, match=r"X has shape \(28, 28, 1, 2\), expected \(32, 32, 3, N\)"
    ):
        read_svhn_mat(tmp_path / "s.mat")
    savemat(
        tmp_path / "l.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [11]])}
    )
    with pytest.raises(FormatError, match=r"labels range 0..11, expected 1..10"):
        read_svhn_mat(tmp_path / "l.mat")


def test_svhn_not_a_mat_file(tmp_path):
    (tmp_path / "x.mat").write_text("<html>Not Found</html>")
    with pytest.raises(FormatError, match="not a readable MATLAB .mat file"):
        read_svhn_mat(tmp_path / "x.mat")

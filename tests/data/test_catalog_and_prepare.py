import hashlib

import numpy as np
import pytest

from featviz.data.catalog import resolve
from featviz.data.download import fetch
from featviz.data.formats import FormatError
from featviz.data.prepare import load_prepared, prepare, split_validation
from tests.data.test_formats import write_idx

MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_entry(tmp_path, n_train=30, n_test=12, shape=(6, 5)):
    """A config-only IDX dataset ('kind: idx') whose four files the test writes."""
    rng = np.random.default_rng(0)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = {}
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "train_labels": rng.integers(0, 3, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "test_labels": rng.integers(0, 3, n_test, dtype=np.uint8),
    }
    for role, array in arrays.items():
        path = write_idx(mirror / f"{role}.idx.gz", array)
        files[role] = {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    entry = {
        "kind": "idx",
        "files": files,
        "mirrors": [],
        "local_mirror": str(mirror),
        "image_shape": [*shape, 1],
        "class_names": ["a", "b", "c"],
    }
    return entry, arrays


def test_idx_dataset_from_configuration_only(tmp_path):
    entry, arrays = idx_entry(tmp_path)
    spec = resolve("toy", entry)
    raw = {}
    for f in spec.files:
        fetch(f, tmp_path / "raw" / f.name, spec.mirrors, spec.local_mirror)
        raw[f.role] = tmp_path / "raw" / f.name
    sizes = prepare(spec, tmp_path / "toy.npz", raw, validation_fraction=0.2, seed=1)
    assert sizes == {"train": 24, "val": 6, "test": 12}
    data = load_prepared(tmp_path / "toy.npz")
    assert data["x_train"].shape == (24, 6, 5, 1)
    assert data["class_names"].tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(data["x_test"][..., 0], arrays["test_images"])
    # train + val is a partition of the original training split
    both = np.concatenate([data["x_train"], data["x_val"]])[..., 0]
    assert sorted(map(bytes, both)) == sorted(map(bytes, arrays["train_images"]))


def test_idx_entry_missing_fields_and_unknown_kind():
    with pytest.raises(ValueError, match="lacks files, mirrors, image_shape, class_names"):
        resolve("toy", {"kind": "idx"})
    with pytest.raises(ValueError, match="unknown kind 'cifar'. Known kinds: mnist, svhn"):
        resolve("toy", {"kind": "cifar"})


def test_image_shape_mismatch_is_reported(tmp_path):
    entry, _ = idx_entry(tmp_path)
    entry["image_shape"] = [28, 28, 1]
    spec = resolve("toy", entry)
    raw = {f.role: tmp_path / "mirror" / f.name for f in spec.files}
    with pytest.raises(FormatError, match=r"images of shape \(6, 5, 1\), expected \(28, 28, 1\)"):
        prepare(spec, tmp_path / "toy.npz", raw, validation_fraction=0.1, seed=0)
    assert not (tmp_path / "toy.npz").exists()


def test_validation_split_is_seeded():
    x, y = np.arange(100), np.arange(100) % 10
    (a, _), (va, _) = split_validation(x, y, 0.1, seed=3)
    (b, _), (vb, _) = split_validation(x, y, 0.1, seed=3)
    (_, _), (vc, _) = split_validation(x, y, 0.1, seed=4)
    np.testing.assert_array_equal(va, vb)
    assert len(va) == 10 and len(a) == 90 and not np.array_equal(va, vc)
    assert set(a) | set(va) == set(x)


def test_synthetic_prepare_is_deterministic(tmp_path):
    spec = resolve("sd", {"kind": "synthetic-digits"})
    prepare(spec, tmp_path / "a.npz", validation_fraction=0.1, n_train=50, n_test=20, seed=5)
    prepare(spec, tmp_path / "b.npz", validation_fraction=0.1, n_train=50, n_test=20, seed=5)
    a, b = load_prepared(tmp_path / "a.npz"), load_prepared(tmp_path / "b.npz")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["x_val"].shape == (5, 28, 28, 1)


def test_real_mnist_test_split_label_counts(shared_mnist, tmp_path):
    """Reads ../shared/datasets/mnist through the local-mirror mechanism."""
    spec = resolve("mnist", {"kind": "mnist", "local_mirror": str(shared_mnist)})
    raw = {}
    for role in ("test_images", "test_labels"):
        f = spec.file(role)
        fetch(f, tmp_path / f.name, local_mirror=spec.local_mirror)
        raw[role] = tmp_path / f.name
    from featviz.data.formats import read_idx_pair

    x, y = read_idx_pair(raw["test_images"], raw["test_labels"])
    assert x.shape == (10000, 28, 28, 1)
    assert np.bincount(y).tolist() == MNIST_TEST_LABEL_COUNTS

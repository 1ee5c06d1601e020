import numpy as np
import pytest

from featviz.engine import channel
from featviz.studies.joint import (
    random_directions,
    run_directions,
    run_joint,
    simplex_weights,
    weighted,
)


def test_simplex_weights():
    w = simplex_weights(4)
    assert w.shape == (15, 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert {tuple(r) for r in w} >= {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}


def test_weighted_sum_skips_zero_weights():
    a, b = channel("conv1", 6), channel("conv1", 9)
    assert weighted([a, b], [0.3, 0.7]).name == "0.3·conv1:6 + 0.7·conv1:9"
    assert weighted([a, b], [1.0, 0.0]).name == "1·conv1:6"


def test_random_directions_are_seeded_unit_vectors():
    d = random_directions(16, 8, seed=3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(d, random_directions(16, 8, seed=3))


def test_joint_sweep_trades_one_filter_for_the_other(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m.keras")
    files, how = run_joint(
        tmp_path / "m.keras",
        "conv1",
        [0, 1],
        tmp_path,
        weights=[0.0, 0.5, 1.0],
        divisions=2,
        steps=40,
        learning_rate=0.1,
        seed=0,
    )
    data = np.load(tmp_path / "conv1-0-1.npz")
    own = data["own_activations"]
    assert data["images"].shape == (3, 12, 12, 1) and own.shape == (3, 2)
    assert own[2, 0] > own[0, 0] and own[0, 1] > own[2, 1]  # w=1 favours filter 0, w=0 filter 1
    assert {p.name for p in files} >= {"conv1-0-1.png", "conv1-0-1_tradeoff.png"}
    assert "pixel" in how
    files, _ = run_joint(
        tmp_path / "m.keras",
        "conv1",
        [0, 1, 3],
        tmp_path,
        weights=[0.0],
        divisions=2,
        steps=5,
        learning_rate=0.1,
        seed=0,
    )
    assert np.load(tmp_path / "conv1-0-1-3.npz")["images"].shape == (6, 12, 12, 1)
    with pytest.raises(ValueError, match=r"2 or 3 distinct filters, got \[1, 1\]"):
        run_joint(
            tmp_path / "m.keras",
            "conv1",
            [1, 1],
            tmp_path,
            weights=[0.5],
            divisions=2,
            steps=1,
            learning_rate=0.1,
            seed=0,
        )


def test_directions(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m.keras")
    run_directions(
        tmp_path / "m.keras", "conv2", tmp_path, count=3, steps=10, learning_rate=0.1, seed=1
    )
    data = np.load(tmp_path / "conv2.npz")
    assert data["directions"].shape == (3, 6) and data["images"].shape == (3, 12, 12, 1)

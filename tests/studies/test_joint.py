import numpy as np
import pytest

from featviz.engine import channel
from featviz.models.probe import layer_table
from featviz.studies.base import Job
from featviz.studies.joint import STUDY, parse_key, simplex_weights, weighted

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"pairs": [[0, 1]], "triples": [], "weights": [0.0, 1.0], "steps": 8}


def test_simplex_weights():
    w = simplex_weights(4)
    assert w.shape == (15, 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert {tuple(r) for r in w} >= {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}


def test_weighted_sum_skips_zero_weights():
    a, b = channel("conv1", 6), channel("conv1", 9)
    assert weighted([a, b], [0.3, 0.7]).name == "0.3·conv1:6 + 0.7·conv1:9"
    assert weighted([a, b], [1.0, 0.0]).name == "1·conv1:6"


def test_job_keys_name_the_filters(tiny_model):
    settings = {"layer": "conv1", "pairs": [[0, 1]], "triples": [[0, 1, 3]], "weights": [0, 1]}
    assert STUDY.jobs(settings, layer_table(tiny_model)) == ["conv1-0-1", "conv1-0-1-3"]
    assert parse_key("conv1-0-1-3", "conv1") == [0, 1, 3]
    one = STUDY.job_settings(settings, "conv1-0-1-3")
    assert one == {"layer": "conv1", "weights": [0, 1]}  # the key names the filters
    with pytest.raises(ValueError, match=r"2 or 3 distinct filters, got \[1, 1\]"):
        parse_key("conv1-1-1", "conv1")
    with pytest.raises(ValueError, match="does not name 2 or 3 filters of layer 'conv1'"):
        parse_key("conv2-1-2", "conv1")
    with pytest.raises(ValueError, match=r"joint: filters \[0, 4\]: Index 4 out of range"):
        STUDY.check({**settings, "pairs": [[0, 4]]}, layer_table(tiny_model))


def test_joint_sweep_trades_one_filter_for_the_other(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m.keras")
    settings = {"layer": "conv1", "weights": [0.0, 0.5, 1.0], "divisions": 2, "steps": 40}
    result, files = STUDY.execute(
        Job("conv1-0-1", tmp_path / "m.keras", tmp_path), {**settings, "learning_rate": 0.1}
    )
    data = np.load(tmp_path / "conv1-0-1.npz")
    own = data["own_activations"]
    assert data["images"].shape == (3, 12, 12, 1) and own.shape == (3, 2)
    assert own[2, 0] > own[0, 0] and own[0, 1] > own[2, 1]  # w=1 favours filter 0, w=0 filter 1
    assert {p.name for p in files} >= {"conv1-0-1.png", "conv1-0-1_tradeoff.png"}
    sweep, tradeoff = result.figures
    assert "maximized together as w·conv1:0 + (1 − w)·conv1:1 for w = 0, 0.5, 1" in sweep.caption
    assert "pixel" in sweep.caption and tradeoff.caption.startswith("Trade-off between conv1:0")
    STUDY.execute(Job("conv1-0-1-3", tmp_path / "m.keras", tmp_path), {**settings, "steps": 5})
    assert np.load(tmp_path / "conv1-0-1-3.npz")["images"].shape == (6, 12, 12, 1)

import numpy as np
import pytest

from featviz.studies.filters import objectives_for, run


def test_objectives_name_classes_and_check_indices(tiny_model):
    _, objectives = objectives_for(tiny_model, "fc2", None, ["a", "b", "c"])
    assert [o.name for o in objectives] == ["class a", "class b", "class c"]
    _, objectives = objectives_for(tiny_model, "conv2", [1, 5])
    assert [o.name for o in objectives] == ["conv2:1", "conv2:5"]
    with pytest.raises(
        ValueError, match=r"Index 8 out of range for layer 'fc1', which has 8 units"
    ):
        objectives_for(tiny_model, "fc1", [8])
    with pytest.raises(ValueError, match="Unknown layer 'conv7'. Layers: image, conv1"):
        objectives_for(tiny_model, "conv7", None)


def test_restarts_keep_the_best_and_record_all(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m.keras")
    kwargs = dict(indices=[0, 1, 3], steps=20, learning_rate=0.1, seed=0, batch_size=64, sort=True)
    files, how = run(tmp_path / "m.keras", "conv1", tmp_path / "three", restarts=3, **kwargs)
    three = np.load(tmp_path / "three" / "conv1.npz")
    assert three["restart_values"].shape == (3, 3) and three["images"].shape == (3, 12, 12, 1)
    np.testing.assert_allclose(three["values"], three["restart_values"].max(axis=1))
    assert {p.suffix for p in files} == {".png", ".pdf", ".csv"}

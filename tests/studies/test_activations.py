import numpy as np
import pytest

from featviz.studies.activations import STUDY, select_images
from featviz.studies.base import Job

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"images": 2}


def test_one_image_per_class_first():
    labels = np.array([2, 0, 0, 1, 2, 1])
    assert select_images(labels, 3).tolist() == [1, 3, 0]
    assert select_images(labels, 5).tolist() == [1, 2, 3, 0, 4]


def test_feature_maps_of_a_conv_layer(tmp_path, tiny_model, tiny_data):
    tiny_model.save(tmp_path / "m.keras")
    few = dict(np.load(tiny_data))
    few["x_test"], few["y_test"] = few["x_test"][:8], few["y_test"][:8]
    data = tmp_path / "few.npz"
    np.savez(data, **few)
    job = Job("conv2", tmp_path / "m.keras", tmp_path / "out", data=data, model_name="tiny")
    result, _ = STUDY.execute(job, {"images": 12})
    maps = np.load(tmp_path / "out" / "conv2.npz")
    assert maps["maps"].shape == (8, 6, 6, 6) and result.numbers["images"] == 8
    assert "for 8 test images" in result.figures[0].caption  # the images shown, not those asked for
    with pytest.raises(
        ValueError, match="Unknown conv layer 'fc1'. Conv layers of .*: conv1, conv2"
    ):
        STUDY.execute(Job("fc1", tmp_path / "m.keras", tmp_path / "out", data=data), {})

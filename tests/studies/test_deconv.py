import numpy as np
import pytest

from featviz.plotting import signed_to_grey
from featviz.studies import get
from featviz.studies.base import Job

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"rows": 2}


def test_projections_of_every_filters_top_examples(tmp_path, tiny_model, tiny_data):
    tiny_model.save(tmp_path / "m.keras")
    filters = Job("conv2", tmp_path / "m.keras", tmp_path / "filters", data=tiny_data)
    get("filters").execute(filters, {"steps": 3, "examples": 4})
    job = Job(
        "conv2",
        tmp_path / "m.keras",
        tmp_path / "deconv",
        data=tiny_data,
        extras={"filters": tmp_path / "filters" / "conv2.npz"},
        model_name="tiny",
    )
    result, files = get("deconv").execute(job, {"rows": 3})
    arrays = np.load(tmp_path / "deconv" / "conv2.npz")
    assert arrays["deconvnet"].shape == arrays["guided"].shape == (6, 4, 12, 12, 1)
    assert result.numbers["nonzero_share"] > 0.5
    assert np.abs(arrays["guided"]).max() > 0
    assert "conv2 of tiny, filters 0-2: each row shows" in result.figures[0].caption
    with pytest.raises(ValueError, match="needs the filters study's output for this job"):
        get("deconv").execute(
            Job("conv2", tmp_path / "m.keras", tmp_path / "x", data=tiny_data), {}
        )


def test_projections_are_shown_on_grey():
    shown = signed_to_grey(np.array([-2.0, 0.0, 1.0]))
    np.testing.assert_allclose(shown, [0.0, 0.5, 0.75])
    np.testing.assert_allclose(signed_to_grey(np.zeros(3)), 0.5)

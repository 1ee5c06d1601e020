import numpy as np
import pytest

from featviz.engine import for_units
from featviz.models.probe import layer_table
from featviz.studies.base import Job
from featviz.studies.filters import STUDY

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"steps": 8, "restarts": 2}


def test_objectives_name_classes_and_check_indices(tiny_model):
    table = layer_table(tiny_model)
    _, objectives = for_units(table, "fc2", None, ["a", "b", "c"])
    assert [o.name for o in objectives] == ["class a", "class b", "class c"]
    _, objectives = for_units(table, "conv2", [1, 5])
    assert [o.name for o in objectives] == ["conv2:1", "conv2:5"]
    with pytest.raises(
        ValueError, match=r"Index 8 out of range for layer 'fc1', which has 8 units"
    ):
        for_units(table, "fc1", [8])
    with pytest.raises(ValueError, match="Unknown layer 'conv7'. Layers with activations: conv1"):
        for_units(table, "conv7", None)


def test_jobs_and_their_slices(tiny_model):
    table = layer_table(tiny_model)
    settings = {"units": {"conv1": "all", "fc1": [0, 3]}, "classes": True, "steps": 5}
    assert STUDY.jobs(settings, table) == ["conv1", "fc1", "fc2"]
    assert STUDY.job_settings(settings, "fc1") == {"units": {"fc1": [0, 3]}, "steps": 5}
    assert STUDY.job_settings(settings, "fc2")["units"] == {"fc2": "all"}
    assert "classes" not in STUDY.validate(STUDY.job_settings(settings, "fc2"))
    STUDY.check(settings, table)
    with pytest.raises(ValueError, match=r"filters.units.fc1: Index 9 out of range"):
        STUDY.check({**settings, "units": {"fc1": [9]}}, table)
    with pytest.raises(ValueError, match=r"filters: Unknown layer 'conv9'"):
        STUDY.check({**settings, "units": {"conv9": "all"}}, table)


def test_restarts_keep_the_best_and_record_all(tmp_path, tiny_model, tiny_data):
    tiny_model.save(tmp_path / "m.keras")
    job = Job("conv1", tmp_path / "m.keras", tmp_path / "out", data=tiny_data, model_name="tiny")
    settings = {"units": {"conv1": [0, 1, 3]}, "steps": 20, "learning_rate": 0.1}
    result, files = STUDY.execute(job, {**settings, "restarts": 3, "sort": "objective"})
    three = np.load(tmp_path / "out" / "conv1.npz")
    assert three["restart_values"].shape == (3, 3) and three["images"].shape == (3, 12, 12, 1)
    np.testing.assert_allclose(three["values"], three["restart_values"].max(axis=1))
    assert {p.name for p in files} == {
        "conv1.png",
        "conv1.pdf",
        "conv1.caption.rst",
        "conv1_examples.png",
        "conv1_examples.pdf",
        "conv1_examples.caption.rst",
        "conv1.npz",
        "conv1.csv",
        "conv1.result.json",
    }
    # the top examples: 9 test images at each end for each unit, inside the image
    assert three["top"].shape == three["bottom"].shape == (3, 9)
    assert (three["top_scores"][:, 0] >= three["top_scores"][:, -1]).all()
    assert (three["top_scores"][:, -1] >= three["bottom_scores"][:, -1]).all()
    windows = three["top_windows"]
    assert windows.shape == (3, 9, 4) and (windows[..., 2] - windows[..., 0] == 3).any()
    assert (windows >= 0).all() and (windows[..., 2:] <= 12).all()
    figure, examples = result.figures
    assert examples.caption.startswith("What drives conv1 of tiny: for units 0, 1, 3")
    assert figure.section == "filters"
    assert figure.caption.startswith(
        "Images that maximize the mean activation of units 0, 1, 3 of conv1 of tiny: 20 Adam "
        "steps at learning rate 0.1 from seed 0, best of 3 restarts; pixel parameterization"
    )
    assert "sorted by objective. Of the " in figure.caption
    # the reach of the seed's start: live units that never rose, and those below their best
    live = three["active_share"] >= 0.01
    stuck = live & (three["values"] <= three["traces"][:, 0])
    below = live & (three["values"] < three["top_scores"][:, 0])
    numbers = result.numbers
    assert (numbers["live"], numbers["stuck"], numbers["below_best"]) == (
        live.sum(),
        stuck.sum(),
        below.sum(),
    )
    assert figure.caption.endswith(
        f"{numbers['stuck']} never left their start and {numbers['below_best']} end below "
        "their best test image."
    )
    assert (tmp_path / "out" / "conv1.caption.rst").read_text().startswith("Images that maximize")


def test_the_caption_says_the_recipe_that_rendered(tmp_path, tiny_model, tiny_data):
    tiny_model.save(tmp_path / "m.keras")
    job = Job("fc2", tmp_path / "m.keras", tmp_path / "out", data=tiny_data)
    recipe = {"parameterization": "fourier", "regularizers": {"blur": {"sigma": 0.5}}}
    result, _ = STUDY.execute(job, {"steps": 3, **recipe})
    figure, examples = result.figures
    assert figure.section == examples.section == "classes"
    assert "maximize the logit of every class of fc2 of the model" in figure.caption
    some, _ = STUDY.execute(job, {"steps": 2, "units": {"fc2": [0, 2]}})
    assert "the logit of classes a, c of fc2" in some.figures[0].caption
    assert "Fourier 1/f^1 parameterization" in figure.caption and "blur 0.5/4" in figure.caption


def test_steps_auto_stops_at_the_plateau_and_says_so(tmp_path, tiny_model, tiny_data):
    tiny_model.save(tmp_path / "m.keras")
    job = Job("conv1", tmp_path / "m.keras", tmp_path / "out", data=tiny_data, model_name="t")
    settings = {"steps": "auto", "max_steps": 2000, "learning_rate": 0.1, "examples": 3}
    result, _ = STUDY.execute(job, settings)
    stopped = np.load(tmp_path / "out" / "conv1.npz")["stopped"]
    assert stopped.shape == (4,) and (stopped > 0).all() and (stopped < 2000).all()
    caption = result.figures[0].caption
    assert "Adam steps until each objective rose by at most 1 % over 10 %" in caption
    assert f"(median {int(np.median(stopped)):,}, most {int(stopped.max()):,})" in caption

import json

import numpy as np
import pytest

from featviz.studies import get
from featviz.studies.base import Job

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"steps": 6, "references": 3, "queries": 5}


@pytest.fixture
def judged(tmp_path, tiny_model, tiny_judge):
    """A folder with the tiny model and its judge."""
    tiny_model.save(tmp_path / "m.keras")
    (tmp_path / "judge.keras").write_bytes(tiny_judge.read_bytes())
    return tmp_path


def recommend(path, setting, recipe):
    """A recommendation of the shape the ablation writes."""
    base = {"decorrelate": False, "fourier_decay": 1.0, "parameterization": "pixel"}
    base |= {"regularizers": {"l1": 0, "l2": 0, "tv": 0}, "transforms": "none"}
    path.write_text(json.dumps({"setting": setting, "score": 0.9, "recipe": base | recipe}))
    return path


@pytest.mark.parametrize("layer", ["conv2", "fc2"])
def test_every_unit_of_the_filters_study_under_the_chosen_recipe(judged, tiny_data, layer):
    tmp = judged
    filters = Job(layer, tmp / "m.keras", tmp / "filters", data=tiny_data)
    units = {"conv2": [1, 4], "fc2": "all"}[layer]
    get("filters").execute(filters, {"steps": 3, "examples": 4, "units": {layer: units}})
    chosen = recommend(tmp / "rec.json", "blur", {"regularizers": {"blur": {"sigma": 0.7}}})
    job = Job(
        layer,
        tmp / "m.keras",
        tmp / "out",
        data=tiny_data,
        extras={
            "judge": tmp / "judge.keras",
            "filters": tmp / "filters" / f"{layer}.npz",
            "recommended": chosen,
        },
        model_name="tiny",
    )
    settings = {"steps": 8, "references": 3, "queries": 5}
    result, _ = get("recommended").execute(job, settings)
    arrays = np.load(tmp / "out" / f"{layer}.npz")
    n = 2 if layer == "conv2" else 3
    assert arrays["indices"].tolist() == ([1, 4] if layer == "conv2" else [0, 1, 2])
    # as many maximizing and minimizing images as natural references on each side
    assert arrays["max_images"].shape == arrays["min_images"].shape == (n, 3, 12, 12, 1)
    assert arrays["max_values"].shape == arrays["min_values"].shape == (n, 3)
    # the minimizing images drive the unit no higher than the maximizing ones
    assert np.all(arrays["min_values"].min(axis=1) <= arrays["max_values"].max(axis=1))
    # the reach counts are those of the shown (best) maximizing image of each live unit
    live = arrays["active_share"] >= 0.01
    best = arrays["max_values"].max(axis=1)
    assert result.numbers["live"] == int(live.sum())
    assert result.numbers["below_best"] == int((live & (best < arrays["best_test"])).sum())
    assert "3 maximizing and 3 minimizing images as references" in result.figures[0].caption
    assert np.all((arrays["two_afc"] >= 0) & (arrays["two_afc"] <= 1))
    assert np.all((arrays["natural_two_afc"] >= 0) & (arrays["natural_two_afc"] <= 1))
    assert arrays["hf_share"].shape == (n, 3) and arrays["diversity"].shape == (n,)
    if layer == "fc2":
        assert np.all((arrays["confidence"] > 0) & (arrays["confidence"] < 1))
    else:
        assert np.isnan(arrays["confidence"]).all()  # a unit has no intended class
    caption = result.figures[0].caption
    assert "under the recipe the ablation chose ('blur':" in caption and "8 Adam steps" in caption
    assert result.numbers["setting"] == "blur"


def test_it_needs_the_judge(judged):
    from featviz.studies.recommended import STUDY

    assert STUDY.same_jobs_as == "filters"
    with pytest.raises(ValueError, match="needs the judge model"):
        STUDY.execute(Job("conv1", judged / "m.keras", judged / "out"), {})


def test_a_layer_is_compared_with_its_natural_ceiling_at_two_standard_errors():
    from featviz.studies.recommended import verdict

    numbers = {"units": 100, "two_afc": [0.80, 0.10], "natural_two_afc": [0.81, 0.10]}
    assert verdict(numbers) == "at"  # 0.01 < 2 * 0.0141
    assert verdict({**numbers, "two_afc": [0.70, 0.10]}) == "below"
    assert verdict({**numbers, "two_afc": [0.90, 0.10]}) == "above"
    assert verdict({**numbers, "two_afc": [float("nan"), 0.0]}) == "unmeasured"


def test_the_report_names_each_layers_recipe():
    """The ablation chooses per layer: a section whose layers differ says so and names each
    layer's recipe, rather than the first layer's recipe for all."""
    from featviz.report.templating import environment
    from featviz.results import Result

    def result(layer, setting):
        numbers = {
            "layer": layer,
            "setting": setting,
            "references": 9,
            "units": 4,
            "live": 4,
            "stuck": 0,
            "below_best": 0,
            "two_afc": [0.9, 0.1],
            "natural_two_afc": [0.9, 0.1],
            "hf_share": [0.1, 0.0],
            "diversity": [0.5, 0.1],
        }
        return Result("recommended", layer, numbers=numbers, labels={"dataset": "d", "model": "m"})

    section = environment().get_template("sections/recommended.md.j2")
    mixed = section.render(
        **get("recommended").summarize([result("conv1", "none"), result("conv2", "tv")])
    )
    assert "### d, m: a recipe per layer" in mixed and "recipe 'none'" not in mixed
    assert "| conv1 | none | 4 |" in mixed and "| conv2 | tv | 4 |" in mixed
    assert "The ablation chose each layer's recipe" in mixed
    same = section.render(
        **get("recommended").summarize([result("conv1", "tv"), result("conv2", "tv")])
    )
    assert "### d, m: recipe 'tv'" in same and "The ablation chose 'tv'" in same


def test_runs_of_units_rendered_as_shards_give_the_whole_jobs_outputs_bit_for_bit(
    judged, tiny_data
):
    """conv2's six units in runs of four: two shards, each its own render call as in the
    whole job, so the merged outputs equal the whole job's byte for byte; a shard of other
    units is refused, naming it."""
    from featviz.models.layers import LayerTable
    from featviz.settings import validate_section
    from featviz.studies.recommended import STUDY

    tmp = judged
    filters = Job("conv2", tmp / "m.keras", tmp / "filters", data=tiny_data)
    get("filters").execute(filters, {"steps": 3, "examples": 4, "units": {"conv2": "all"}})
    chosen = recommend(tmp / "rec.json", "none", {})
    section = validate_section(
        "recommended", {"steps": 6, "references": 2, "queries": 5, "shard_units": 4}
    )
    table = LayerTable.from_keras_file(tmp / "m.keras")
    keys = STUDY.shards(section, table, "conv2", units=list(range(6)))
    assert keys == ["units-0-3", "units-4-5"]
    assert STUDY.shards(section, table, "conv2", units=[0, 1]) == []  # one run holds them
    assert STUDY.shards({**section, "split": False}, table, "conv2") == []

    def job(out: str, shards=None) -> Job:
        extras = {"judge": tmp / "judge.keras", "filters": tmp / "filters" / "conv2.npz"}
        return Job(
            "conv2",
            tmp / "m.keras",
            tmp / out,
            data=tiny_data,
            extras={**extras, "recommended": chosen},
            model_name="tiny",
            shards=shards or {},
        )

    done = {key: STUDY.execute_shard(job("split"), section, key) for key in keys}
    split_result, split_files = STUDY.execute(job("split", done), section)
    whole_result, whole_files = STUDY.execute(job("whole"), section)
    assert split_result.numbers == whole_result.numbers
    assert [f.name for f in split_files] == [f.name for f in whole_files]
    for a, b in zip(split_files, whole_files, strict=True):
        if not a.name.endswith(".result.json"):  # the manifest names its folder
            assert a.read_bytes() == b.read_bytes(), a.name
    swapped = {keys[0]: done[keys[1]], keys[1]: done[keys[0]]}
    with pytest.raises(ValueError, match=r"shard units-0-3 rendered units \[4, 5\], but the job"):
        STUDY.execute(job("wrong", swapped), section)
    with pytest.raises(ValueError, match="not a shard of this job; its shards are units-0-3"):
        STUDY.execute_shard(job("split"), section, "units-8-11")

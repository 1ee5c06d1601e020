import json

import numpy as np
import pytest

from featviz.settings import validate_section
from featviz.studies.ablation import (
    EVERY_LAYER,
    STUDY,
    Target,
    agreement,
    choose,
    latex_table,
    markdown_table,
    named_recipes,
    parts,
)
from featviz.studies.base import Job

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {
    "units_per_layer": 1,
    "steps": 6,
    "references": 2,
    "queries": 8,
    "confirm": False,  # the second seed is tested here, on a tiny model
    "split": False,  # shards are tested here and in the tiny demo's DAG
    "settings": {"none": {}, "blur": {"regularizers": {"blur": {"sigma": 0.7}}}},
    "combinations": {},
}


def test_settings_and_combinations_become_recipes():
    section = validate_section("ablation", {})
    recipes = named_recipes(section)
    assert list(recipes)[:2] == ["none", "l1"] and "decorrelated" in recipes
    assert "decorrelated" not in named_recipes(section, channels=1)  # grey: no colour
    both = recipes["fourier+transforms+blur"]
    assert both["parameterization"] == "fourier" and both["transforms"] == "auto"
    assert both["regularizers"]["blur"] == {"sigma": 0.7, "every": 4}
    assert (
        recipes["none"]["parameterization"] == "pixel"
        and recipes["none"]["regularizers"]["l2"] == 0
    )
    bad = {**section, "combinations": {"x": ["fourier", "maco"]}}
    with pytest.raises(
        ValueError, match=r"combinations.x: combines parameterizations \['fourier', 'maco'\]"
    ):
        named_recipes(bad)
    with pytest.raises(ValueError, match=r"combinations.y: unknown setting 'blurr'"):
        named_recipes({**section, "combinations": {"y": ["blur", "blurr"]}})
    assert STUDY.needs(section) == ["judge", "prior"]
    assert STUDY.needs({**section, "settings": {"none": {}}, "combinations": {}}) == ["judge"]


def test_a_layer_chooses_the_best_setting_or_the_simplest_it_cannot_tell_apart():
    recipes = named_recipes(validate_section("ablation", {}))
    assert parts(recipes["none"]) == 0 and parts(recipes["fourier+transforms+blur"]) == 3
    names = ["none", "blur", "fourier+transforms"]
    rng = np.random.default_rng(0)
    targets = [Target("max", "conv1", i, None) for i in range(30)]
    targets += [Target("min", "conv1", i, None) for i in range(30)]
    base = rng.uniform(0.5, 0.9, size=30)
    ceiling = np.concatenate([np.full(30, 0.95), np.full(30, np.nan)])

    def scores(*shifts, noise=0.0):
        rows = [base + shift + noise * rng.normal(size=30) for shift in shifts]
        return np.concatenate([np.stack(rows), np.full((len(shifts), 30), np.nan)], axis=1)

    # clearly ahead on the same targets: chosen, and separated from the rest
    clear = choose(names, recipes, scores(0.0, 0.0, 0.1), ceiling, targets, seed=0)
    assert set(clear) == {"conv1", EVERY_LAYER}
    assert clear["conv1"].setting == "fourier+transforms" and clear["conv1"].tied == [
        "fourier+transforms"
    ]
    low, high = clear["conv1"].shortfall[1:]
    assert low < clear["conv1"].shortfall[0] < high < 0  # still below the ceiling of 0.95
    # within noise of each other: a tie, and the simplest of the tied wins
    tied = choose(names, recipes, scores(0.0, 0.005, 0.01, noise=0.05), ceiling, targets, seed=0)
    assert len(tied["conv1"].tied) > 1 and tied["conv1"].setting == "none"
    assert tied["conv1"].best != "none"
    assert agreement(clear["conv1"], clear["conv1"]) == "same"
    # fourier+transforms is among the ties of the noisy run: the two runs do not disagree
    assert agreement(tied["conv1"], clear["conv1"]) == agreement(clear["conv1"], tied["conv1"])
    assert agreement(tied["conv1"], clear["conv1"]) == "tie"
    other = choose(names, recipes, scores(0.0, 0.1, 0.0), ceiling, targets, seed=0)
    assert other["conv1"].setting == "blur"
    assert agreement(clear["conv1"], other["conv1"]) == "differs"


def test_tables():
    nan = (float("nan"), float("nan"))
    row = {
        "setting": "blur_1",
        "score": 0.6,
        "transfer": (0.4, 0.1),
        "class_ssim": (0.2, 0.05),
        "plausibility": (0.01, 0.02),
        "two_afc": (0.8, 0.1),
        "hf_share": (0.1, 0.01),
        "diversity": (0.3, 0.1),
        "logit": nan,
    }
    md = markdown_table([row])
    assert "| blur_1 | 0.600 | 0.400 ± 0.100 |" in md and md.rstrip().endswith("| — |")
    tex = latex_table([row], "A caption.")
    assert r"blur\_1 & 0.600 & 0.400 $\pm$ 0.100" in tex and r"\caption{A caption.}" in tex


def test_a_small_ablation_ranks_settings_and_recommends_one(
    tmp_path, tiny_model, tiny_data, tiny_judge
):
    tiny_model.save(tmp_path / "m.keras")
    data = tiny_data
    settings = {
        "layers": ["conv1", "conv2"],
        "units_per_layer": 1,
        "steps": 6,
        "references": 2,
        "queries": 5,
        "settings": {
            "none": {},
            "blur": {"regularizers": {"blur": {"sigma": 0.7}}},
            "maco": {"parameterization": "maco"},
            "transforms": {"transforms": "auto"},
        },
        "combinations": {"blur+transforms": ["blur", "transforms"]},
    }
    job = Job(
        "recipes",
        tmp_path / "m.keras",
        tmp_path / "out",
        data=data,
        extras={"judge": tiny_judge},
        dataset="d",
        model_name="tiny",
    )
    result, files = STUDY.execute(job, settings)
    arrays = np.load(tmp_path / "out" / "recipes.npz")
    # settings, targets (classes maximized and minimized, then units), starts
    assert arrays["images"].shape == (5, 3 + 3 + 2 * 2, 2, 12, 12, 1)
    assert arrays["kinds"].tolist() == ["class"] * 3 + ["min"] * 3 + ["max", "min"] * 2
    rows = {r["setting"]: r for r in result.numbers["rows"]}
    assert set(rows) == {"none", "blur", "maco", "transforms", "blur+transforms"}
    assert all(0 <= r["two_afc"][0] <= 1 and 0 < r["transfer"][0] < 1 for r in rows.values())
    assert rows["blur"]["hf_share"][0] < rows["none"]["hf_share"][0]  # blur smooths
    recommended = json.loads((tmp_path / "out" / "recipes_recommended.json").read_text())
    assert recommended["setting"] == result.numbers["winner"]
    # one recipe per layer sampled and for the classes, each confirmed by the next seed
    assert set(recommended["layers"]) == {"conv1", "conv2", "fc2"}
    layers = {row["layer"]: row for row in result.numbers["layers"]}
    assert set(layers) == {"conv1", "conv2", "fc2", EVERY_LAYER}
    for layer, row in layers.items():
        assert row["setting"] in row["tied"] and row["agreement"] in ("same", "tie", "differs")
        if layer != EVERY_LAYER:
            assert recommended["layers"][layer]["setting"] == row["setting"]
    assert layers["fc2"]["targets"] == 3 and layers["conv1"]["targets"] == 1
    assert result.numbers["confirm_seed"] == 1
    # the settings' ranking in a second embedding, and how well the two agree
    assert result.numbers["embeddings"]["second"] == "conv1"  # the judge's last conv layer
    assert all(row["tau"] is None or -1 <= row["tau"] <= 1 for row in layers.values())
    assert len(result.figures) == 3 and all(f.section == "ablation" for f in result.figures)
    assert "natural-exemplar ceiling" in result.figures[2].caption
    assert 0 <= result.numbers["natural_two_afc"][0] <= 1
    table = (tmp_path / "out" / "recipes.md").read_text()
    assert table.splitlines()[2].startswith(f"| {result.numbers['rows'][0]['setting']} |")


def test_shards_rendered_apart_give_the_whole_jobs_outputs_bit_for_bit(
    tmp_path, tiny_model, tiny_data, tiny_judge
):
    from featviz.models.layers import LayerTable
    from featviz.settings import validate_section

    tiny_model.save(tmp_path / "m.keras")
    section = validate_section(
        "ablation",
        {
            **TINY,
            "layers": ["conv1"],
            "confirm": True,
            "split": True,
            "settings": {**TINY["settings"], "fourier": {"parameterization": "fourier"}},
            # parts of two batches of 6 images: the classes (3, maximized and minimized)
            # under blur's group (none and blur) twice each are 24 images, two parts
            "batch_size": 6,
            "shard_batches": 2,
        },
    )
    table = LayerTable.from_keras_file(tmp_path / "m.keras")
    keys = STUDY.shards(section, table, "recipes")
    # per seed (and the confirming one), group of settings sharing a batch (named by its
    # first setting, sorted), layer, and part where a layer's images fill more than one
    assert keys == [
        f"{seed}-{group}-{layer}"
        for seed in (0, 1)
        for group, layer in [
            ("blur", "conv1"),
            ("blur", "fc2-part1of2"),
            ("blur", "fc2-part2of2"),
            ("fourier", "conv1"),
            ("fourier", "fc2"),
        ]
    ]
    assert STUDY.shards({**section, "split": False}, table, "recipes") == []
    whole = STUDY.shards({**section, "shard_batches": None}, table, "recipes")
    assert whole == [
        f"{s}-{g}-{la}" for s in (0, 1) for g in ("blur", "fourier") for la in ("conv1", "fc2")
    ]

    def job(out: str, shards=None) -> Job:
        return Job(
            "recipes",
            tmp_path / "m.keras",
            tmp_path / out,
            data=tiny_data,
            extras={"judge": tiny_judge},
            dataset="d",
            model_name="tiny",
            shards=shards or {},
        )

    done = {key: STUDY.execute_shard(job("split"), section, key) for key in keys}
    assert all(path.parent == tmp_path / "split" / "shards" / "recipes" for path in done.values())
    split_result, split_files = STUDY.execute(job("split", done), section)
    whole_result, whole_files = STUDY.execute(job("whole"), section)
    assert split_result.numbers == whole_result.numbers  # the shards' renders counted too
    assert [f.name for f in split_files] == [f.name for f in whole_files]
    for a, b in zip(split_files, whole_files, strict=True):
        if not a.name.endswith(".result.json"):  # the manifest names its folder
            assert a.read_bytes() == b.read_bytes(), a.name
    # a shard made for other targets is refused, naming it
    for other in (keys[1], keys[3]):  # another layer's, another group's
        with pytest.raises(
            ValueError, match=rf"shard {keys[0]} rendered other targets or settings"
        ):
            STUDY.execute(job("wrong", {**done, keys[0]: done[other]}), section)
    # and so is another part of the same call
    with pytest.raises(ValueError, match=rf"shard {keys[1]} rendered other targets or settings"):
        STUDY.execute(job("wrong", {**done, keys[1]: done[keys[2]]}), section)
    with pytest.raises(ValueError, match="not a shard of this job; its shards are 0-blur-conv1"):
        STUDY.execute_shard(job("split"), section, "0-none-conv9")

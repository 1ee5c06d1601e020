import json

import numpy as np
import pytest

from featviz.settings import validate_section
from featviz.studies.ablation import STUDY, latex_table, markdown_table, named_recipes, score
from featviz.studies.base import Job


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


def test_score_and_tables():
    assert score(0.4, 0.8) == pytest.approx(0.6)
    assert score(None, 0.7) == 0.7 and np.isnan(score(None, float("nan")))
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
        "restarts": 2,
        "references": 3,
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
    assert arrays["images"].shape == (5, 3 + 2 * 2, 2, 12, 12, 1)  # settings, targets, restarts
    assert arrays["kinds"].tolist() == ["class"] * 3 + ["max", "min"] * 2
    rows = {r["setting"]: r for r in result.numbers["rows"]}
    assert set(rows) == {"none", "blur", "maco", "transforms", "blur+transforms"}
    assert all(0 <= r["two_afc"][0] <= 1 and 0 < r["transfer"][0] < 1 for r in rows.values())
    assert rows["blur"]["hf_share"][0] < rows["none"]["hf_share"][0]  # blur smooths
    recommended = json.loads((tmp_path / "out" / "recipes_recommended.json").read_text())
    assert (
        recommended["setting"] == result.numbers["winner"] == result.numbers["rows"][0]["setting"]
    )
    assert recommended["recipe"]["parameterization"] in ("pixel", "maco")
    assert len(result.figures) == 3 and all(f.section == "ablation" for f in result.figures)
    assert "natural-exemplar ceiling" in result.figures[2].caption
    assert 0 <= result.numbers["natural_two_afc"][0] <= 1
    table = (tmp_path / "out" / "recipes.md").read_text()
    assert table.splitlines()[2].startswith(f"| {result.numbers['winner']} |")

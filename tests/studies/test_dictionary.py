import csv
import dataclasses

import numpy as np
import pytest

from featviz.models.dictionaries import learn, match, samples_of, units_spread
from featviz.studies import get
from featviz.studies.base import Job
from featviz.studies.dictionary import difference, top_units, verdict
from tests.studies.test_recommended import recommend

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"features": 3, "images": 120, "samples": 2000, "steps": 6, "references": 2, "queries": 5}

#: The matched cosine a planted dictionary must be recovered above.
RECOVERED = 0.95


def planted(seed: int = 0, features: int = 6, channels: int = 24, samples: int = 4000):
    """Activations built from known non-negative directions, sparse non-negative codes and
    noise, rectified as a ReLU layer's are."""
    rng = np.random.default_rng(seed)
    directions = rng.uniform(0, 1, (features, channels))
    directions *= rng.uniform(size=(features, channels)) < 0.3
    codes = rng.exponential(1.0, (samples, features))
    codes *= rng.uniform(size=(samples, features)) < 0.25
    acts = np.maximum(codes @ directions + rng.normal(0, 0.02, (samples, channels)), 0)
    return directions, acts


def test_a_planted_dictionary_is_recovered_and_the_fit_is_deterministic():
    directions, acts = planted()
    fit = learn(acts, 6, "nmf", seed=0)
    assert match(directions, fit.features).min() > RECOVERED
    assert fit.explained > 0.99 and fit.dead == 0
    assert 0.5 < fit.sparsity < 1  # most codes are zero, as planted (three in four)
    np.testing.assert_allclose(np.linalg.norm(fit.features, axis=1), 1.0, rtol=1e-5)
    again = learn(acts, 6, "nmf", seed=0)
    np.testing.assert_array_equal(again.features, fit.features)
    # the autoencoder learns non-negative unit directions too, each sample coded by top_k
    sae = learn(acts, 6, "sae", seed=0, top_k=3, epochs=5)
    assert sae.features.min() >= 0 and ((sae.codes > 0).sum(axis=1) <= 3).all()
    with pytest.raises(ValueError, match="dictionary.method: 'pca'; expected one of nmf, sae"):
        learn(acts, 6, "pca", seed=0)
    with pytest.raises(ValueError, match="needs at least 6 samples, got 4"):
        learn(acts[:4], 6, "nmf", seed=0)


def test_samples_are_every_position_and_features_spread_over_units():
    acts = np.arange(2 * 3 * 3 * 4, dtype=np.float32).reshape(2, 3, 3, 4)
    assert samples_of(acts, 100, seed=0).shape == (18, 4)  # every position of every image
    drawn = samples_of(acts, 5, seed=0)
    assert drawn.shape == (5, 4) and np.all(np.diff(drawn[:, 0]) > 0)  # kept in order
    spread = units_spread(np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]]))
    np.testing.assert_allclose(spread, [1.0, 4.0])
    assert top_units(np.array([[0.1, 0.7, 0.2, 0.0]]), 2).tolist() == [[1, 2]]


def test_features_against_units_with_an_interval_and_one_sentence():
    rng = np.random.default_rng(0)
    better = difference(rng.normal(0.9, 0.02, 30), rng.normal(0.7, 0.02, 40), seed=0)
    assert better[1] < better[0] < better[2] and better[1] > 0
    assert "learned features are more interpretable than the units" in verdict("conv3", better)
    same = difference(rng.normal(0.8, 0.1, 30), rng.normal(0.8, 0.1, 40), seed=0)
    assert "cannot be told apart" in verdict("conv3", same)
    worse = difference(np.full(5, 0.6), np.full(5, 0.8), seed=0)
    assert "units are more interpretable" in verdict("fc1", worse)
    assert "too few" in verdict("fc1", difference(np.array([0.5]), np.full(5, 0.8), seed=0))


def test_a_small_dictionary_study_renders_and_scores_every_feature(
    tmp_path, tiny_model, tiny_data, tiny_judge
):
    """Whole, and split: the fit and renders in a shard that reads only the model, the data
    and the recipe, the layer's job reading it gives the same files byte for byte."""
    tiny_model.save(tmp_path / "m.keras")
    layer = "conv2"
    filters = Job(layer, tmp_path / "m.keras", tmp_path / "filters", data=tiny_data)
    get("filters").execute(filters, {"steps": 3, "examples": 4, "units": {layer: "all"}})
    chosen = recommend(tmp_path / "rec.json", "none", {})
    inputs = {
        "judge": tiny_judge,
        "filters": tmp_path / "filters" / f"{layer}.npz",
        "recommended": chosen,
    }
    units = Job(layer, tmp_path / "m.keras", tmp_path / "rec", data=tiny_data, extras=inputs)
    get("recommended").execute(units, {"steps": 6, "references": 2, "queries": 5})
    job = Job(
        layer,
        tmp_path / "m.keras",
        tmp_path / "out",
        data=tiny_data,
        extras={**inputs, "units": tmp_path / "rec" / f"{layer}.npz"},
        dataset="d",
        model_name="tiny",
    )
    result, files = get("dictionary").execute(job, TINY)
    arrays = np.load(tmp_path / "out" / f"{layer}.npz")
    assert arrays["features"].shape == (3, 6)  # three directions over conv2's six channels
    # as many maximizing and minimizing images per feature as the units get
    assert arrays["max_images"].shape == arrays["min_images"].shape == (3, 2, 12, 12, 1)
    assert np.all((arrays["two_afc"] >= 0) & (arrays["two_afc"] <= 1))
    n = result.numbers
    assert n["features"] == 3 and 0 < n["explained"] <= 1 and n["references"] == 2
    assert n["difference"][0] == pytest.approx(n["two_afc"][0] - n["unit_two_afc"][0])
    # against the live units only: those the recommended study found active
    rec = np.load(tmp_path / "rec" / f"{layer}.npz")
    assert n["units"] == int((rec["active_share"] >= 0.01).sum())
    assert n["unit_two_afc"][0] == pytest.approx(
        np.mean(rec["two_afc"][rec["active_share"] >= 0.01])
    )
    assert n["verdict"].startswith(f"At {layer}, ")
    with open(tmp_path / "out" / f"{layer}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["feature"]) for r in rows] == [0, 1, 2]
    assert all(len(r["top_units"].split()) == 3 for r in rows)
    caption = result.figures[0].caption
    assert "recommended recipe ('none'" in caption and "2 references per side each" in caption
    assert {f.name for f in files} >= {f"{layer}.png", f"{layer}.npz", f"{layer}.csv"}

    study = get("dictionary")
    assert study.shard_needs(TINY) == ["recommended", "prior"]
    alone = Job(
        layer,
        tmp_path / "m.keras",
        tmp_path / "split",
        data=tiny_data,
        extras={"recommended": chosen},
    )
    shard = study.execute_shard(alone, TINY, "features")
    assert shard == tmp_path / "split" / "shards" / layer / "features.npz"
    split_job = dataclasses.replace(job, out_dir=tmp_path / "split", shards={"features": shard})
    split, split_files = study.execute(split_job, TINY)
    assert split.numbers == result.numbers
    assert [f.name for f in split_files] == [f.name for f in files]
    for a, b in zip(split_files, files, strict=True):
        if not a.name.endswith(".result.json"):  # the manifest names its folder
            assert a.read_bytes() == b.read_bytes(), a.name
    with pytest.raises(ValueError, match="not a shard of this job; its one shard is features"):
        study.execute_shard(alone, TINY, "units-0-3")

import json

import numpy as np
import pytest

from featviz.settings import validate_section
from featviz.studies.base import Job
from featviz.studies.redundancy import (
    STUDY,
    clusters,
    correlation_matrix,
    cosine_matrix,
    variant_architecture,
)

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"seeds": []}  # no retraining


def test_clusters_link_pairs_transitively():
    similar = np.zeros((6, 6), dtype=bool)
    for i, j in ((0, 3), (3, 5), (1, 2)):
        similar[i, j] = similar[j, i] = True
    assert clusters(similar) == [[0, 3, 5], [1, 2]]
    assert clusters(np.zeros((3, 3), dtype=bool)) == []


def test_similarities_on_known_kernels_and_responses():
    kernel = np.zeros((2, 2, 1, 3))
    kernel[..., 0] = [[[1.0], [2.0]], [[0.0], [1.0]]]
    kernel[..., 1] = 3 * kernel[..., 0]  # the same direction
    kernel[..., 2] = -kernel[..., 0]  # the opposite
    np.testing.assert_allclose(cosine_matrix(kernel)[0], [1.0, 1.0, -1.0])
    responses = np.array([[1.0, 2.0, 5.0, 0.0], [2.0, 4.0, 1.0, 0.0], [3.0, 6.0, 3.0, 0.0]])
    corr = correlation_matrix(responses)
    assert corr[0, 1] == pytest.approx(1.0) and corr[0, 3] == 0.0  # a constant unit: no correlation


def test_variants_and_what_is_retrained():
    entry = {"conv_filters": [32, 64, 128], "kernel_size": 5, "settings": {"filters": {}}}
    assert variant_architecture(entry, {"width": 0.25, "drop_conv": 0})["conv_filters"] == [
        8,
        16,
        32,
    ]
    cnn2 = variant_architecture(entry, {"width": 1.0, "drop_conv": 1})
    assert cnn2["conv_filters"] == [32, 64] and "settings" not in cnn2
    with pytest.raises(ValueError, match="dropping 3 of 3 conv layers leaves none"):
        variant_architecture(entry, {"width": 1.0, "drop_conv": 3})
    settings = validate_section("redundancy", {"seeds": [0, 1]})
    trained = STUDY.trains(settings, "cnn3", entry, train_seed=0)
    assert trained["metrics:full:0"] == ("cnn3", None, 0)  # the model itself
    assert trained["metrics:half:1"][0] == "cnn3.half.s1"
    assert trained["metrics:cnn2:0"][1]["conv_filters"] == [32, 64]
    assert len(trained) == 4 * 2
    assert STUDY.trains(settings, "mine", {"path": "m.keras"}, 0) == {}


def test_dead_and_duplicate_filters_and_the_accuracy_table(tmp_path, tiny_model, tiny_data):
    import keras

    model = keras.models.clone_model(tiny_model)
    model.set_weights(tiny_model.get_weights())
    conv = model.get_layer("conv1")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in conv.weights)
    kernel[..., 1] = 2 * kernel[..., 0]  # filter 1 duplicates filter 0
    bias[1] = 2 * bias[0]
    kernel[..., 3], bias[3] = 0.0, -1.0  # filter 3 never fires
    conv.set_weights([kernel, bias])
    model.save(tmp_path / "m.keras")
    extras = {}
    for variant, seed, accuracy, parameters in (
        ("full", 0, 0.9, 1000),
        ("full", 1, 0.8, 1000),
        ("half", 0, 0.7, 400),
        ("half", 1, 0.75, 400),
    ):
        path = tmp_path / f"{variant}{seed}.json"
        at_chance = (variant, seed) == ("half", 1)
        path.write_text(
            json.dumps(
                {"test_accuracy": accuracy, "parameters": parameters, "at_chance": at_chance}
            )
        )
        extras[f"metrics:{variant}:{seed}"] = path
    job = Job("filters", tmp_path / "m.keras", tmp_path / "out", data=tiny_data, extras=extras)
    result, _ = STUDY.execute(job, {"layers": ["conv1", "conv2"], "seeds": [0, 1]})
    conv1 = result.numbers["layers"][0]
    assert conv1["dead"] == 1 and conv1["units"] == 4
    assert conv1["redundant"] >= 1 and conv1["largest_cluster"] >= 2
    full, half = result.numbers["retrained"]
    assert (full["variant"], half["variant"]) == ("full", "half")
    assert full["mean"] == pytest.approx(0.85) and full["std"] == pytest.approx(
        np.std([0.9, 0.8], ddof=1)
    )
    summary = STUDY.summarize([result])["runs"][0]
    assert summary["full"]["variant"] == "full"
    assert (full["at_chance"], half["at_chance"]) == ([], [1])
    from featviz.report.templating import environment

    text = environment().get_template("sections/redundancy.md.j2").render(runs=[summary])
    assert "Seed 1 of half never left chance" in text

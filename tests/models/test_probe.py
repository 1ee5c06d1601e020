"""The probing helpers every study uses: layer lookup, logits, activations over a split."""

import keras
import numpy as np
import pytest

from featviz.models import probe


def test_activations_over_a_split_in_batches_equal_one_call(tiny_model):
    images = np.random.default_rng(0).uniform(size=(70, 12, 12, 1)).astype("float32")
    acts = probe.activations(tiny_model, images, ["conv2", "fc1"], batch_size=16)
    assert acts["conv2"].shape == (70, 6, 6, 6) and acts["fc1"].shape == (70, 8)
    whole = keras.Model(tiny_model.inputs[0], tiny_model.get_layer("fc1").output)(images)
    np.testing.assert_allclose(acts["fc1"], keras.ops.convert_to_numpy(whole), rtol=1e-5, atol=1e-6)


def test_unit_scores_reduce_inside_the_model_as_over_whole_maps(tiny_model):
    images = np.random.default_rng(1).uniform(size=(40, 12, 12, 1)).astype("float32")
    maps = probe.activations(tiny_model, images, ["conv2"])["conv2"]
    for reduce, over_maps in (("mean", maps.mean(axis=(1, 2))), ("max", maps.max(axis=(1, 2)))):
        scores = probe.unit_scores(tiny_model, "conv2", images, batch_size=16, reduce=reduce)
        np.testing.assert_allclose(scores, over_maps, rtol=1e-5, atol=1e-6, err_msg=reduce)
    dense = probe.unit_scores(tiny_model, "fc1", images, reduce="max")
    # a flat layer's scores are its outputs (in other batches, so to float32's rounding)
    np.testing.assert_allclose(
        dense, probe.activations(tiny_model, images, ["fc1"])["fc1"], rtol=1e-5, atol=1e-6
    )


def test_several_layers_scored_in_one_pass_give_each_layers_own_bits(tiny_model):
    """One pass for conv1, conv2, fc1 and the logits equals a pass per layer, bit for bit
    (the ablation ranks its units by them, and its choice must not depend on how)."""
    images = np.random.default_rng(2).uniform(size=(70, 12, 12, 1)).astype("float32")
    layers = ["conv2", "conv1", "fc2", "fc1"]
    for reduce in ("mean", "max"):
        together = probe.unit_scores_of(tiny_model, layers, images, batch_size=32, reduce=reduce)
        assert list(together) == layers
        for name in layers:
            alone = probe.unit_scores(tiny_model, name, images, batch_size=32, reduce=reduce)
            np.testing.assert_array_equal(together[name], alone, err_msg=f"{name} {reduce}")
    assert probe.unit_scores_of(tiny_model, [], images) == {}


def test_layer_lookup_and_logits(tiny_model, colour_model):
    assert probe.layer_table(tiny_model).logits == "fc2"
    assert probe.get_layer(tiny_model, "conv1").filters == 4
    with pytest.raises(ValueError, match=r"Unknown layer 'dropout'. Layers with activations"):
        probe.get_layer(colour_model, "dropout")


def test_units_on(tiny_model):
    grey = np.full((1, 12, 12, 1), 0.5, dtype="float32")
    peak = probe.activations(tiny_model, grey, ["conv1"])["conv1"].reshape(-1, 4).max(axis=0)
    assert probe.units_on(tiny_model, "conv1", grey) == [i for i in range(4) if peak[i] > 0]


def test_ranking_images_per_unit_in_batches(tiny_model):
    images = np.random.default_rng(3).uniform(size=(50, 12, 12, 1)).astype("float32")
    ranked = probe.rank_images(tiny_model, "conv2", images, [1, 4], k=3, batch_size=16)
    acts = probe.activations(tiny_model, images, ["conv2"])["conv2"][..., [1, 4]]
    means = acts.mean(axis=(1, 2)).T
    for u in range(2):
        order = np.argsort(-means[u], kind="stable")
        assert ranked["top"][u].tolist() == order[:3].tolist()
        assert ranked["bottom"][u].tolist() == order[::-1][:3].tolist()
        np.testing.assert_allclose(ranked["top_scores"][u], means[u, order[:3]], rtol=1e-5)
        i = ranked["top"][u, 0]
        y, x = ranked["top_positions"][u, 0]
        assert acts[i, y, x, u] == acts[i, ..., u].max()
    dense = probe.rank_images(tiny_model, "fc2", images, [0, 1, 2], k=2)
    assert dense["top"].shape == (3, 2) and not dense["top_positions"].any()
    with pytest.raises(ValueError, match="needs 200, got 50"):
        probe.rank_images(tiny_model, "fc2", images, [0], k=100)

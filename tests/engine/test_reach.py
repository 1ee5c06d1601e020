"""Reaching units that are off on the start image: starts with the data's contrast, the
pre-activation climbed while a unit is off, and redirected ReLU gradients."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained(tiny_data):
    """The tiny architecture trained briefly on the tiny data, then one conv2 unit shifted
    off on the grey start while some test images still activate it: the unit the seed's
    start leaves stuck, in a trained model."""
    import keras

    from featviz.data.prepare import load_prepared, to_model_input
    from featviz.engine import evaluate
    from featviz.engine.objectives import channel
    from featviz.engine.params import pixel
    from featviz.models.build import build_model
    from featviz.models.spec import Architecture

    data = load_prepared(tiny_data)
    x, y = to_model_input(data["x_train"]), data["y_train"]
    arch = Architecture(conv_filters=(4, 6), kernel_size=3, dense_units=(8,), dropout=0.0)
    model = build_model(arch, x.shape[1:], 3, seed=3)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    keras.utils.set_random_seed(0)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)

    test = to_model_input(data["x_test"])
    conv2 = model.get_layer("conv2")
    pre = keras.Model(model.inputs[0], conv2.input)
    grey = np.asarray(
        keras.ops.convert_to_numpy(
            pixel()
            .bind(x.shape[1:])
            .to_image(keras.ops.convert_to_tensor(pixel().bind(x.shape[1:]).init(1, 0)))
        )
    )

    def linear(images):
        z = conv2.convolution_op(pre(images), conv2.kernel) + conv2.bias
        return keras.ops.convert_to_numpy(z).reshape(len(images), -1, 6).max(axis=1)

    at_start, on_test = linear(grey)[0], linear(test).max(axis=0)
    unit = int(np.argmax(on_test - at_start))
    bias = keras.ops.convert_to_numpy(conv2.bias).copy()
    # off on the start by a margin, still on for the test images that drive it most
    bias[unit] -= at_start[unit] + 0.5 * (on_test[unit] - at_start[unit])
    conv2.bias.assign(bias)
    objective = channel("conv2", unit)
    assert evaluate(model, [objective], grey)[0] == 0.0
    best = float(max(evaluate(model, [objective] * len(test), test)))
    assert best > 0.0
    return model, objective, best


@pytest.mark.parametrize("relu_gradient", ["pre_activation", "redirected"])
def test_a_unit_off_on_the_start_image_is_reached(trained, relu_gradient):
    from featviz.engine import render

    model, objective, best = trained
    plain = render(model, [objective], steps=96, progress=False)
    assert plain.values[0] == 0.0  # the seed's way never moves
    reached = render(model, [objective], steps=96, progress=False, relu_gradient=relu_gradient)
    assert reached.traces[0, 0] == 0.0
    assert reached.values[0] > 0.0
    assert reached.values[0] >= best  # and beats the unit's best test image


@pytest.mark.parametrize("sliced", [True, False])
def test_pre_activation_reads_the_same_with_and_without_slicing(trained, sliced):
    from featviz.engine import render

    model, objective, _ = trained
    out = [
        render(
            model,
            [objective],
            steps=24,
            progress=False,
            relu_gradient="pre_activation",
            slice_channels=s,
        ).values
        for s in (sliced, not sliced)
    ]
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4, atol=1e-6)


def test_redirected_copy_computes_the_same_values(tiny_model):
    from featviz.engine.slicing import stepping_clone

    x = np.random.default_rng(0).uniform(size=(4, 12, 12, 1)).astype(np.float32)
    copy = stepping_clone(tiny_model, redirected=True)
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(tiny_model(x)), rtol=1e-6)


def test_relu_gradient_must_be_known(tiny_model):
    from featviz.engine import channel, render

    with pytest.raises(ValueError, match="relu_gradient 'leaky'.*plain, pre_activation"):
        render(tiny_model, [channel("conv1", 0)], steps=2, relu_gradient="leaky")


def test_starts_are_seeded_independent_of_the_count_and_inside_the_margin():
    from featviz.engine.starts import MARGIN, Start

    pool = np.random.default_rng(1).uniform(size=(20, 6, 6, 1)).astype(np.float32)
    for kind in ("noise", "natural"):
        start = Start(kind, pool)
        many, few = start.images(8, 3, (6, 6, 1)), start.images(3, 3, (6, 6, 1))
        np.testing.assert_array_equal(many[:3], few)
        assert not np.array_equal(start.images(3, 4, (6, 6, 1)), few)
        assert many.min() >= MARGIN - 1e-6 and many.max() <= 1 - MARGIN + 1e-6
    assert Start().images(3, 0, (6, 6, 1)) is None
    natural = Start("natural", pool).images(5, 0, (6, 6, 1))
    squeezed = (pool - 0) * (1 - 2 * MARGIN) + MARGIN
    assert all(any(np.allclose(img, p) for p in squeezed) for img in natural)


def test_a_start_says_what_it_needs():
    from featviz.engine.starts import Start

    with pytest.raises(ValueError, match="'natural' start needs real images"):
        Start("natural")
    with pytest.raises(ValueError, match="Unknown start 'blue'"):
        Start("blue")
    pool = np.zeros((2, 5, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"shape \(5, 5, 3\).*takes \(6, 6, 1\)"):
        Start("noise", pool).images(1, 0, (6, 6, 1))


def test_natural_start_begins_at_the_training_images(tiny_model):
    from featviz.engine import channel, render
    from featviz.engine.starts import Start

    pool = np.random.default_rng(2).uniform(size=(5, 12, 12, 1)).astype(np.float32)
    start = Start("natural", pool)
    result = render(tiny_model, [channel("conv1", 0)] * 2, steps=1, progress=False, start=start)
    first = start.images(2, 0, (12, 12, 1))
    # one Adam step of 0.05 in logit space moves a pixel by at most ~0.0125
    assert np.abs(result.images - first).max() < 0.02


def _accentuated(trained, tiny_data, regularizer):
    """The trained unit rendered from its best training images twice (2 restarts): without
    a penalty and with ``regularizer``; and the start images themselves."""
    from featviz.data.prepare import load_prepared, to_model_input
    from featviz.engine import render
    from featviz.engine.starts import Start

    model, objective, _ = trained
    pool = to_model_input(load_prepared(tiny_data)["x_train"])
    start = Start("exemplars", pool)
    kwargs = {"steps": 48, "progress": False, "start": start, "relu_gradient": "pre_activation"}
    free = render(model, [objective] * 2, **kwargs)
    held = render(model, [objective] * 2, regularizers=[regularizer], **kwargs)
    first = start.images(
        2, 0, pool.shape[1:], picks=np.argsort(-_scores(model, objective, pool))[:2]
    )
    assert (held.values > held.traces[:, 0]).all()
    return first, free, held


def test_anchor_keeps_an_exemplar_close_while_the_unit_rises(trained, tiny_data):
    """Feature accentuation: from the unit's own best training images, the anchored image
    raises the unit above its start and stays nearer that start than an unanchored one."""
    from featviz.engine.regularizers import anchor

    first, free, held = _accentuated(trained, tiny_data, anchor(50.0))
    moved = [np.abs(r.images - first).mean() for r in (free, held)]
    assert moved[1] < 0.5 * moved[0]


def _scores(model, objective, pool):
    from featviz.engine.render import pool_scores

    return pool_scores(model, [objective], pool)[0]


def test_exemplar_starts_rank_the_pool_per_objective(tiny_model):
    from featviz.engine import channel
    from featviz.engine.render import pool_scores
    from featviz.engine.starts import exemplar_picks

    pool = np.random.default_rng(3).uniform(size=(30, 12, 12, 1)).astype(np.float32)
    up, down = channel("conv1", 0), -channel("conv1", 0)
    scores = pool_scores(tiny_model, [up, down], pool)
    np.testing.assert_allclose(scores[0], -scores[1])
    picks = exemplar_picks(scores, np.array([0, 0, 1]))
    order = np.argsort(-scores[0], kind="stable")
    assert picks.tolist() == [order[0], order[1], order[-1]]  # best, next, and the least
    with pytest.raises(ValueError, match="needs 31 pool images per objective"):
        exemplar_picks(scores, np.zeros(31, dtype=np.int64))


def test_a_dead_unit_has_no_exemplar_and_keeps_the_grey_start(tiny_model):
    """An objective that scores every pool image alike (a unit never active) starts from
    the parameterization's own start, not from whichever image the ranking lists first."""
    from featviz.engine import channel, render
    from featviz.engine.starts import Start, exemplar_picks

    scores = np.array([[0.0, 0.0, 0.0], [0.1, 0.3, 0.2]])
    assert exemplar_picks(scores, np.array([0, 1, 1])).tolist() == [-1, 1, 2]
    pool = np.random.default_rng(5).uniform(size=(6, 12, 12, 1)).astype(np.float32)
    dead = 0.0 * channel("conv1", 0)  # zero on every image
    kwargs = {"steps": 1, "progress": False}
    grey = render(tiny_model, [dead], **kwargs)
    started = render(tiny_model, [dead], start=Start("exemplars", pool), **kwargs)
    np.testing.assert_array_equal(started.images, grey.images)


def test_feature_anchor_keeps_what_the_layer_below_sees(trained, tiny_data):
    """Feature accentuation in the model's feature space: the image raises the unit, and the
    layer below its objective sees it nearer the exemplar than without the penalty."""
    from featviz.engine import feature_anchor
    from featviz.models.probe import activations, layer_table

    model, objective, _ = trained
    below = layer_table(model).below(objective.layers[0])
    assert below is not None
    first, free, held = _accentuated(trained, tiny_data, feature_anchor(50.0))
    seen = [activations(model, x, [below])[below] for x in (first, free.images, held.images)]
    moved = [np.square(s - seen[0]).mean() for s in seen[1:]]
    assert moved[1] < 0.5 * moved[0]


def test_the_layer_below_is_the_nearest_with_weights():
    from featviz.models.layers import LayerTable
    from featviz.models.spec import Architecture

    arch = Architecture(conv_filters=(4, 6, 8), kernel_size=3, dense_units=(8,), dropout=0.0)
    table = LayerTable.from_architecture(arch, (28, 28, 1), 10)
    assert table.below("conv1") is None
    assert table.below("conv2") == "conv1"
    assert table.below("fc1") == "conv3"
    assert table.below("fc2") == "fc1"


def test_a_pool_is_read_once_per_model_and_readout(tiny_model, monkeypatch):
    """The ablation renders the same units from the same pool under recipe after recipe: the
    second call gives the first one's scores without a pass through the model, and other
    objectives on a layer already read are weighed from what that pass kept."""
    import importlib

    from featviz.engine import channel

    render = importlib.import_module("featviz.engine.render")  # the module, not the function
    passes = []
    read = render._pool_features
    monkeypatch.setattr(render, "_pool_features", lambda *a: passes.append(a[1]) or read(*a))
    pool = np.random.default_rng(4).uniform(size=(20, 12, 12, 1)).astype(np.float32)
    objectives = [channel("conv2", 1), channel("conv2", 4)]
    first = render.pool_scores(tiny_model, objectives, pool)
    first[:] = 0  # what a caller does with its copy is its own
    again = render.pool_scores(tiny_model, list(objectives), pool)
    assert len(passes) == 1 and again.any()
    minimized = render.pool_scores(tiny_model, [-channel("conv2", 3)], pool)
    assert len(passes) == 1
    deeper = render.pool_scores(tiny_model, [channel("conv1", 0), channel("conv2", 3)], pool)
    assert [[key[0] for key in p] for p in passes] == [["conv2"], ["conv1"]]  # conv1 was new
    np.testing.assert_array_equal(deeper[1], -minimized[0])
    other = render.pool_scores(tiny_model, objectives, pool.copy())  # another pool: read
    assert len(passes) == 3
    np.testing.assert_array_equal(other, again)

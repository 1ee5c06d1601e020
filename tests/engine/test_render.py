import keras
import numpy as np
import pytest

from featviz.engine import channel, class_logit, direction, render, unit
from featviz.engine.render import RenderError
from featviz.engine.transforms import jitter


def test_objective_rises(tiny_model):
    result = render(
        tiny_model,
        [channel("conv1", i) for i in range(4)],
        steps=30,
        learning_rate=0.1,
        seed=0,
        progress=False,
    )
    assert result.images.shape == (4, 12, 12, 1)
    start, end = result.traces[:, 0], result.traces[:, -1]
    alive = start > 0  # a ReLU channel that is zero everywhere has no gradient to follow
    assert alive.sum() >= 3
    assert (end[alive] > 1.5 * start[alive]).all()
    assert (end >= start).all()
    assert result.trace_steps[0] == 0 and result.trace_steps[-1] == 30
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0


def test_mixed_layers_and_batches(tiny_model):
    objectives = [
        channel("conv2", 1),
        unit("fc1", 3),
        class_logit("fc2", 2),
        0.5 * channel("conv1", 0) + 0.5 * channel("conv2", 5),
    ]
    full = render(tiny_model, objectives, steps=8, seed=1, batch_size=4, progress=False)
    chunked = render(tiny_model, objectives, steps=8, seed=1, batch_size=3, progress=False)
    assert full.names[3] == "0.5·conv1:0 + 0.5·conv2:5"
    np.testing.assert_allclose(full.images, chunked.images, atol=1e-5)


def test_same_seed_same_images_bitwise(colour_model):
    objectives = [channel("conv1", i) for i in range(5)]
    a = render(colour_model, objectives, steps=10, seed=4, progress=False)
    b = render(colour_model, objectives, steps=10, seed=4, progress=False)
    c = render(colour_model, objectives, steps=10, seed=5, progress=False)
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_a_call_rendered_in_parts_gives_the_whole_calls_images_bit_for_bit(tiny_model):
    objectives = [channel("conv1", i % 4) for i in range(7)]
    kw = dict(steps=6, seed=2, batch_size=3, progress=False)
    whole = render(tiny_model, objectives, **kw)
    parts = [render(tiny_model, objectives, batches=slice(b, b + 1), **kw) for b in range(3)]
    assert [len(p.images) for p in parts] == [3, 3, 1]
    assert [n for p in parts for n in p.names] == whole.names
    assert np.array_equal(np.concatenate([p.images for p in parts]), whole.images)
    assert np.array_equal(np.concatenate([p.values for p in parts]), whole.values)
    with pytest.raises(ValueError, match=r"selects none of the 3 batches of 3 objectives"):
        render(tiny_model, objectives, batches=slice(3, 5), **kw)


def test_linear_unit_finds_its_optimum():
    """For a linear unit w·x over [0, 1] pixels, the optimum is x = 1 where w > 0, else 0."""
    inputs = keras.Input((4, 4, 1))
    out = keras.layers.Dense(1, name="lin")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out)
    w = np.random.default_rng(0).normal(size=(16, 1)).astype("float32")
    model.get_layer("lin").set_weights([w, np.zeros(1, "float32")])
    result = render(model, [unit("lin", 0)], steps=300, learning_rate=0.1, progress=False)
    expected = (w[:, 0] > 0).astype(float)
    np.testing.assert_allclose(result.images.reshape(-1), expected, atol=0.05)


def test_unknown_layer_lists_valid_names(tiny_model):
    with pytest.raises(
        ValueError,
        match=r"unknown layer 'conv4'. Layers with activations: "
        r"conv1, pool1, conv2, pool2, fc1, fc2",
    ):
        render(tiny_model, [channel("conv4", 0)], steps=1, progress=False)


def test_index_out_of_range(tiny_model):
    with pytest.raises(
        ValueError,
        match=r"index 6 out of range for layer 'conv2', which has 6 "
        r"channels \(valid: 0..5\)",
    ):
        render(tiny_model, [channel("conv2", 6)], steps=1, progress=False)
    with pytest.raises(ValueError, match="has 2 components, but the layer has 4 channels"):
        render(tiny_model, [direction("conv1", [1.0, 2.0])], steps=1, progress=False)


def test_nan_stops_with_objective_and_step():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 1, name="conv1")(inputs)
    # log of a negative number: NaN as soon as the activation is negative
    bad = keras.layers.Lambda(lambda t: keras.ops.log(t - 10.0), name="bad")(x)
    model = keras.Model(inputs, bad)
    with pytest.raises(RenderError, match=r"non-finite by step 4 .* for: bad:0"):
        render(model, [channel("bad", 0)], steps=8, trace_every=4, progress=False)


def test_neuron_probability_and_diversity_objectives(tiny_model):
    from featviz.engine import class_probability, diversity, neuron

    result = render(
        tiny_model,
        [neuron("conv1", 1, 3, 4), class_probability("fc2", 2)],
        steps=40,
        learning_rate=0.1,
        progress=False,
    )
    assert (result.traces[:, -1] >= result.traces[:, 0]).all()
    assert 0.0 <= result.values[1] <= 1.0 and result.values[1] > result.traces[1, 0]
    with pytest.raises(
        ValueError, match=r"position \(12, 0\) outside layer 'conv1', whose maps are 12x12"
    ):
        render(tiny_model, [neuron("conv1", 0, 12, 0)], steps=1, progress=False)
    # restarts of one objective with a diversity term drift apart more than without
    obj = channel("conv2", 1)
    plain = render(tiny_model, [obj] * 3, steps=40, learning_rate=0.1, seed=2, progress=False)
    diverse = render(
        tiny_model,
        [obj + 5.0 * diversity("conv2")] * 3,
        steps=40,
        learning_rate=0.1,
        seed=2,
        progress=False,
    )

    probe = keras.Model(tiny_model.inputs[0], tiny_model.get_layer("conv2").output)

    def gram_similarity(images):
        acts = keras.ops.convert_to_numpy(probe(images)).reshape(len(images), -1, 6)
        grams = np.einsum("bpc,bpd->bcd", acts, acts).reshape(len(images), -1)
        grams /= np.linalg.norm(grams, axis=1, keepdims=True)
        sim = grams @ grams.T
        return sim[np.triu_indices(len(images), 1)].mean()

    assert gram_similarity(diverse.images) < gram_similarity(plain.images)


def test_transforms_and_regularizers_deterministic_and_rising(colour_model):
    from featviz.engine import default_set, fourier, preset

    objectives = [channel("conv1", i) for i in range(5)]
    kwargs = dict(
        param=fourier(decorrelate=True),
        transforms=preset("colour32"),
        regularizers=default_set(),
        steps=24,
        learning_rate=0.05,
        seed=1,
        progress=False,
    )
    a = render(colour_model, objectives, **kwargs)
    b = render(colour_model, objectives, **kwargs)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.traces, b.traces)
    alive = a.traces[:, 0] > 0
    assert (a.values[alive] > a.traces[alive, 0]).all()
    assert set(a.activations) == {"conv1"} and a.activations["conv1"].shape == (5, 5)


def test_variants_render_as_if_each_ran_alone(tiny_model):
    """Settings that share a parameterization run in one batch, each image with its own.

    Image k of a mixed batch equals image k of a batch rendered all with variant k:
    the same start image (one draw for the batch), the same steps.
    """
    from featviz.engine import Variant, gaussian_blur, l2, preset

    objective = channel("conv2", 1)
    variants = [
        Variant(),
        Variant(regularizers=(l2(0.5),)),
        Variant(regularizers=(gaussian_blur(1.0, every=2),)),
        Variant(transforms=preset("grey28")),
    ]
    kwargs = dict(steps=24, learning_rate=0.1, seed=3, progress=False)
    mixed = render(
        tiny_model, [objective] * 4, variants=variants, variant_of=[0, 1, 2, 3], **kwargs
    )
    for k, variant in enumerate(variants):
        alone = render(
            tiny_model, [objective] * 4, variants=[variant], variant_of=[0] * 4, **kwargs
        )
        np.testing.assert_allclose(mixed.images[k], alone.images[k], atol=1e-5)
    plain = render(tiny_model, [objective] * 4, **kwargs)
    np.testing.assert_array_equal(
        plain.images,
        render(
            tiny_model, [objective] * 4, variants=variants[:1], variant_of=[0] * 4, **kwargs
        ).images,
    )
    assert np.abs(mixed.images[1] - 0.5).mean() < np.abs(mixed.images[0] - 0.5).mean()
    with pytest.raises(ValueError, match="variant_of must give each of the 2 objectives"):
        render(tiny_model, [objective] * 2, variants=variants, variant_of=[0, 5], **kwargs)
    with pytest.raises(ValueError, match="inside the variants, not beside them"):
        render(
            tiny_model,
            [objective],
            regularizers=[l2(0.5)],
            variants=variants[:1],
            variant_of=[0],
            **kwargs,
        )


def test_a_variants_transform_penalty_and_edit_see_only_its_images(tiny_model):
    """In a mixed batch each variant's parts are computed for its own images, not for the
    whole batch and then discarded: what made the ablation's steps cost the sum of all its
    settings' parts. Each part records the batch it is given (when the step is traced)."""
    from featviz.engine import Variant, jitter
    from featviz.engine.regularizers import Regularizer
    from featviz.engine.transforms import Transform

    seen = {"transform": [], "penalty": [], "edit": []}

    def probe(part, fn):
        def record(x, *rest):
            seen[part].append(int(x.shape[0]))
            return fn(x, *rest)

        return record

    shift = jitter(1)
    variants = [
        Variant(),
        Variant(transforms=Transform("probe", probe("transform", shift.fn))),
        Variant(regularizers=(Regularizer("sq", 0.5, probe("penalty", lambda x: x[:, 0, 0, 0])),)),
        Variant(regularizers=(Regularizer("keep", every=2, edit=probe("edit", lambda x, g: x)),)),
    ]
    objective = channel("conv2", 1)
    result = render(
        tiny_model,
        [objective] * 8,
        variants=variants,
        variant_of=[0, 1, 2, 3, 0, 1, 1, 2],
        steps=4,
        seed=3,
        progress=False,
    )
    assert set(seen["transform"]) == {3} and set(seen["penalty"]) == {2}
    assert set(seen["edit"]) == {1}
    assert np.isfinite(result.images).all()


def test_evaluate_gives_the_render_loops_values(tiny_model):
    from featviz.engine import evaluate

    objectives = [channel("conv2", 0), class_logit("fc2", 2), unit("fc1", 3)]
    result = render(tiny_model, objectives, steps=10, progress=False)
    np.testing.assert_allclose(
        evaluate(tiny_model, objectives, result.images), result.values, rtol=1e-4, atol=1e-5
    )


def test_each_objective_stops_at_its_plateau_and_records_its_steps(tiny_model):
    from featviz.plateau import Plateau, plateau_step

    until = Plateau(window=40, tolerance=0.01, every=10)
    objectives = [channel("conv1", i) for i in range(4)] + [unit("fc1", 3)]
    # random transforms too: an image's draws must not change when others leave its batch
    moves = jitter(1)
    result = render(
        tiny_model,
        objectives,
        transforms=moves,
        steps=3000,
        until=until,
        learning_rate=0.1,
        progress=False,
    )
    assert ((result.stopped > 0) & (result.stopped < 3000)).all()
    assert len(set(result.stopped.tolist())) > 1  # not all at the slowest one's step
    for i, stopped in enumerate(result.stopped):
        ran = result.trace_steps <= stopped
        trace = result.traces[i]
        assert np.isfinite(trace[ran]).all() and np.isnan(trace[~ran]).all()
        assert result.values[i] == trace[ran][-1]
        # it had plateaued by the criterion on what was recorded, and not a record before
        seen = result.trace_steps[ran]
        assert plateau_step(seen, trace[ran], window=40, tolerance=0.01) is not None
        assert not until.reached(seen[:-1], trace[ran][None, :-1])
        # its image is the one a fixed run of that many steps makes
        fixed = render(
            tiny_model,
            objectives,
            transforms=moves,
            steps=int(stopped),
            trace_every=10,
            learning_rate=0.1,
            progress=False,
        )
        np.testing.assert_allclose(fixed.images[i], result.images[i], rtol=0, atol=1e-6)
        np.testing.assert_allclose(fixed.values[i], result.values[i], rtol=1e-5)


def test_objectives_tied_by_diversity_stop_together(tiny_model):
    from featviz.engine.objectives import diversity
    from featviz.plateau import Plateau

    objectives = [channel("conv1", 0) - 0.1 * diversity("conv1")] * 3
    result = render(
        tiny_model,
        objectives,
        steps=3000,
        until=Plateau(window=40, tolerance=0.01, every=10),
        learning_rate=0.1,
        progress=False,
    )
    assert len(set(result.stopped.tolist())) == 1 and result.stopped[0] < 3000


def test_an_objective_still_rising_runs_to_the_ceiling(tiny_model):
    from featviz.plateau import Plateau, plateau_step

    result = render(
        tiny_model,
        [channel("conv1", i) for i in range(4)],
        steps=40,
        until=Plateau(window=30, tolerance=0.0, every=10),
        learning_rate=0.1,
        progress=False,
    )
    flat = [plateau_step(result.trace_steps, t, window=30, tolerance=0.0) for t in result.traces]
    rising = [i for i, step in enumerate(flat) if step is None]
    assert rising and (result.stopped[rising] == 40).all()
    assert np.isfinite(result.traces[rising]).all()
    # one unit of this net never moves (a flat trace): it stops at the first check it can
    assert [int(result.stopped[i]) for i in range(4) if i not in rising] == [30]

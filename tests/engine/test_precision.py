"""Steps in bfloat16: a copy of the model under Keras' mixed_bfloat16 policy climbs, while the
values recorded (and so the plateau and the result) are the float32 model's."""

from __future__ import annotations

import numpy as np
import pytest

OBJECTIVES = {
    "conv2": [("conv2", i) for i in range(6)],  # one channel per image: sliced
    "fc1": [("fc1", i) for i in range(8)],  # one unit per image: sliced
    "mixed": [("conv1", 0), ("conv2", 3), ("fc1", 5), ("fc2", 1)],  # whole layers
}


def _objectives(name):
    from featviz.engine import channel

    return [channel(layer, i) for layer, i in OBJECTIVES[name]]


def test_the_copy_computes_in_bfloat16_with_the_same_weights(tiny_model):
    from featviz.engine.slicing import stepping_clone

    assert stepping_clone(tiny_model) is None  # plain float32 steps climb the model itself
    copy = stepping_clone(tiny_model, precision="bfloat16")
    assert {layer.compute_dtype for layer in copy.layers if layer.weights} == {"bfloat16"}
    for ours, theirs in zip(copy.get_weights(), tiny_model.get_weights(), strict=True):
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(0).uniform(size=(4, 12, 12, 1)).astype(np.float32)
    low, full = np.asarray(copy(x), np.float32), np.asarray(tiny_model(x))
    assert not np.array_equal(low, full)
    np.testing.assert_allclose(low, full, rtol=0.05, atol=0.02)


@pytest.mark.parametrize("relu_gradient", ["plain", "pre_activation", "redirected"])
@pytest.mark.parametrize("batch", list(OBJECTIVES))
def test_bfloat16_steps_repeat_bitwise_and_climb_as_float32_does(tiny_model, batch, relu_gradient):
    from featviz.engine import evaluate, render

    objectives = _objectives(batch)

    def run(precision):
        return render(
            tiny_model,
            objectives,
            steps=48,
            progress=False,
            precision=precision,
            relu_gradient=relu_gradient,
        )

    low, again, full = run("bfloat16"), run("bfloat16"), run("float32")
    np.testing.assert_array_equal(low.images, again.images)
    assert not np.array_equal(low.images, full.images)  # the steps did run in bfloat16
    # the values recorded are the float32 model's on the images
    assert low.values.dtype == np.float32
    np.testing.assert_allclose(
        low.values, evaluate(tiny_model, objectives, low.images), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(low.traces[:, 0], full.traces[:, 0])  # the same start
    # and it climbs as high as float32: each image may take its own path (a unit turning on
    # a step earlier or later), the batch ends no lower
    assert low.values.mean() >= 0.97 * full.values.mean()


def test_a_precision_must_be_known(tiny_model):
    from featviz.engine import channel, render

    with pytest.raises(ValueError, match="precision 'float16': expected one of float32, bfloat16"):
        render(tiny_model, [channel("conv1", 0)], steps=2, precision="float16")


def test_a_recipe_sets_the_precision_and_its_caption_says_so(tiny_model):
    from featviz.engine import recipe, render
    from featviz.settings import SettingsError

    objectives = _objectives("conv2")
    settings = {"start": "grey", "precision": "bfloat16"}
    result, how = recipe.render_with(tiny_model, objectives, settings, steps=8, progress=False)
    assert how.endswith("steps in bfloat16")
    direct = render(
        tiny_model,
        objectives,
        steps=8,
        progress=False,
        precision="bfloat16",
        relu_gradient="pre_activation",  # the recipe's default
    )
    np.testing.assert_array_equal(result.images, direct.images)
    _, how = recipe.render_with(tiny_model, objectives, {"start": "grey"}, steps=2, progress=False)
    assert "bfloat16" not in how and "float32" not in how
    with pytest.raises(SettingsError, match="precision"):
        recipe.render_with(tiny_model, objectives, {"precision": "half"}, steps=2)

"""Max pooling at a steady cost: the same values and gradients as TensorFlow's, and renders
that climb through it give the same images bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from featviz.engine import backend, render, unit
from featviz.engine.slicing import FirstMaxPooling2D, stepping_clone


def _tied(shape, seed: int, dtype=tf.float32) -> tf.Tensor:
    """Values on a coarse grid, with a flat block: windows with two, three and four maxima."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape) * 2) / 2
    x[:, :4, :4] = 1.5
    return tf.constant(x.astype(np.float32), dtype=dtype)


def _pooled_and_gradient(pool, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = pool(x)
        # a different weight for every output, so a gradient sent to the wrong place shows
        weights = tf.reshape(tf.range(1, tf.size(y) + 1, dtype=y.dtype), tf.shape(y))
        total = tf.reduce_sum(tf.cast(y * weights, tf.float32))
    return y.numpy(), tape.gradient(total, x).numpy()


@pytest.mark.parametrize(
    ("shape", "size", "padding"),
    [
        ((3, 8, 8, 5), 2, "same"),
        ((3, 7, 9, 5), 2, "same"),  # odd: the last row and column pad
        ((3, 7, 9, 5), 2, "valid"),  # odd: the last row and column are dropped
        ((2, 7, 8, 4), 3, "same"),  # padded on both sides
        ((2, 10, 7, 4), (2, 3), "valid"),
    ],
)
@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_max_pool_gives_tensorflows_values_and_gradients_ties_included(shape, size, padding, dtype):
    size = (size, size) if isinstance(size, int) else size
    x = _tied(shape, seed=sum(shape), dtype=dtype)

    got = _pooled_and_gradient(lambda t: backend.max_pool(t, size, padding), x)
    want = _pooled_and_gradient(lambda t: tf.nn.max_pool2d(t, size, size, padding.upper()), x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert np.count_nonzero(got[1]) == np.prod(got[0].shape)  # one place per window


def test_the_steady_copy_pools_by_first_maximum_and_keeps_the_weights(tiny_model):
    copy = stepping_clone(tiny_model, steady_pooling=True)
    pools = [layer for layer in copy.layers if "pool" in layer.name]
    assert len(pools) == 2 and all(isinstance(layer, FirstMaxPooling2D) for layer in pools)
    for a, b in zip(copy.get_weights(), tiny_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert stepping_clone(tiny_model) is None  # a short render climbs the model itself


def test_a_long_render_through_the_steady_pooling_gives_the_same_images(tiny_model, monkeypatch):
    objectives = [unit("fc1", i) for i in range(8)]  # through both poolings
    steps = backend.ROUTED_FROM_STEPS
    steady = render(tiny_model, objectives, steps=steps, batch_size=8, progress=False)
    monkeypatch.setattr(backend, "ROUTED_FROM_STEPS", steps + 1)  # TensorFlow's gradient
    plain = render(tiny_model, objectives, steps=steps, batch_size=8, progress=False)
    np.testing.assert_array_equal(steady.images, plain.images)
    np.testing.assert_array_equal(steady.values, plain.values)

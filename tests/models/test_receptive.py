"""Receptive fields from kernels, strides and padding, checked against gradients."""

import keras
import numpy as np
import pytest

from featviz.models.receptive import Field, receptive_fields


def chain():
    inputs = keras.Input((12, 12, 1), name="image")
    x = keras.layers.Conv2D(2, 3, padding="same", name="a")(inputs)
    x = keras.layers.MaxPooling2D(2, padding="same", name="p")(x)
    x = keras.layers.Conv2D(2, 3, padding="same", name="b")(x)
    x = keras.layers.Conv2D(2, 3, strides=2, padding="valid", name="c")(x)
    return keras.Model(inputs, x)


def test_the_recurrence_on_a_known_net():
    fields = receptive_fields(chain())
    assert fields["a"] == Field(3, 1, 0.0)
    assert fields["p"] == Field(4, 2, 0.5)
    assert fields["b"] == Field(8, 2, 0.5)
    assert fields["c"] == Field(12, 4, 2.5)
    assert fields["b"].window(0, 0, 12, 12) == (0, 0, 5, 5)  # clipped at the border
    assert fields["b"].window(3, 2, 12, 12) == (3, 1, 11, 9)


@pytest.mark.parametrize("layer, y, x", [("a", 5, 7), ("p", 2, 4), ("b", 3, 2), ("c", 1, 0)])
def test_the_window_holds_every_pixel_that_moves_the_unit(layer, y, x):
    model = chain()
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    images = np.random.default_rng(0).uniform(size=(1, 12, 12, 1)).astype("float32")
    import tensorflow as tf

    image = tf.Variable(images)
    with tf.GradientTape() as tape:
        out = probe(image)[0, y, x, 0]
    grad = np.abs(tape.gradient(out, image).numpy()[0, ..., 0])
    top, left, bottom, right = receptive_fields(model)[layer].window(y, x, 12, 12)
    outside = grad.copy()
    outside[top:bottom, left:right] = 0
    assert grad.max() > 0 and outside.max() == 0

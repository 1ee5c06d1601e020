"""Deconvnet, guided backpropagation and the gradient, on tiny networks with known answers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from featviz.engine.backproject import chain, project, relu_backward, switches, unpool


def net(*layers, shape=(8, 8, 1)):
    inputs = keras.Input(shape, name="image")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def conv(name, filters=3, activation="relu", seed=0):
    return keras.layers.Conv2D(
        filters,
        3,
        padding="same",
        activation=activation,
        name=name,
        kernel_initializer=keras.initializers.RandomNormal(seed=seed),
        bias_initializer=keras.initializers.RandomNormal(seed=seed + 1),
    )


def test_unpooling_puts_values_exactly_at_the_switches():
    x = np.array([[1.0, 5.0, 2.0], [3.0, 4.0, 0.0], [7.0, 7.0, 1.0]])[None, ..., None]
    winners = keras.ops.convert_to_numpy(switches(keras.ops.convert_to_tensor(x), 2))
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1  # ties: first wins
    np.testing.assert_array_equal(winners[0, ..., 0], expected)
    signal = np.array([[10.0, 20.0], [30.0, 40.0]])[None, ..., None]
    back = keras.ops.convert_to_numpy(unpool(keras.ops.convert_to_tensor(signal), winners, 2))
    np.testing.assert_array_equal(
        back[0, ..., 0], expected * [[10, 10, 20], [10, 10, 20], [30, 30, 40]]
    )


def test_deconvnet_of_a_conv1_unit_is_its_filter_scaled_by_the_activation():
    model = net(conv("conv1"))
    image = np.random.default_rng(0).uniform(size=(1, 8, 8, 1)).astype("float32")
    acts = keras.ops.convert_to_numpy(model(image))
    y, x, c = 4, 3, 1
    value = acts[0, y, x, c]
    assert value > 0  # an active unit, so the deconvnet passes it
    projected = project(model, "conv1", image, [c], [(y, x)], "deconvnet")[0]
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv1").kernel)[..., c]
    expected = np.zeros((8, 8, 1), dtype=np.float32)
    expected[y - 1 : y + 2, x - 1 : x + 2] = value * kernel
    np.testing.assert_allclose(projected, expected, atol=1e-6)


def test_guided_backprop_passes_no_negative_signal():
    rng = np.random.default_rng(1)
    signal = keras.ops.convert_to_tensor(rng.normal(size=(4, 5, 5, 3)).astype("float32"))
    open_ = keras.ops.convert_to_tensor((rng.uniform(size=(4, 5, 5, 3)) > 0.5).astype("float32"))
    for rule in ("guided", "deconvnet"):
        assert keras.ops.convert_to_numpy(relu_backward(signal, open_, rule)).min() >= 0
    guided = keras.ops.convert_to_numpy(relu_backward(signal, open_, "guided"))
    gradient = keras.ops.convert_to_numpy(relu_backward(signal, open_, "gradient"))
    np.testing.assert_array_equal(guided, np.maximum(gradient, 0))


def tape_gradient(model, image, y, x, c):
    variable = tf.Variable(image)
    with tf.GradientTape() as tape:
        out = model(variable)[0, y, x, c]
    return out.numpy(), tape.gradient(out, variable).numpy()[0]


def test_on_a_linear_net_every_rule_is_the_gradient():
    model = net(
        conv("conv1", activation=None),
        keras.layers.MaxPooling2D(2, name="pool1"),
        conv("conv2", activation=None, seed=4),
    )
    image = np.random.default_rng(2).uniform(size=(1, 8, 8, 1)).astype("float32")
    value, grad = tape_gradient(model, image, 2, 1, 0)
    for rule in ("gradient", "deconvnet", "guided"):
        got = project(model, "conv2", image, [0], [(2, 1)], rule)[0]
        np.testing.assert_allclose(got, value * grad, rtol=1e-4, atol=1e-6)


def test_the_gradient_rule_is_the_gradient_through_relus_and_pooling():
    model = net(conv("conv1"), keras.layers.MaxPooling2D(2, name="pool1"), conv("conv2", seed=4))
    image = np.random.default_rng(3).uniform(size=(1, 8, 8, 1)).astype("float32")
    acts = keras.ops.convert_to_numpy(model(image))[0]
    y, x, c = np.unravel_index(np.argmax(acts), acts.shape)
    value, grad = tape_gradient(model, image, y, x, c)
    got = project(model, "conv2", image, [c], [(y, x)], "gradient")[0]
    np.testing.assert_allclose(got, value * grad, rtol=1e-4, atol=1e-6)
    guided = project(model, "conv2", image, [c], [(y, x)], "guided")[0]
    deconv = project(model, "conv2", image, [c], [(y, x)], "deconvnet")[0]
    assert guided.shape == deconv.shape == (8, 8, 1)


def test_layers_a_projection_cannot_go_through_are_named():
    model = net(conv("conv1"), keras.layers.BatchNormalization(name="bn"), conv("conv2"))
    with pytest.raises(ValueError, match=r"Layer 'bn' \(BatchNormalization\): projections go"):
        chain(model, "conv2")
    with pytest.raises(ValueError, match="Unknown projection rule 'lrp'"):
        project(net(conv("conv1")), "conv1", np.zeros((1, 8, 8, 1)), [0], [(0, 0)], "lrp")

"""Build a Keras model from an :class:`~featviz.models.spec.Architecture`."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from featviz.models.spec import Architecture


def build_model(
    arch: Architecture, input_shape: Sequence[int], n_classes: int, seed: int
) -> keras.Model:
    """Build an uncompiled functional Keras model of ``arch``.

    Every initializer and the dropout layer get their own seed derived from
    ``seed``, so weights do not depend on global random state.
    """
    counter = iter(range(seed * 1000, seed * 1000 + 1000))
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, width in enumerate(arch.conv_filters, start=1):
        x = keras.layers.Conv2D(
            width,
            arch.kernel_size,
            padding="same",
            activation="relu",
            name=f"conv{i}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(counter)),
        )(x)
        if arch.batch_norm:
            # after the ReLU: normalized before the ReLU, the judge on the colour demo data
            # stayed at chance (loss ln 10) where this order trains
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.MaxPooling2D(arch.pool_size, padding="same", name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(arch.dense_units, start=1):
        x = keras.layers.Dense(
            units,
            activation="relu",
            name=f"fc{i}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(counter)),
        )(x)
    if arch.dropout > 0:
        x = keras.layers.Dropout(arch.dropout, seed=next(counter), name="dropout")(x)
    outputs = keras.layers.Dense(
        n_classes,
        name=arch.logits_layer,
        kernel_initializer=keras.initializers.GlorotUniform(seed=next(counter)),
    )(x)
    return keras.Model(inputs, outputs, name="cnn")

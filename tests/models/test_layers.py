"""A model's layer table is the same from its architecture, the live model and its file."""

import keras
import pytest

from featviz.models.build import build_model
from featviz.models.layers import Layer, LayerTable
from featviz.models.probe import layer_table, load_model
from featviz.models.spec import Architecture
from tests.conftest import residual_model


@pytest.mark.parametrize(
    "arch, shape",
    [
        (
            Architecture(conv_filters=(4, 6), kernel_size=3, dense_units=(8,), dropout=0.0),
            (12, 12, 1),
        ),
        (Architecture(), (32, 32, 3)),
        (Architecture(conv_filters=(5,), dense_units=(), dropout=0.3), (7, 9, 1)),
    ],
)
def test_architecture_model_and_file_agree(tmp_path, arch, shape):
    model = build_model(arch, shape, 3, seed=0)
    model.save(tmp_path / "m.keras")
    from_spec = LayerTable.from_architecture(arch, shape, 3)
    assert from_spec == layer_table(model) == LayerTable.from_keras_file(tmp_path / "m.keras")
    assert from_spec.input_shape == shape and from_spec.get(from_spec.logits).units == 3


def test_a_functional_model_with_batch_norm_and_a_residual_add(tmp_path):
    model = residual_model(12)
    model.save(tmp_path / "r.keras")
    table = LayerTable.from_keras_file(tmp_path / "r.keras")
    assert table == layer_table(model)
    assert table.logits == "scores" and table.input_shape == (12, 12, 1)
    assert table.conv_layers() == ["stem", "branch"]
    assert table.get("sum") == Layer("sum", "Add", 6, True)
    assert table.get("gap") == Layer("gap", "GlobalAveragePooling2D", 6, False)
    assert table.readable() == ["stem", "norm", "branch", "sum", "gap", "scores"]


def test_a_sequential_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, name="c"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, activation="softmax", name="out"),
        ]
    )
    table = layer_table(model)
    assert table.logits == "out" and table.get("c") == Layer("c", "Conv2D", 2, True)
    assert table.get("out").units == 5 and "flat" not in table.readable()


def test_unknown_layers_and_indices_are_named(tiny_model):
    table = layer_table(tiny_model)
    with pytest.raises(
        ValueError, match=r"Unknown layer 'conv9'. Layers with activations: conv1, pool1"
    ):
        table.get("conv9")
    with pytest.raises(ValueError, match=r"Unknown layer 'flatten'"):
        table.get("flatten")
    with pytest.raises(
        ValueError, match=r"Index 6 out of range for layer 'conv2', which has 6 units"
    ):
        table.check_units("conv2", [0, 6])


def test_a_file_that_is_not_a_model(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(ValueError, match=r"notes.keras: not a Keras model file"):
        LayerTable.from_keras_file(text)
    with pytest.raises(ValueError, match=r"notes.keras: not a Keras model file"):
        load_model(text)
    with pytest.raises(FileNotFoundError, match=r"absent.keras: no such model file"):
        load_model(tmp_path / "absent.keras")


def test_models_featviz_cannot_render_are_refused_with_a_reason():
    free = keras.Input((None, None, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(free))
    with pytest.raises(ValueError, match=r"input has shape \(None, None, 1\); featviz renders"):
        layer_table(keras.Model(free, keras.layers.Dense(3)(pooled)))
    fixed = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(fixed))
    two = {"a": keras.layers.Dense(3)(flat), "b": keras.layers.Dense(2)(flat)}
    with pytest.raises(ValueError, match=r"several outputs"):
        layer_table(keras.Model(fixed, two))
    with pytest.raises(ValueError, match=r"Unsupported Keras model config"):
        LayerTable.from_config({"class_name": "Functional", "config": {"layers": [{}]}})


def test_a_softmax_output_layer_has_its_width():
    fixed = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(fixed))
    scores = keras.layers.Dense(3, name="d")(flat)
    table = layer_table(keras.Model(fixed, keras.layers.Activation("softmax", name="sm")(scores)))
    assert table.logits == "sm" and table.get("sm") == Layer("sm", "Activation", 3, False)


@pytest.mark.parametrize("head", ["softmax", "sigmoid", "layer"])
def test_a_model_whose_output_is_squashed_is_refused_where_it_is_adopted(tmp_path, head):
    """Class objectives maximize logits; a model file ending in a softmax (or sigmoid) would
    have them read probabilities under a caption that says logits. The table still
    describes it; the workflow and import refuse it, naming the layer."""
    from featviz import workflow as plan

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    if head == "layer":
        x = keras.layers.Softmax(name="probabilities")(keras.layers.Dense(3, name="scores")(x))
        name, what = "probabilities", "softmax"
    else:
        x = keras.layers.Dense(3, activation=head, name="scores")(x)
        name, what = "scores", head
    model = keras.Model(inputs, x)
    assert layer_table(model).squashed == what
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=rf"output layer '{name}' applies a {what}; featviz"):
        plan._file_table(str(tmp_path / "m.keras"))

import json

import numpy as np
import pytest

from featviz.data.catalog import resolve
from featviz.data.prepare import prepare
from featviz.models.build import build_model
from featviz.models.layers import LayerTable
from featviz.models.spec import Architecture


def test_cnn3_matches_the_seed():
    arch = Architecture.from_config({})
    model = build_model(arch, (28, 28, 1), 10, seed=0)
    names = [layer.name for layer in model.layers]
    assert names == [
        "image",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "conv3",
        "pool3",
        "flatten",
        "fc1",
        "dropout",
        "fc2",
    ]
    assert model.get_layer("conv1").kernel.shape == (5, 5, 1, 32)
    assert model.get_layer("conv3").kernel.shape == (5, 5, 64, 128)
    assert model.get_layer("fc1").units == 1024
    assert model.get_layer("fc2").get_config()["activation"] == "linear"
    table = LayerTable.from_architecture(arch, (28, 28, 1), 10)
    assert table.readable() == ["conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "fc1", "fc2"]
    assert table.conv_layers() == ["conv1", "conv2", "conv3"] and table.logits == "fc2"


def test_depth_and_width_are_configuration():
    arch = Architecture.from_config({"conv_filters": [8, 16], "dense_units": [32], "dropout": 0.0})
    model = build_model(arch, (32, 32, 3), 10, seed=0)
    assert [la.name for la in model.layers if la.name.startswith(("conv", "fc"))] == [
        "conv1",
        "conv2",
        "fc1",
        "fc2",
    ]
    assert model.output.shape[-1] == 10


def test_weights_depend_only_on_seed():
    arch = Architecture(conv_filters=(4,), dense_units=(8,))
    a = build_model(arch, (12, 12, 1), 3, seed=1).get_weights()
    b = build_model(arch, (12, 12, 1), 3, seed=1).get_weights()
    c = build_model(arch, (12, 12, 1), 3, seed=2).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_bad_architecture():
    with pytest.raises(ValueError, match=r"Setting models.x.dropout: 1.5 is greater than"):
        Architecture.from_config({"dropout": 1.5}, "models.x")
    with pytest.raises(
        ValueError, match=r"Setting architecture.conv_filters: \[\] should be non-empty"
    ):
        Architecture.from_config({"conv_filters": []})


def test_a_few_training_steps(tmp_path):
    from featviz.models.train import train

    spec = resolve("sd", {"kind": "synthetic-digits"})
    prepare(spec, tmp_path / "d.npz", validation_fraction=0.1, n_train=256, n_test=64, seed=0)
    arch = Architecture(conv_filters=(4, 8), kernel_size=3, dense_units=(16,), dropout=0.0)
    settings = {"epochs": 2, "batch_size": 32, "learning_rate": 3e-3, "seed": 0, "max_train": 0}
    result = train(tmp_path / "d.npz", arch, tmp_path / "m", settings, label="tiny")
    metrics = result.numbers
    [curve] = result.figures
    assert curve.caption.startswith("Training of tiny: loss and accuracy per epoch")
    assert "2 epochs, batch 32, Adam lr 0.003, seed 0" in curve.caption
    history = json.loads((tmp_path / "m" / "history.json").read_text())
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    for name in ("model.keras", "metrics.json", "training_curve.png", "training_curve.pdf"):
        assert (tmp_path / "m" / name).stat().st_size > 0


def test_architecture_defaults_are_the_schemas():
    import dataclasses

    from featviz.settings import schema

    declared = schema()["$defs"]["architecture_fields"]["properties"]
    for field in dataclasses.fields(Architecture):
        default = declared[field.name]["default"]
        assert field.default == (tuple(default) if isinstance(default, list) else default)


def test_batch_norm_blocks(tmp_path):
    arch = Architecture.from_config(
        {"conv_filters": [4, 6], "kernel_size": 3, "dense_units": [8], "batch_norm": True}
    )
    model = build_model(arch, (12, 12, 1), 3, seed=0)
    assert [la.name for la in model.layers][1:4] == ["conv1", "bn1", "pool1"]
    assert model.get_layer("conv1").get_config()["activation"] == "relu"
    table = LayerTable.from_architecture(arch, (12, 12, 1), 3)
    model.save(tmp_path / "m.keras")
    assert table == LayerTable.from_keras_file(tmp_path / "m.keras")
    assert table.embedding_layer() == "fc1"

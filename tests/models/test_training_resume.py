"""Training stops cleanly, resumes where it was killed and keeps its best validation epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from featviz.data.catalog import resolve
from featviz.data.prepare import prepare
from featviz.errors import FeatvizError
from featviz.io import read_npz, write_npz
from featviz.models.checkpoint import STATE
from featviz.models.spec import Architecture
from featviz.models.train import train

ARCH = Architecture(conv_filters=(4, 6), kernel_size=3, dense_units=(8,), dropout=0.5)
SETTINGS = {"epochs": 3, "batch_size": 32, "learning_rate": 3e-3, "seed": 0, "max_train": 0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    spec = resolve("sd", {"kind": "synthetic-digits"})
    prepare(spec, path, validation_fraction=0.2, n_train=160, n_test=40, seed=0)
    return path


def weights(folder):
    import keras

    return keras.models.load_model(folder / "model.keras").get_weights()


class Killed(Exception):
    pass


def test_a_killed_training_resumes_to_the_same_weights(data, tmp_path, monkeypatch):
    import keras

    train(data, ARCH, tmp_path / "whole", SETTINGS)
    assert not (tmp_path / "whole" / "checkpoint").exists()

    # Die at the end of the second epoch, after its checkpoint was written.
    from featviz.models import checkpoint

    save = checkpoint.Checkpoint.save

    def save_then_die(self, model, progress):
        save(self, model, progress)
        if progress.epochs_done == 2:
            raise Killed

    monkeypatch.setattr(checkpoint.Checkpoint, "save", save_then_die)
    with pytest.raises(Killed):
        train(data, ARCH, tmp_path / "cut", SETTINGS)
    state = json.loads((tmp_path / "cut" / "checkpoint" / STATE).read_text())
    assert state["epochs_done"] == 2 and not (tmp_path / "cut" / "model.keras").exists()
    monkeypatch.setattr(checkpoint.Checkpoint, "save", save)

    keras.utils.set_random_seed(123)  # the global state must not matter
    result = train(data, ARCH, tmp_path / "cut", SETTINGS)
    for a, b in zip(weights(tmp_path / "whole"), weights(tmp_path / "cut"), strict=True):
        np.testing.assert_array_equal(a, b)
    for name in ("model.keras", "model_best_val.keras"):  # the files too, byte for byte
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "cut" / name).read_bytes()
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    assert json.loads((tmp_path / "cut" / "history.json").read_text()) == whole
    assert len(whole["loss"]) == 3
    assert not (tmp_path / "cut" / "checkpoint").exists()
    assert result.numbers["best_val_epoch"] == 1 + int(np.argmin(whole["val_loss"]))


def test_a_checkpoint_of_other_settings_is_not_taken_up(data, tmp_path, capsys):
    folder = tmp_path / "m" / "checkpoint"
    folder.mkdir(parents=True)
    (folder / STATE).write_text(json.dumps({"fingerprint": "other", "epochs_done": 2}))
    train(data, ARCH, tmp_path / "m", {**SETTINGS, "epochs": 1})
    assert "made from other data or settings; starting over" in capsys.readouterr().err
    assert len(json.loads((tmp_path / "m" / "history.json").read_text())["loss"]) == 1


def test_the_best_validation_epoch_is_kept(data, tmp_path):
    import keras

    settings = {**SETTINGS, "epochs": 4, "learning_rate": 0.02}
    result = train(data, ARCH, tmp_path / "m", settings)
    history = json.loads((tmp_path / "m" / "history.json").read_text())
    best_epoch = 1 + int(np.argmin(history["val_loss"]))
    numbers = result.numbers
    assert numbers["best_val_epoch"] == best_epoch
    assert numbers["best_val_loss"] == min(history["val_loss"])
    best = keras.models.load_model(tmp_path / "m" / "model_best_val.keras")
    last = weights(tmp_path / "m")
    same = all(np.array_equal(a, b) for a, b in zip(best.get_weights(), last, strict=True))
    assert same == (best_epoch == 4)
    assert 0.0 <= numbers["best_val_test_accuracy"] <= 1.0


def test_a_diverging_training_stops_naming_where_and_leaves_nothing(data, tmp_path):
    settings = {**SETTINGS, "learning_rate": 1e30}
    with pytest.raises(
        FeatvizError,
        match=r"loss became (nan|inf|[\d.e+]+) at epoch 1, batch \d+; expected a finite loss "
        r"below 230.3.*now 1e\+30",
    ):
        train(data, ARCH, tmp_path / "m", settings, label="cnn3 on sd")
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_an_empty_training_split_is_refused(data, tmp_path):
    arrays = read_npz(data)
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][:0], arrays["y_train"][:0]
    write_npz(tmp_path / "empty.npz", **arrays)
    with pytest.raises(FeatvizError, match=r"empty.npz: the training split has no images"):
        train(tmp_path / "empty.npz", ARCH, tmp_path / "m", SETTINGS)
    assert not (tmp_path / "m").exists()


def test_a_training_stuck_at_chance_is_flagged(data, tmp_path, capsys):
    arrays = read_npz(data)
    # Labels that have nothing to do with the images: nothing to learn but their mix.
    arrays["y_train"] = np.random.default_rng(0).permutation(arrays["y_train"])
    write_npz(tmp_path / "noise.npz", **arrays)
    settings = {**SETTINGS, "epochs": 1, "learning_rate": 1e-6}
    result = train(tmp_path / "noise.npz", ARCH, tmp_path / "m", settings, label="cnn3")
    assert result.numbers["at_chance"] is True
    assert "warning: cnn3: the training accuracy stayed at chance" in capsys.readouterr().err
    assert "Note: the training accuracy stayed at chance" in result.figures[0].caption

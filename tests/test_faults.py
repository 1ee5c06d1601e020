"""A catalogue of bad input: each row ends in one line naming what was wrong, the exit code
it declares, and leaves no output file and no provenance record behind.

Command rows run ``featviz.cli.main`` in this process; config rows run ``snakemake -n``
(a few seconds each, so there are few of them). In ``argv``, ``{model}``, ``{data}`` and
the other names in braces are files made once for the module (see ``inputs``), ``{out}``
is a folder the command may write into (absent beforehand) and ``{tmp}`` the test's own
folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from featviz.cli import main
from tests.conftest import ROOT

ARCH = '{"conv_filters": [4], "kernel_size": 3, "dense_units": [8], "dropout": 0}'
TRAIN = '{"epochs": 1, "batch_size": 8}'


@dataclass(frozen=True)
class Fault:
    """One bad input: the command line, a fragment of its one-line message, the exit code."""

    argv: tuple[str, ...]
    message: str
    code: int = 1


def study(name: str, job: str, settings: str = "{}", *extra: str, **files: str) -> tuple:
    """``featviz study`` writing into ``{out}``; ``model=`` and ``data=`` replace the
    module's model and dataset."""
    return (
        "study",
        name,
        "--model",
        files.get("model", "{model}"),
        "--data",
        files.get("data", "{data}"),
        "--job",
        job,
        "--out-dir",
        "{out}",
        "--settings",
        settings,
        *extra,
    )


def train(data: str = "{data}", architecture: str = ARCH, settings: str = TRAIN) -> tuple:
    return (
        "train",
        "--data",
        data,
        "--architecture",
        architecture,
        "--settings",
        settings,
        "--out-dir",
        "{out}",
    )


def model(path: str) -> tuple:
    """The activations study of conv1 with ``path`` as its model."""
    return study("activations", "conv1", model=path)


def data(path: str) -> tuple:
    """The activations study of conv1 with ``path`` as its prepared dataset."""
    return study("activations", "conv1", data=path)


F = Fault
FAULTS = {
    # --- command-line arguments ------------------------------------------------------------
    "unknown-architecture-key": F(
        train(architecture='{"conv_filterz": [4]}'), "'conv_filterz' was unexpected"
    ),
    "duplicate-json-key": F(
        train(settings='{"epochs": 1, "epochs": 2}'), "--settings: key 'epochs' is given twice"
    ),
    "json-not-json": F(
        study("filters", "conv1", "{steps: 2}"), "--settings: not valid JSON (Expecting"
    ),
    "units-given-twice": F(
        study("filters", "conv1", '{"units": {"conv1": [0, 2, 0]}}'),
        "Setting filters.units.conv1: [0, 2, 0] has non-unique elements",
    ),
    "json-an-array": F(
        study("filters", "conv1", "[1, 2]"),
        "--settings: an array, expected a JSON object of settings ({...}): '[1, 2]'",
    ),
    "json-a-number": F(
        train(settings="3"), "--settings: a number, expected a JSON object of settings"
    ),
    "json-nested-too-deeply": F(
        study("filters", "conv1", "[" * 100_000 + "]" * 100_000),
        "--settings: JSON nested too deeply to read",
    ),
    "train-rate-too-large": F(
        train(settings='{"learning_rate": 5}'),
        "Setting train.learning_rate: 5 is greater than the maximum of 1",
    ),
    "render-rate-negative": F(
        study("filters", "conv1", '{"learning_rate": -0.05}'),
        "Setting filters.learning_rate: -0.05 is less than or equal to the minimum of 0",
    ),
    "render-rate-nan": F(
        study("filters", "conv1", '{"learning_rate": NaN}'),
        "Setting filters.learning_rate: nan is not a finite number",
    ),
    "auto-ceiling-under-its-window": F(
        study("filters", "conv1", '{"steps": "auto", "max_steps": 20}'),
        "Setting filters: steps: auto looks 2 steps ahead (plateau_window 0.1 of max_steps 20); "
        "expected at least 4: raise max_steps to 35 or more",
    ),
    "ablation-shard-unknown": F(
        study("ablation", "recipes", "{}", "--shard", "0-none-conv9"),
        "--shard 0-none-conv9: not a shard of this job; its shards are 0-accentuation-conv1",
    ),
    "shard-of-a-study-that-does-not-split": F(
        study("filters", "conv1", "{}", "--shard", "0-none-conv1"),
        "--shard 0-none-conv1: the filters study's jobs do not split into shards",
    ),
    "images-more-than-allowed": F(
        study("activations", "conv1", '{"images": 999}'),
        "Setting activations.images: 999 is greater than the maximum of 20",
    ),
    "images-zero": F(
        study("activations", "conv1", '{"images": 0}'),
        "Setting activations.images: 0 is less than the minimum of 1",
    ),
    "unknown-layer": F(
        study("filters", "conv9", '{"steps": 2}'), "Unknown layer 'conv9'. Layers with activations"
    ),
    "blur-wider-than-image": F(
        study("filters", "conv1", '{"steps": 2, "regularizers": {"blur": {"sigma": 50}}}'),
        "reads 150 pixels to each side of a pixel, but the model's images are 12x12",
    ),
    "bad-input-name": F(
        study("deconv", "conv1", "{}", "--input", "filterz"),
        "--input 'filterz': expected NAME=PATH with NAME one of judge, prior, filters",
    ),
    "dataset-name-unlike-config": F(
        (*data("{data}"), "--dataset", "My Digits"),
        "--dataset 'My Digits': not a name of datasets",
    ),
    "dataset-entry-out-of-range": F(
        (
            "prepare",
            "--dataset",
            "digits",
            "--entry",
            '{"kind": "synthetic-digits", "n_train": 4, "n_test": 4, "validation_fraction": 2}',
            "--out",
            "{out}/dataset.npz",
        ),
        "Setting datasets.digits.validation_fraction: 2 is greater than or equal to",
    ),
    "unknown-study": F(study("nonsense", "conv1"), "invalid choice: 'nonsense'", code=2),
    "import-changed-model": F(
        (
            "import-model",
            "--entry",
            json.dumps({"path": "{model}", "sha256": "0" * 64}),
            "--data",
            "{data}",
            "--out-dir",
            "{out}",
        ),
        "SHA-256 expected 0000000000000000",
    ),
    # --- prepared datasets -----------------------------------------------------------------
    "data-missing": F(data("{tmp}/nowhere.npz"), "nowhere.npz: no such file; expected a prepared"),
    "data-text-file": F(
        data("{text}"), "--data {text}: not a prepared dataset (.npz from featviz prepare); it is "
    ),
    "data-truncated": F(data("{truncated_npz}"), "it is a zip archive (damaged or truncated"),
    "data-npy-not-npz": F(data("{npy}"), "it is a single .npy array"),
    "data-lacks-arrays": F(data("{no_test}"), "not a prepared dataset; lacks x_test, y_test"),
    "data-float-images": F(
        data("{float_images}"), "x_test is a float32 array of shape (90, 12, 12, 1); expected uint8"
    ),
    "data-3d-images": F(data("{flat_images}"), "x_test is a uint8 array of shape (90, 144, 1)"),
    "data-label-count": F(data("{short_labels}"), "expected 90 integer labels, one per image"),
    "data-label-range": F(data("{label_7}"), "expected labels from 0 to 2 (one per class name)"),
    "data-empty-test-split": F(data("{empty_test}"), "the test split is empty"),
    "data-other-image-size": F(
        data("{big_images}"), "images of shape (28, 28, 1), but {model} takes images of shape"
    ),
    # --- model files -----------------------------------------------------------------------
    "model-missing": F(model("{tmp}/nowhere.keras"), "nowhere.keras: no such model file"),
    "model-text-file": F(model("{text_keras}"), "not a Keras model file; it is a text file"),
    "model-truncated-zip": F(model("{truncated_keras}"), "damaged or truncated zip archive"),
    "model-hdf5": F(model("{h5_keras}"), "it is an HDF5 file (the .h5 format of older Keras)"),
    "model-zip-without-config": F(model("{zip_keras}"), "no item named 'config.json'"),
    "model-empty-file": F(model("{empty_keras}"), "it is an empty file"),
    "model-cannot-be-rebuilt": F(
        model("{unbuildable_keras}"),
        "Keras cannot rebuild the model saved in this file (Unknown layer: conv1). Expected a "
        "file saved by model.save()",
    ),
    "model-overflows": F(
        study("filters", "conv2", '{"steps": 4, "regularizers": {"l2": 1}}', model="{overflow}"),
        "non-finite by step 1 (after step 0) for: conv2:0, conv2:1, conv2:2, conv2:3, conv2:4; "
        "expected a finite value. Lower the learning rate (0.05) or the weights of the "
        "regularizers these images ran with (L2 1).",
    ),
    # --- the file system -------------------------------------------------------------------
    "out-dir-under-a-file": F(
        (*data("{data}"), "--out-dir", "{text}/sub"), "{text} is a file; expected a folder"
    ),
    "out-dir-is-a-file": F(
        (*data("{data}"), "--out-dir", "{text}"), "{text} is a file; expected a folder"
    ),
    "out-is-a-folder": F(
        (
            "prepare",
            "--dataset",
            "digits",
            "--entry",
            '{"kind": "synthetic-digits", "n_train": 4, "n_test": 4}',
            "--out",
            "{tmp}",
        ),
        "--out {tmp}: is a folder; expected a file name to write",
    ),
    "out-dir-read-only": F(
        (*data("{data}"), "--out-dir", "{read_only}/out"), "cannot write into {read_only}"
    ),
    # --- training (see featviz.models.train) -----------------------------------------------
    "train-empty-training-split": F(
        train(data="{empty_train}"), "the training split has no images (shape (0, 12, 12, 1))"
    ),
    "train-diverges": F(
        train(settings='{"epochs": 2, "batch_size": 4, "learning_rate": 1}'),
        "the training loss became",
    ),
    # --- provenance verify (see featviz.verification) --------------------------------------
    "verify-missing-directory": F(
        ("provenance", "verify", "{tmp}/gone"),
        "gone: missing; expected the run's working directory",
    ),
    "verify-a-file": F(
        ("provenance", "verify", "{data}"),
        "data.npz: a file; expected the run's working directory",
    ),
}


def _damaged(path: Path, target: Path) -> Path:
    """The first half of ``path`` (a zip archive cut short)."""
    raw = path.read_bytes()
    target.write_bytes(raw[: len(raw) // 2])
    return target


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_model, tiny_data) -> dict[str, Path]:
    """Every file a row names, good and bad, made once."""
    folder = tmp_path_factory.mktemp("inputs")
    files = {"model": folder / "model.keras", "data": folder / "data.npz"}
    tiny_model.save(files["model"])
    shutil.copyfile(tiny_data, files["data"])
    good = dict(np.load(tiny_data))

    def npz(name: str, **changes) -> None:
        arrays = {k: v for k, v in {**good, **changes}.items() if v is not None}
        files[name] = folder / f"{name}.npz"
        np.savez(files[name], **arrays)

    npz("no_test", x_test=None, y_test=None)
    npz("float_images", x_test=good["x_test"].astype(np.float32))
    npz("flat_images", x_test=good["x_test"].reshape(90, 144, 1))
    npz("short_labels", y_test=good["y_test"][:10])
    npz("label_7", y_test=np.full_like(good["y_test"], 7))
    npz("empty_test", x_test=good["x_test"][:0], y_test=good["y_test"][:0])
    npz("empty_train", x_train=good["x_train"][:0], y_train=good["y_train"][:0])
    big = {
        f"x_{s}": np.zeros((len(good[f"y_{s}"]), 28, 28, 1), np.uint8)
        for s in ["train", "val", "test"]
    }
    npz("big_images", **big, amplitude_spectrum=np.ones((1, 28, 28), np.float32))
    files["text"] = folder / "notes.txt"
    files["text"].write_text("x,y\n1,2\n")
    files["truncated_npz"] = _damaged(files["data"], folder / "truncated.npz")
    files["npy"] = folder / "array.npz"
    with open(files["npy"], "wb") as fh:
        np.save(fh, good["x_test"])
    files["text_keras"] = folder / "text.keras"
    files["text_keras"].write_text("not a model\n")
    files["truncated_keras"] = _damaged(files["model"], folder / "truncated.keras")
    files["h5_keras"] = folder / "h5.keras"
    files["h5_keras"].write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(1024))
    files["zip_keras"] = folder / "zip.keras"
    with zipfile.ZipFile(files["zip_keras"], "w") as archive:
        archive.writestr("weights.txt", "1 2 3")
    files["empty_keras"] = folder / "empty.keras"
    files["empty_keras"].touch()
    files["unbuildable_keras"] = _renamed_layer(files["model"], folder / "unbuildable.keras")

    import keras

    overflow = keras.models.clone_model(tiny_model)
    # kernels all positive and huge: every conv2 channel is +inf on every image, on any CPU
    # (with mixed signs, which channels sum inf - inf to NaN depends on the summation order)
    overflow.set_weights([abs(w) * 1e30 if w.ndim == 4 else w for w in tiny_model.get_weights()])
    files["overflow"] = folder / "overflow.keras"
    overflow.save(files["overflow"])
    return files


def _renamed_layer(model: Path, out: Path) -> Path:
    """A copy of the ``.keras`` file whose configuration renames conv1 where it defines it,
    but not where other layers connect to it: a file Keras cannot rebuild."""
    with zipfile.ZipFile(model) as archive:
        items = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(items["config.json"])
    for layer in config["config"]["layers"]:
        if layer["config"]["name"] == "conv1":
            layer["name"] = layer["config"]["name"] = "renamed"
    items["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in items.items():
            archive.writestr(name, data)
    return out


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into, root included (chattr +i; chmod does not stop root)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if shutil.which("chattr") is None:
        pytest.skip("no chattr: as root, no folder can be made read-only here")
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(
            f"chattr +i refused ({made.stderr.decode().strip()}): as root, no "
            "folder can be made read-only here"
        )
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


def fill(text: str, names: dict[str, str]) -> str:
    """``text`` with each ``{name}`` replaced (JSON's own braces left alone)."""
    for name, value in names.items():
        text = text.replace("{" + name + "}", value)
    return text


def files_under(*folders: Path) -> set[Path]:
    return {p for folder in folders for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_bad_input_is_named_and_leaves_nothing(fault, inputs, tmp_path, request, capsys):
    names = {**{k: str(v) for k, v in inputs.items()}, "out": str(tmp_path / "out")}
    names["tmp"] = str(tmp_path)
    if "{read_only}" in " ".join(fault.argv):
        names["read_only"] = str(request.getfixturevalue("read_only"))
    argv = [fill(arg, names) for arg in fault.argv]
    before = files_under(tmp_path, inputs["data"].parent)

    if fault.code == 2:  # argparse's own refusal
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        code = exit_info.value.code
    else:
        code = main(argv)

    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert code == fault.code, err[-2000:]
    assert len(errors) == 1 and fill(fault.message, names) in errors[0], err[-2000:]
    assert files_under(tmp_path, inputs["data"].parent) == before
    assert not (tmp_path / "out").exists()


def test_an_objective_that_ends_below_its_start_is_reported(inputs, tmp_path, capsys):
    """A penalty that outweighs the objective: the job says so in its log and its numbers."""
    settings = (
        '{"steps": 8, "classes": false, "units": {"conv1": "all"}, "regularizers": {"l2": 1000}}'
    )
    argv = study("filters", "conv1", settings)
    names = {**{k: str(v) for k, v in inputs.items()}, "out": str(tmp_path / "out")}
    assert main([fill(a, names) for a in argv]) == 0
    err = capsys.readouterr().err
    [warning] = [line for line in err.splitlines() if "below their start value" in line]
    assert warning.startswith("warning: ") and "conv1:" in warning
    result = json.loads((tmp_path / "out" / "conv1.result.json").read_text())
    assert result["numbers"]["objectives_below_start"] >= 1


def test_a_study_failing_halfway_takes_back_only_what_it_wrote(
    inputs, tmp_path, monkeypatch, capsys
):
    """Its arrays are written, then the figure fails (a full disk): the arrays go, the
    folder's other files stay, and the folder it did not make stays too."""
    import errno

    from featviz.studies import activations

    def full_disk(images, labels, maps, layer, png):
        raise OSError(errno.ENOSPC, "No space left on device", str(png))

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    (out / "old.npz.prov.json").write_text("{}")
    monkeypatch.setattr(activations, "plot_feature_maps", full_disk)
    names = {**{k: str(v) for k, v in inputs.items()}, "out": str(out)}
    code = main([fill(a, names) for a in data("{data}")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"--out-dir {out / 'conv1.png'}: no space left on the device" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "old.npz.prov.json"]


# --- the config, read by snakemake ---------------------------------------------------------

DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
DUPLICATE = """\
datasets:
  digits: {kind: synthetic-digits, n_train: 40, n_test: 20, seed: 1}
  digits: {kind: synthetic-digits, n_train: 50, n_test: 20, seed: 2}
models:
  cnn2: {conv_filters: [4, 6], kernel_size: 3, dense_units: [8]}
"""


def changed(section: str, key: str, value) -> str:
    config = yaml.safe_load(yaml.safe_dump(DEMO))
    config.setdefault(section, {})[key] = value
    return yaml.safe_dump(config)


CONFIG_FAULTS = {
    "duplicate-dataset-yaml": (
        "config.yaml",
        DUPLICATE,
        "line 3: key 'digits' is given twice (first on line 2)",
    ),
    "duplicate-key-json": (
        "config.json",
        '{"datasets": {"d": {"kind": "synthetic-digits", "n_train": 4, "n_test": 4}},'
        ' "models": {"m": {}}, "models": {"n": {}}}',
        "key 'models' is given twice",
    ),
    "render-rate-negative": (
        "config.yaml",
        changed("filters", "learning_rate", -0.05),
        "Setting config.filters.learning_rate: -0.05 is less than or equal to the minimum of 0",
    ),
    "unknown-train-key": ("config.yaml", changed("train", "epoch", 3), "'epoch' was unexpected"),
    # Layers and units are checked against every architecture when the DAG is built, not
    # when the rendering job runs after hours of training.
    "filters-unknown-layer": (
        "config.yaml",
        changed("filters", "units", {"conv9": "all"}),
        "Model 'cnn3' (on synthetic-digits): filters: Unknown layer 'conv9'.",
    ),
    "filters-unit-out-of-range": (
        "config.yaml",
        changed("filters", "units", {"conv1": [0, 999]}),
        "filters.units.conv1: Index 999 out of range for layer 'conv1', which has 32 units",
    ),
    "convergence-unknown-layer": (
        "config.yaml",
        changed("convergence", "layers", ["conv7"]),
        "convergence: Unknown layer 'conv7'. Layers with activations: conv1, pool1,",
    ),
    "directions-unknown-layer": (
        "config.yaml",
        changed("directions", "layers", ["fc9"]),
        "directions: Unknown layer 'fc9'.",
    ),
    "joint-unit-out-of-range": (
        "config.yaml",
        changed("joint", "pairs", [[0, 500]]),
        "joint: filters [0, 500]: Index 500 out of range for layer 'conv1'",
    ),
    # a layer the study cannot use, named before any job runs (it raised inside the job)
    "redundancy-pooling-layer": (
        "config.yaml",
        changed("redundancy", "layers", ["conv1", "pool1"]),
        "redundancy.layers: 'pool1' is a MaxPooling2D layer, which has no kernel whose filters "
        "could be compared. Layers with a kernel: conv1, conv2, conv3, fc1, fc2.",
    ),
}


@pytest.mark.parametrize("name, text, message", CONFIG_FAULTS.values(), ids=CONFIG_FAULTS.keys())
def test_bad_config_is_named_before_any_rule_runs(name, text, message, tmp_path):
    from tests.integration.conftest import snakemake

    (tmp_path / name).write_text(text)
    result = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / name), timeout=120)
    log = result.stdout + result.stderr  # where Snakemake prints depends on its version
    assert result.returncode == 1, log[-2000:]
    assert message in log, log[-2000:]
    assert not (tmp_path / "results").exists() and not list(tmp_path.rglob("*.prov.json"))

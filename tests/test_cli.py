import json
import subprocess
import sys

import pytest

from featviz.cli import build_parser, main
from featviz.data.catalog import BUILTIN

COMMANDS = ["download", "prepare", "train", "activations", "render", "report", "provenance"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "usage: featviz" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "featviz.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and all(c in out.stdout for c in COMMANDS)


def test_download_failure_exits_1_and_leaves_nothing(tmp_path, capsys):
    """A config-only IDX dataset with MNIST's checksums, whose sources all fail (no network)."""
    files = {
        role: {k: v for k, v in f.items() if k != "size"}
        for role, f in BUILTIN["mnist"]["files"].items()
    }
    entry = {
        "kind": "idx",
        "files": files,
        "mirrors": ["http://127.0.0.1:9/"],
        "local_mirror": str(tmp_path / "nowhere"),
        "image_shape": [28, 28, 1],
        "class_names": list("0123456789"),
    }
    out = tmp_path / "res" / "train-labels-idx1-ubyte.gz"
    code = main(["download", "--dataset", "m", "--entry", json.dumps(entry), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "featviz download: error: Could not get a verified copy of train-labels-idx1-ubyte.gz"
        in err
    )
    assert f"not found in local mirror {tmp_path / 'nowhere'}" in err
    assert "http://127.0.0.1:9/train-labels-idx1-ubyte.gz: unreachable" in err
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_unknown_file_name(tmp_path, capsys):
    code = main(
        [
            "download",
            "--dataset",
            "mnist",
            "--entry",
            '{"kind": "mnist"}',
            "--out",
            str(tmp_path / "mnist.zip"),
        ]
    )
    assert code == 1
    assert "has no file 'mnist.zip'. Files: train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_render_unknown_layer(tmp_path, tiny_model, capsys):
    tiny_model.save(tmp_path / "m.keras")
    code = main(
        [
            "render",
            "--model",
            str(tmp_path / "m.keras"),
            "--layer",
            "conv9",
            "--out-dir",
            str(tmp_path / "f"),
            "--steps",
            "2",
        ]
    )
    assert code == 1
    assert "Unknown layer 'conv9'" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()

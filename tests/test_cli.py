import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featviz.cli import build_parser, main
from featviz.data.catalog import BUILTIN

COMMANDS = [
    "download",
    "prepare",
    "train",
    "import-model",
    "study",
    "report",
    "provenance",
    "times",
]


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
    assert not out.exists() and not out.parent.exists()  # the folder it made is gone too


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


def test_a_dataset_entry_is_checked_by_the_schema(tmp_path, capsys):
    entry = '{"kind": "mnist", "validation_fraction": 2}'
    code = main(["prepare", "--dataset", "mnist", "--entry", entry, "--out", str(tmp_path / "d")])
    assert code == 1
    err = capsys.readouterr().err
    assert "Setting datasets.mnist.validation_fraction: 2 is greater than or equal to" in err


def study(tmp_path, *args):
    return main(
        ["study", *args, "--model", str(tmp_path / "m.keras"), "--out-dir", str(tmp_path / "f")]
    )


def test_study_unknown_layer_and_bad_settings(tmp_path, tiny_model, capsys):
    tiny_model.save(tmp_path / "m.keras")
    assert study(tmp_path, "filters", "--job", "conv9", "--settings", '{"steps": 2}') == 1
    assert "featviz study: error: Unknown layer 'conv9'" in capsys.readouterr().err
    assert study(tmp_path, "filters", "--job", "conv1", "--settings", '{"stepz": 2}') == 1
    assert "Setting filters: Unevaluated properties" in capsys.readouterr().err
    assert study(tmp_path, "filters", "--job", "conv1", "--settings", "{steps: 2}") == 1
    assert "--settings: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


def test_study_writes_what_it_declares_with_records(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m.keras")
    settings = '{"count": 2, "steps": 2, "start": "grey"}'  # grey: no training images to read
    code = study(tmp_path, "directions", "--job", "conv1", "--settings", settings)
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert written == sorted(
        [
            "conv1.caption.rst",
            "conv1.npz",
            "conv1.npz.prov.json",
            "conv1.pdf",
            "conv1.pdf.prov.json",
            "conv1.png",
            "conv1.png.prov.json",
            "conv1.result.json",
            "conv1.result.json.prov.json",
        ]
    )
    record = json.loads((tmp_path / "f" / "conv1.png.prov.json").read_text())
    assert record["params"]["directions"]["count"] == 2
    assert record["params"]["directions"]["learning_rate"] == 0.05  # the schema's default
    assert record["caption"].startswith("2 random directions") and record["seeds"]


def test_an_unexpected_error_keeps_its_traceback(tmp_path, monkeypatch):
    from featviz.studies import directions

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(directions.Directions, "run", broken)
    with pytest.raises(KeyError, match="a bug"):
        study(tmp_path, "directions", "--job", "conv1", "--settings", "{}")


def test_each_help_offers_only_the_options_that_apply_in_plain_words(capsys):
    """--threads only where TensorFlow runs, --rule only where records are written, and no
    reStructuredText markup in any help text."""
    import re

    from featviz.cli import USES_TENSORFLOW, WRITES_NOTHING, build_parser, commands_table

    texts = {}
    for name in [None, *commands_table()]:
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, "--help"] if name else ["--help"])
        texts[name] = capsys.readouterr().out
    for name, text in texts.items():
        assert not re.search(r"``|:(func|class|meth|mod):", text), (name, text)
        if name:
            assert ("--threads" in text) == (name in USES_TENSORFLOW), name
            assert ("--rule" in text) == (name not in WRITES_NOTHING), name


#: A job long enough to be stopped while it renders (about a second of rendering here).
DIRECTIONS = '{"count": 2, "steps": 3000, "start": "grey"}'


def run_directions(folder: Path, stop: signal.Signals | None = None, while_rendering=None):
    """``featviz study directions`` as Snakemake runs it, in ``folder`` (model ``m.keras``,
    outputs in ``f``); with ``stop``, that signal is sent once its rendering has begun, and
    ``while_rendering`` is called with the job's process then. Returns the exit status and
    what it printed."""
    command = [str(Path(sys.executable).parent / "featviz"), "study", "directions"]
    command += ["--rule", "directions", "--threads", "1", "--job", "conv1"]
    command += ["--model", "m.keras", "--out-dir", "f", "--settings", DIRECTIONS]
    job = subprocess.Popen(command, stderr=subprocess.PIPE, cwd=folder)
    printed = b""
    if stop is not None or while_rendering is not None:
        while b"render:" not in printed and job.poll() is None:
            printed += job.stderr.read1(4096)
        time.sleep(0.2)
        if while_rendering is not None:
            while_rendering(job)
        if stop is not None:
            job.send_signal(stop)
    printed += job.communicate(timeout=300)[1]
    return job.returncode, printed.decode(errors="replace")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("uninterrupted")
    tiny_model.save(folder / "m.keras")
    code, printed = run_directions(folder)
    assert code == 0, printed[-2000:]
    return folder


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_job_leaves_nothing_and_its_rerun_equals_an_uninterrupted_one(
    uninterrupted, tmp_path, stop
):
    """A cluster's time limit (SIGTERM) or Ctrl-C (SIGINT) during rendering: the job says
    so, exits 128 + the signal, and leaves no file or record; run again, it writes what an
    uninterrupted job wrote."""
    shutil.copy(uninterrupted / "m.keras", tmp_path)
    code, printed = run_directions(tmp_path, stop)
    assert code == 128 + stop, printed[-2000:]
    assert f"featviz study: stopped by {stop.name}; the files it had written" in printed
    assert not (tmp_path / "f").exists()
    code, printed = run_directions(tmp_path)
    assert code == 0, printed[-2000:]
    expected = {p.name: p for p in (uninterrupted / "f").iterdir()}
    rerun = {p.name: p for p in (tmp_path / "f").iterdir()}
    assert rerun.keys() == expected.keys()
    for name, path in expected.items():
        if not name.endswith(".prov.json"):  # records hold their times
            assert rerun[name].read_bytes() == path.read_bytes(), name


def test_a_one_thread_job_runs_tensorflow_on_one_thread(tmp_path, tiny_model):
    """``--threads 1``: TensorFlow's pool that runs independent ops side by side has one
    thread (``tf_Compute``), not one per core of the machine, so two jobs on two cores do
    not contend for them."""
    tiny_model.save(tmp_path / "m.keras")
    pools = []

    def count(job: subprocess.Popen) -> None:
        tasks = Path(f"/proc/{job.pid}/task")
        names = [(t / "comm").read_text().strip() for t in tasks.iterdir()]
        pools.append(names.count("tf_Compute"))

    code, printed = run_directions(tmp_path, while_rendering=count)
    assert code == 0, printed[-2000:]
    assert pools == [1]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: NumPy's BLAS has one thread")
def test_one_thread_also_bounds_numpys_blas_loaded_before_the_option_is_read():
    """The command's modules load NumPy (and its BLAS, which reads its thread count then)
    before ``--threads`` is parsed: the option must still leave BLAS one thread, as
    Snakemake's variables would, so that a job run by hand sums in the same order."""
    script = (
        "import json, threadpoolctl, featviz.cli as cli\n"
        "blas = lambda: [p['num_threads'] for p in threadpoolctl.threadpool_info()"
        " if p['user_api'] == 'blas']\n"
        "before = blas(); cli._limit_threads(1); print(json.dumps([before, blas()]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    before, after = json.loads(out.stdout.splitlines()[-1])
    assert before and max(before) > 1, before  # the machine's cores, as a hand-run starts
    assert after == [1] * len(before)

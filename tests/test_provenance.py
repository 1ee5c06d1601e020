import hashlib
import json
from pathlib import Path

from featviz.provenance import collect, record, sidecar_path, write_sidecars
from featviz.verification import verify_tree


def test_sidecar_records_everything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    inp = tmp_path / "results" / "in.npz"
    inp.write_bytes(b"input")
    out = tmp_path / "results" / "fig.png"
    out.write_bytes(b"figure")
    base = record(
        rule="filters",
        params={"steps": 5},
        seeds={"render_seed": 3},
        inputs=["results/in.npz"],
        outputs=["results/fig.png"],
        started="2026-01-01T00:00:00+00:00",
    )
    [path] = write_sidecars(["results/fig.png"], base, {"results/fig.png": "A caption."})
    assert path == sidecar_path("results/fig.png") == Path("results/fig.png.prov.json")
    rec = json.loads(path.read_text())
    assert rec["rule"] == "filters" and rec["params"] == {"steps": 5}
    assert rec["seeds"] == {"render_seed": 3}
    assert rec["inputs"]["results/in.npz"] == hashlib.sha256(b"input").hexdigest()
    assert (
        rec["outputs"]["results/fig.png"] == rec["sha256"] == hashlib.sha256(b"figure").hexdigest()
    )
    assert {"numpy", "featviz"} <= set(rec["packages"])
    assert set(rec["git"]) == {"commit", "dirty"} and "python" in rec["device"]
    assert rec["started"] == "2026-01-01T00:00:00+00:00" <= rec["finished"]
    assert collect(["results/fig.png"])["results/fig.png"]["rule"] == "filters"


def test_collect_follows_the_chain_the_records_declare(tmp_path, monkeypatch):
    """From a report's input back to the download: every record upstream, and a record
    nothing upstream names (a stray file in the tree) is not gathered."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    chain = ["results/raw.bin", "results/data.npz", "results/model.keras", "results/stray.png"]
    for path in chain:
        (tmp_path / path).write_bytes(path.encode())
    write_sidecars(["results/raw.bin"], record(rule="download", params={}, seeds={}, inputs=[]))
    for made, read in (
        ("results/data.npz", "results/raw.bin"),
        ("results/model.keras", "results/data.npz"),
    ):
        write_sidecars([made], record(rule="r", params={}, seeds={}, inputs=[read], outputs=[made]))
    write_sidecars(["results/stray.png"], record(rule="x", params={}, seeds={}, inputs=[]))
    assert list(collect(["results/model.keras"])) == sorted(chain[:3])


def test_a_tree_without_upstream_records_breaks_the_chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "in.npz").write_bytes(b"input")
    (tmp_path / "results" / "fig.png").write_bytes(b"figure")
    base = record(
        rule="r", params={}, seeds={}, inputs=["results/in.npz"], outputs=["results/fig.png"]
    )
    write_sidecars(["results/fig.png"], base)
    count, problems = verify_tree(tmp_path, allow_dirty=True)
    messages = [str(p) for p in problems]
    assert count == 1
    assert any("results/in.npz: no provenance record of its own" in m for m in messages)
    assert any("results/in.npz: an input that no record produced" in m for m in messages)
    base = record(rule="s", params={}, seeds={}, inputs=[], outputs=["results/in.npz"])
    write_sidecars(["results/in.npz"], base)
    assert verify_tree(tmp_path, allow_dirty=True) == (2, [])


def test_files_the_repository_tracks_are_sources_not_results(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "README.md").write_text("what this folder holds")
    (tmp_path / "report" / "stray.md").write_text("written by hand")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "report/README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "readme"], check=True)
    _, problems = verify_tree(tmp_path, allow_dirty=True)
    assert [str(p) for p in problems] == ["report/stray.md: no provenance record of its own"]


def test_malformed_records_of_any_shape_are_problems_not_tracebacks(tmp_path, monkeypatch):
    import pytest

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "fig.png").write_bytes(b"figure")
    write_sidecars(
        ["results/fig.png"], record(rule="r", params={}, seeds={}, inputs=[], outputs=[])
    )
    good = json.loads(sidecar_path("results/fig.png").read_text())
    broken = {
        "inputs": (["results/in.npz"], "'inputs' holds a list, expected an object of path"),
        "outputs": ("results/fig.png", "'outputs' holds a str, expected an object of path"),
        "git": ("abc123", "'git' holds a str, expected an object or null"),
        "artifact": (7, "'artifact' holds a int, expected a path"),
        "params": ([], "'params' holds a list, expected an object"),
    }
    for key, (value, message) in broken.items():
        sidecar_path("results/fig.png").write_text(json.dumps({**good, key: value}))
        count, problems = verify_tree(tmp_path, allow_dirty=True)
        assert count == 0, key
        assert any(message in str(p) for p in problems), (key, problems)
    sidecar_path("results/fig.png").write_text("[1, 2]")
    _, problems = verify_tree(tmp_path, allow_dirty=True)
    assert any("a JSON list, expected an object" in str(p) for p in problems)
    with pytest.raises(ValueError, match=r"fig.png: a file; expected the run's working directory"):
        verify_tree(tmp_path / "results" / "fig.png")
    with pytest.raises(ValueError, match=r"gone: missing; expected the run's working directory"):
        verify_tree(tmp_path / "gone")


def test_verify_says_why_it_found_nothing_to_read(tmp_path, capsys):
    from featviz.cli import main

    def verify(path):
        try:
            return main(["provenance", "verify", str(path)])
        except SystemExit as exit:
            return exit.code

    assert verify(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"Nothing was verified: {tmp_path} is not a run's working directory" in err
    assert "it has none of resources, results, report" in err
    (tmp_path / "results").mkdir()
    assert verify(tmp_path) == 1
    assert "its results holds no *.prov.json record" in capsys.readouterr().err
    assert verify(tmp_path / "gone") == 1
    assert "gone: missing; expected the run's working directory" in capsys.readouterr().err

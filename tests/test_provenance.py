import hashlib
import json

from featviz.provenance import record, sidecar_path, verify, write_sidecars


def test_sidecar_records_everything_and_verifies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inp = tmp_path / "in.npz"
    inp.write_bytes(b"input")
    out = tmp_path / "fig.png"
    out.write_bytes(b"figure")
    base = record(rule="filters", params={"steps": 5}, seeds={"render_seed": 3}, inputs=[inp])
    [path] = write_sidecars([out], base, {out: "A caption."})
    assert path == sidecar_path(out) == tmp_path / "fig.png.prov.json"
    rec = json.loads(path.read_text())
    assert rec["rule"] == "filters" and rec["params"] == {"steps": 5}
    assert rec["seeds"] == {"render_seed": 3} and rec["caption"] == "A caption."
    assert rec["inputs"][str(inp)] == hashlib.sha256(b"input").hexdigest()
    assert len(rec["sha256"]) == 64
    assert {"numpy", "featviz"} <= set(rec["packages"])
    assert set(rec["git"]) == {"commit", "dirty"} and "python" in rec["device"]
    assert verify(path) == []
    inp.write_bytes(b"changed")
    out.unlink()
    problems = verify(path)
    assert any("fig.png: missing" in p for p in problems)
    assert any(p.startswith(f"{inp}: SHA-256") for p in problems)

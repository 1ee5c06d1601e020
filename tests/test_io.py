from pathlib import Path

import numpy as np
import pytest

from featviz.io import atomic_path, read_json, read_npz, write_json, write_npz


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_json_and_npz_round_trip(tmp_path: Path):
    write_json(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(3)})
    assert read_json(tmp_path / "a.json") == {"x": 1.5, "y": [0, 1, 2]}
    write_npz(tmp_path / "a.npz", a=np.eye(2), b=np.array(["x", "y"]))
    arrays = read_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(arrays["a"], np.eye(2))
    assert arrays["b"].tolist() == ["x", "y"]


def test_atomic_result_has_usual_permissions(tmp_path: Path):
    import os

    write_json(tmp_path / "p.json", {})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_path_removes_what_a_killed_write_left(tmp_path: Path):
    """A SIGKILL between creating the temporary file and renaming it leaves the file; the
    next write of the same target removes it, and nobody else's."""
    stale = tmp_path / ".conv1.ab12cd_3.part.png"  # conv1.png's, from a killed process
    other = tmp_path / ".conv1.npz.prov.ab12cd_3.part.json"  # another target's, in flight
    longer = tmp_path / ".conv1.ab12cd_345.part.png"  # not one mkstemp draws
    for path in (stale, other, longer):
        path.write_bytes(b"half")
    with atomic_path(tmp_path / "conv1.png") as tmp:
        tmp.write_bytes(b"whole")
    assert (tmp_path / "conv1.png").read_bytes() == b"whole"
    assert not stale.exists() and other.exists() and longer.exists()


def test_read_npz_reads_only_the_arrays_asked_for(tmp_path):
    import numpy as np

    from featviz.io import read_npz, write_npz

    write_npz(tmp_path / "a.npz", big=np.zeros((4, 4)), count=np.array(3))
    assert set(read_npz(tmp_path / "a.npz")) == {"big", "count"}
    assert read_npz(tmp_path / "a.npz", keys=["count", "absent"]) == {"count": 3}

"""Downloads: local mirror, HTTP mirrors on a loopback server, and every failure."""

import hashlib
import http.server
import shutil
import threading

import pytest

from featviz.data.catalog import BUILTIN, RemoteFile
from featviz.data.download import DownloadError, fetch, verify

PAYLOAD = bytes(range(256)) * 64


def remote_for(data: bytes, name: str = "blob.bin", size: bool = True) -> RemoteFile:
    return RemoteFile(
        role="x",
        name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data) if size else None,
    )


class Handler(http.server.BaseHTTPRequestHandler):
    """/ok/<name> serves PAYLOAD, /html/<name> an error page, /short/<name> a cut-off body."""

    def do_GET(self):  # noqa: N802
        kind = self.path.split("/")[1]
        if kind == "ok":
            body, length = PAYLOAD, len(PAYLOAD)
        elif kind == "html":
            body = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
            length = len(body)
        elif kind == "short":
            body, length = PAYLOAD[:1000], len(PAYLOAD)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_local_mirror_first(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "blob.bin").write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "blob.bin"
    digests = fetch(
        remote_for(PAYLOAD), dest, mirrors=["http://127.0.0.1:9/unused/"], local_mirror=mirror
    )
    assert dest.read_bytes() == PAYLOAD
    assert digests.size == len(PAYLOAD)


def test_http_mirror_after_failing_ones(tmp_path, server):
    dest = tmp_path / "blob.bin"
    fetch(
        remote_for(PAYLOAD),
        dest,
        mirrors=[f"{server}/missing/", f"{server}/ok/"],
        local_mirror=tmp_path / "empty",
    )
    assert dest.read_bytes() == PAYLOAD


def test_html_error_page_is_rejected(tmp_path, server):
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError) as info:
        fetch(remote_for(PAYLOAD), dest, mirrors=[f"{server}/html/"])
    message = str(info.value)
    assert "It is an HTML page, not the data file" in message
    assert f"{server}/html/blob.bin" in message
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_rejected(tmp_path, server):
    dest = tmp_path / "blob.bin"
    with pytest.raises(
        DownloadError, match=r"truncated: the connection closed after 1000 of the 16384"
    ):
        fetch(remote_for(PAYLOAD), dest, mirrors=[f"{server}/short/"])
    assert list(tmp_path.iterdir()) == []


def test_truncated_local_file_names_sizes(tmp_path):
    mirror = tmp_path / "m"
    mirror.mkdir()
    (mirror / "blob.bin").write_bytes(PAYLOAD[:-100])
    with pytest.raises(DownloadError, match="truncated: 16284 bytes, expected 16384"):
        fetch(remote_for(PAYLOAD), tmp_path / "blob.bin", local_mirror=mirror)
    assert not (tmp_path / "blob.bin").exists()


def test_existing_good_file_is_kept_and_bad_one_replaced(tmp_path, server):
    dest = tmp_path / "blob.bin"
    dest.write_bytes(PAYLOAD)
    fetch(remote_for(PAYLOAD), dest, mirrors=[])  # no source needed
    dest.write_bytes(b"stale")
    fetch(remote_for(PAYLOAD), dest, mirrors=[f"{server}/ok/"])
    assert dest.read_bytes() == PAYLOAD


def test_flipped_byte_of_real_file_rejected_with_both_checksums(shared_mnist, tmp_path):
    entry = BUILTIN["mnist"]["files"]["test_labels"]
    remote = RemoteFile(role="test_labels", **entry)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((shared_mnist / remote.name).read_bytes())
    data[100] ^= 0xFF
    (mirror / remote.name).write_bytes(bytes(data))
    dest = tmp_path / "out" / remote.name
    with pytest.raises(DownloadError) as info:
        fetch(remote, dest, local_mirror=mirror)
    message = str(info.value)
    assert remote.sha256 in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message
    assert remote.name in message and str(mirror / remote.name) in message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_real_mnist_test_files_through_local_mirror(shared_mnist, tmp_path, server):
    """The shared MNIST test files verify; the absent training files fail naming each source."""
    files = BUILTIN["mnist"]["files"]
    for role in ("test_images", "test_labels"):
        remote = RemoteFile(role=role, **files[role])
        fetch(remote, tmp_path / remote.name, local_mirror=shared_mnist)
        verify(tmp_path / remote.name, remote)
    remote = RemoteFile(role="train_images", **files["train_images"])
    with pytest.raises(DownloadError) as info:
        fetch(
            remote,
            tmp_path / remote.name,
            mirrors=[f"{server}/missing/"],
            local_mirror=shared_mnist,
        )
    message = str(info.value)
    assert f"not found in local mirror {shared_mnist}" in message
    assert f"{server}/missing/train-images-idx3-ubyte.gz: HTTP 404" in message
    assert remote.sha256 in message and remote.md5 in message
    assert not (tmp_path / remote.name).exists()


def test_no_source_at_all(tmp_path):
    with pytest.raises(DownloadError, match="no local mirror and no mirror URL"):
        fetch(remote_for(PAYLOAD), tmp_path / "x", mirrors=[])


def test_copy_does_not_touch_mirror(shared_mnist, tmp_path):
    mirror = tmp_path / "m"
    mirror.mkdir()
    shutil.copy(shared_mnist / "t10k-labels-idx1-ubyte.gz", mirror)
    remote = RemoteFile(role="test_labels", **BUILTIN["mnist"]["files"]["test_labels"])
    fetch(remote, tmp_path / "o" / remote.name, local_mirror=mirror)
    verify(mirror / remote.name, remote)

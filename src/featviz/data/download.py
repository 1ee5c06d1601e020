"""Download published dataset files and verify them against canonical checksums.

Sources are tried in order: the configured local mirror directory first, then
each mirror URL. Each attempt writes to a temporary file beside the target;
only a file whose size, SHA-256 and MD5 match the catalog is renamed into
place. When every source fails, :class:`DownloadError` names the file, the
expected and actual checksums, and what happened at each source.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from featviz.data.catalog import RemoteFile
from featviz.errors import FeatvizError
from featviz.io import atomic_path
from featviz.progress import bar

CHUNK = 1 << 20
TIMEOUT_S = 60


class DownloadError(FeatvizError, RuntimeError):
    """No source gave a verified copy of a file."""


class ChecksumError(ValueError):
    """A file's size or checksum differs from the catalog."""


@dataclass(frozen=True)
class Digests:
    """Size and checksums of a file on disk."""

    size: int
    md5: str
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> Digests:
        md5, sha = hashlib.md5(), hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                md5.update(chunk)
                sha.update(chunk)
                size += len(chunk)
        return cls(size=size, md5=md5.hexdigest(), sha256=sha.hexdigest())


def verify(path: str | Path, remote: RemoteFile) -> Digests:
    """Check ``path`` against the catalog entry ``remote``.

    Returns:
        The file's digests when they match.

    Raises:
        ChecksumError: naming the file, the expected and the actual values.
    """
    got = Digests.of(path)
    problems = []
    if got.sha256 != remote.sha256:
        problems.append(f"SHA-256 expected {remote.sha256}, got {got.sha256}")
    if remote.md5 and got.md5 != remote.md5:
        problems.append(f"MD5 expected {remote.md5}, got {got.md5}")
    if remote.size is not None and got.size != remote.size:
        kind = "truncated" if got.size < remote.size else "too long"
        problems.append(f"{kind}: {got.size} bytes, expected {remote.size}")
    if problems:
        hint = " It is an HTML page, not the data file." if _looks_like_html(path) else ""
        raise ChecksumError(f"{remote.name}: " + "; ".join(problems) + "." + hint)
    return got


def fetch(
    remote: RemoteFile,
    dest: str | Path,
    mirrors: Iterable[str] = (),
    local_mirror: str | Path | None = None,
) -> Digests:
    """Place a verified copy of ``remote`` at ``dest``.

    An existing ``dest`` that verifies is kept. Otherwise the local mirror
    directory and then each mirror URL (``base + remote.name``) are tried in
    order until one gives a file that verifies.

    Returns:
        The digests of the verified file.

    Raises:
        DownloadError: when no source gave a verified copy; ``dest`` is then absent.
    """
    dest = Path(dest)
    if dest.exists():
        try:
            return verify(dest, remote)
        except ChecksumError:
            dest.unlink()
    sources: list[str] = []
    if local_mirror is not None:
        sources.append(str(Path(local_mirror) / remote.name))
    sources += [_join(base, remote.name) for base in mirrors]
    if not sources:
        raise DownloadError(f"{remote.name}: no local mirror and no mirror URL to try.")

    failures: list[str] = []
    for source in sources:
        try:
            with atomic_path(dest) as tmp:
                _copy(source, tmp, remote)
                digests = verify(tmp, remote)
            return digests
        except (OSError, ChecksumError, urllib.error.URLError, ValueError) as err:
            failures.append(f"  - {source}: {_reason(err)}")
    raise DownloadError(
        f"Could not get a verified copy of {remote.name} "
        f"(expected SHA-256 {remote.sha256}"
        + (f", MD5 {remote.md5}" if remote.md5 else "")
        + "). Sources tried, in order:\n"
        + "\n".join(failures)
    )


def _join(base: str, name: str) -> str:
    return base if base.endswith(name) else base.rstrip("/") + "/" + name


def _copy(source: str, tmp: Path, remote: RemoteFile) -> None:
    """Copy a local path or download a URL into ``tmp`` with a progress bar."""
    if "://" not in source:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"not found in local mirror {path.parent}")
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        return
    request = urllib.request.Request(source, headers={"User-Agent": "featviz"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        declared = response.headers.get("Content-Length")
        total = int(declared) if declared else remote.size
        received = 0
        with (
            open(tmp, "wb") as dst,
            bar(total, desc=remote.name, unit="B", unit_scale=True, unit_divisor=1024) as progress,
        ):
            try:
                while chunk := response.read(CHUNK):
                    dst.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
            except http.client.IncompleteRead as err:
                received += len(err.partial)
    if declared and received < int(declared):
        raise ChecksumError(
            f"truncated: the connection closed after {received} of the "
            f"{declared} bytes the server announced"
        )


def _looks_like_html(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"unreachable ({err.reason})"
    return str(err)

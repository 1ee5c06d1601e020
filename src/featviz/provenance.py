"""Provenance sidecars: where each figure and table came from.

Beside every artifact ``X`` (a figure's PNG and PDF, a table, an array file)
a record ``X.prov.json`` names the rule and command that made it, the
configuration values it read, its seeds, the SHA-256 of every input and
output, the versions of the packages involved, the git commit (and whether
the tree was dirty) and the device. ``featviz provenance verify`` re-checks
the recorded checksums.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featviz.io import write_json

SCHEMA = "featviz.provenance/1"
SUFFIX = ".prov.json"
PACKAGES = (
    "featviz",
    "keras",
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "numpy",
    "scipy",
    "scikit-image",
    "matplotlib",
    "snakemake",
)


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """The provenance record's path for ``artifact``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + SUFFIX)


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def code_directory() -> Path:
    """The folder of featviz's own code: its git checkout is the code that ran."""
    return Path(__file__).resolve().parent


def git_state(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Commit of featviz's checkout (or of ``cwd``) and whether tracked files differ from it.

    The code that made a result is featviz's, wherever the workflow's working
    directory is, so the record names the commit of the package's checkout.
    """
    cwd = code_directory() if cwd is None else cwd

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def device() -> dict[str, Any]:
    """The machine and backend the computation ran on."""
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    if "keras" in sys.modules:
        import keras

        info["keras_backend"] = keras.backend.backend()
        info["accelerators"] = accelerators(info["keras_backend"])
    return info


def accelerators(backend: str) -> list[str]:
    """The devices the backend computes on (``CPU:0``, ``GPU:0``, ...)."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [
                d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()
            ]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices()]
    except Exception as err:  # a device query must not fail the job it describes
        return [f"unknown ({type(err).__name__})"]
    return []


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record(
    *,
    rule: str | None,
    params: Mapping[str, Any],
    seeds: Mapping[str, int],
    inputs: Iterable[str | os.PathLike[str]],
    outputs: Iterable[str | os.PathLike[str]] = (),
    started: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The parts of a provenance record shared by all outputs of one command.

    Args:
        rule: the Snakemake rule that ran the command.
        params: the configuration values the command read.
        seeds: its random seeds, by role.
        inputs: the files it read (their SHA-256 is recorded).
        outputs: every file it wrote (their SHA-256 too).
        started: when it started (ISO 8601); it finished now.
        code: the featviz module the command ran; the digest of every featviz module it
            can import is recorded (:mod:`featviz.code_version`).
    """
    from featviz import code_version

    entry = {
        "schema": SCHEMA,
        "rule": rule,
        "command": shlex.join(["featviz", *sys.argv[1:]]),
        "working_directory": os.getcwd(),
        "params": dict(params),
        "seeds": dict(seeds),
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "outputs": {str(p): sha256_file(p) for p in outputs},
        "packages": package_versions(),
        "git": git_state(),
        "device": device(),
        "started": started or now(),
        "finished": now(),
    }
    if code is not None:
        entry["code"] = {"module": code, "modules": code_version.digests(code)}
    return entry


def collect(files: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Every record upstream of ``files``, by the artifact it describes: the records of
    ``files``, then of every input and output those records name, and so on to the
    downloads. It reads the chain the records declare, never a folder's listing, so what
    it gathers is what made ``files`` (unreadable records are skipped here; verification
    names them)."""
    import json

    gathered: dict[str, Any] = {}
    todo, seen = [str(f) for f in files], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            rec = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(rec, dict) or "artifact" not in rec:
            continue
        gathered[rec["artifact"]] = rec
        for key in ("inputs", "outputs"):
            if isinstance(rec.get(key), dict):
                todo += [p for p in rec[key] if not Path(p).is_absolute()]
    return dict(sorted(gathered.items()))


def write_sidecars(
    artifacts: Iterable[str | os.PathLike[str]],
    base: Mapping[str, Any],
    captions: Mapping[Path, str] | None = None,
) -> list[Path]:
    """Write ``base`` plus each artifact's SHA-256 (and caption, if any) beside each artifact."""
    captions = captions or {}
    written = []
    for artifact in artifacts:
        entry = {**base, "artifact": str(artifact), "sha256": sha256_file(artifact)}
        if Path(artifact) in captions:
            entry["caption"] = captions[Path(artifact)]
        path = sidecar_path(artifact)
        write_json(path, entry)
        written.append(path)
    return written

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


def git_state(cwd: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """Commit of the working tree and whether tracked files differ from it."""

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
    return info


def record(
    *,
    rule: str | None,
    params: Mapping[str, Any],
    seeds: Mapping[str, int],
    inputs: Iterable[str | os.PathLike[str]],
) -> dict[str, Any]:
    """The parts of a provenance record shared by all outputs of one command."""
    return {
        "schema": SCHEMA,
        "rule": rule,
        "command": shlex.join(["featviz", *sys.argv[1:]]),
        "working_directory": os.getcwd(),
        "params": dict(params),
        "seeds": dict(seeds),
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "packages": package_versions(),
        "git": git_state(),
        "device": device(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


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


def verify(sidecar: str | os.PathLike[str]) -> list[str]:
    """Re-check one record: the artifact's and inputs' checksums. Returns the problems found."""
    import json

    rec = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    problems = []
    for path, expected in [(rec["artifact"], rec["sha256"]), *rec["inputs"].items()]:
        if not Path(path).exists():
            problems.append(f"{path}: missing")
        elif (actual := sha256_file(path)) != expected:
            problems.append(f"{path}: SHA-256 {actual}, recorded {expected}")
    return problems

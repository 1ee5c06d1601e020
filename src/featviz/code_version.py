"""Which of featviz's own code a job runs, as digests a rule and a record can carry.

A job's outputs depend on the modules it imports as much as on its settings. The workflow
passes each study rule the digest of its module's import closure (every featviz module it
can import, found by reading the sources, imports inside functions included) as a
parameter, so Snakemake's parameter trigger reruns the job and what reads it once that
code changes. The job records the digest of each module in its provenance, and
``featviz provenance verify`` refuses a report whose records saw two versions of a module.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "featviz"
ROOT = Path(__file__).resolve().parent

#: The module whose closure is the code each command runs (``study`` runs its study's).
COMMANDS = {
    "download": "featviz.data.download",
    "prepare": "featviz.data.prepare",
    "train": "featviz.models.train",
    "train-prior": "featviz.models.prior",
    "import-model": "featviz.models.adopt",
    "report": "featviz.report.writeup",
    "atlas": "featviz.report.atlas",
    "pdf": "featviz.report.pdf",
}


def command_module(command: str, study: str | None = None) -> str | None:
    """The module a ``featviz`` command runs: its study's for ``study``, else from
    :data:`COMMANDS` (None for a command that makes no file of the workflow)."""
    return f"{PACKAGE}.studies.{study}" if command == "study" else COMMANDS.get(command)


def module_path(module: str) -> Path | None:
    """The source file of a featviz module (a package's ``__init__.py``), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _imported(module: str) -> frozenset[str]:
    """The featviz modules ``module``'s source imports, anywhere in it (each source is read
    once a process: the Snakefile asks for the closures of every study, which share most of
    their modules)."""
    path = module_path(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # ``from featviz import metrics`` imports a module, not a name
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if module_path(m) is not None)


@functools.cache
def closure(module: str) -> tuple[str, ...]:
    """``module`` and every featviz module it can import, directly or not, sorted."""
    if module_path(module) is None:
        raise ValueError(f"'{module}' is not a module of {PACKAGE} (looked under {ROOT}).")
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        # Only what is named: a parent package runs on import too, but what it holds (the
        # studies' registry, re-exports) reaches a job's outputs only through what it names.
        todo += sorted(_imported(current))
    return tuple(sorted(seen))


def digests(module: str) -> dict[str, str]:
    """The SHA-256 of each module of ``module``'s closure, by module name."""
    return {m: hashlib.sha256(module_path(m).read_bytes()).hexdigest() for m in closure(module)}


def version(module: str) -> str:
    """One digest of ``module``'s whole closure (its modules' names and contents)."""
    joined = "\n".join(f"{m} {d}" for m, d in digests(module).items())
    return hashlib.sha256(joined.encode()).hexdigest()[:16]

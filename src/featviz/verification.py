"""Re-check the provenance chain of a results tree, from the raw downloads to the report.

``featviz provenance verify [DIR]`` reads every record (``*.prov.json``) under
``DIR``'s ``resources/``, ``results/`` and ``report/`` and reports every broken
link, naming the file and the record:

- a record that is not one (unreadable, or missing its fields);
- a file whose SHA-256 differs from its record's (a changed pixel, a changed
  array), or that is gone (a stale record);
- a file with no record of its own (a caption file, or a file of a folder a
  record covers, such as the atlas: listed by no record), or an output of a job
  that is gone although the job's other records list it; files the run's git
  repository tracks (``report/README.md``) are sources and need none;
- an input of a record that no record produced with that content (the chain
  from the downloads is broken), or a download whose checksum is not the
  canonical one;
- a recorded git commit that featviz's checkout does not have, or a record made
  from a checkout with uncommitted changes (unless allowed);
- records that saw two versions of one featviz module (:mod:`featviz.code_version`):
  a report whose figures come from different code;
- with a configuration, a record made with settings that differ from what the
  configuration asks for now (an edited config value), and a target it asks for that
  the run lacks (a job's manifest, the report, the atlas).

Paths in records are relative to the working directory of the run; they are
resolved against ``DIR``, so a tree can be verified from anywhere and after it
moved.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from featviz.provenance import SUFFIX, code_directory, sha256_file
from featviz.results import CAPTION_SUFFIX

#: The folders of a run that hold its files and records.
TREES = ("resources", "results", "report")
#: The file Snakemake leaves in a directory output (the atlas) to date it.
SNAKEMAKE_MARKER = ".snakemake_timestamp"
#: Fields every record has.
REQUIRED = ("schema", "artifact", "sha256", "inputs", "params", "git")
#: What each field of a record holds: a checker and its description.
_SHAPES: dict[str, tuple[Any, str]] = {
    "artifact": (lambda v: isinstance(v, str), "a path"),
    "sha256": (lambda v: isinstance(v, str), "a SHA-256 string"),
    "inputs": (lambda v: _paths_to_digests(v), "an object of path: SHA-256"),
    "outputs": (lambda v: _paths_to_digests(v), "an object of path: SHA-256"),
    "params": (lambda v: isinstance(v, dict), "an object"),
    "git": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "covers": (
        lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v),
        "a list of folders",
    ),
    "code": (
        lambda v: isinstance(v, dict) and _paths_to_digests(v.get("modules")),
        "an object whose modules map module: SHA-256",
    ),
}


def _paths_to_digests(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def shape_problem(rec: Any) -> str | None:
    """What makes ``rec`` not a record: a missing field, or one that holds the wrong kind of
    value (naming what it holds and what it should); None for a well-formed record."""
    if not isinstance(rec, dict):
        return f"not a provenance record: a JSON {type(rec).__name__}, expected an object"
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        return f"not a provenance record: lacks {', '.join(missing)}"
    for key, (fits, what) in _SHAPES.items():
        if key in rec and not fits(rec[key]):
            got = type(rec[key]).__name__
            return f"not a provenance record: '{key}' holds a {got}, expected {what}"
    return None


@dataclass(frozen=True)
class Problem:
    """One broken link: the file it concerns, the record that says so, what is wrong."""

    path: str
    record: str | None
    message: str

    def __str__(self) -> str:
        where = f" (record {self.record})" if self.record and self.record != self.path else ""
        return f"{self.path}: {self.message}{where}"


#: The messages of problems a rerun of the job that makes the file mends: the file is gone.
GONE = (
    "missing: the record is stale",
    "an output of this job that is gone",
    "missing: the configuration asks for it, and the run did not make it",
)


def remake_advice(
    problems: list[Problem], configfiles: list[str] | None, directory: str | Path = "."
) -> str | None:
    """The commands that make the files ``problems`` found gone again, or None.

    Snakemake does not remake a deleted file that no target it was asked for needs anew
    (the report is newer than its inputs), so the files are named as targets, and a whole
    run afterwards remakes what reads them.
    """
    from featviz.workflow import ATLAS

    # the atlas is one folder output: Snakemake makes it whole
    gone = sorted(
        {ATLAS if p.path.startswith(f"{ATLAS}/") else p.path for p in problems if p.message in GONE}
    )
    if not gone:
        return None
    config = f" --configfile {' '.join(configfiles or ['<your config>'])}"
    where = f" -d {directory}" if Path(directory).resolve() != Path.cwd().resolve() else ""
    shown = " ".join(gone)
    # the targets before --configfile, which takes every word after it
    return (
        f"{len(gone)} file{'s are' if len(gone) != 1 else ' is'} gone. Make "
        f"{'them' if len(gone) != 1 else 'it'} again, then what reads "
        f"{'them' if len(gone) != 1 else 'it'}:\n"
        f"  snakemake --cores 2{where} {shown}{config}\n"
        f"  snakemake --cores 2{where}{config}"
    )


@cache
def commit_exists(commit: str) -> bool:
    """Whether featviz's checkout has ``commit``."""
    try:
        done = subprocess.run(
            ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
            cwd=code_directory(),
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def tracked_files(root: Path) -> set[str]:
    """Files of ``root``'s trees that a git repository at ``root`` tracks: sources (a
    folder's README), not results, so they need no record."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "--", *TREES],
            cwd=root,
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if done.returncode != 0:
        return set()
    return {name for name in done.stdout.decode("utf-8", "replace").split("\0") if name}


def load_records(root: Path) -> tuple[dict[Path, dict[str, Any]], list[Problem]]:
    """Every record under ``root``'s trees, by its own path; and those that are not records."""
    records, problems = {}, []
    for tree in TREES:
        for path in sorted((root / tree).rglob(f"*{SUFFIX}")):
            name = str(path.relative_to(root))
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                problems.append(Problem(name, name, f"not a readable provenance record ({err})"))
                continue
            problem = shape_problem(rec)
            if problem:
                problems.append(Problem(name, name, problem))
                continue
            records[path] = rec
    return records, problems


def verify_tree(
    root: str | Path,
    config: Mapping[str, Any] | None = None,
    allow_dirty: bool = False,
) -> tuple[int, list[Problem]]:
    """Check the chain of the run in ``root`` (see the module docstring).

    Returns:
        How many records were read, and every problem found (none: the chain holds).

    Raises:
        ValueError: ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        what = "a file" if root.exists() else "missing"
        raise ValueError(
            f"{root}: {what}; expected the run's working directory (the folder holding "
            f"{', '.join(TREES)})."
        )
    records, problems = load_records(root)
    produced: dict[str, str] = {}
    for rec in records.values():
        produced[rec["artifact"]] = rec["sha256"]
        for path, digest in rec.get("outputs", {}).items():
            produced.setdefault(path, digest)
    hashes: dict[str, str | None] = {}

    def digest_of(path: str) -> str | None:
        if path not in hashes:
            file = root / path
            hashes[path] = sha256_file(file) if file.is_file() else None
        return hashes[path]

    own = {rec["artifact"] for rec in records.values()}
    covered = tuple(f"{folder}/" for rec in records.values() for folder in rec.get("covers", []))
    for rec_path, rec in records.items():
        name = str(rec_path.relative_to(root))
        artifact = rec["artifact"]
        actual = digest_of(artifact)
        if actual is None:
            problems.append(Problem(artifact, name, "missing: the record is stale"))
        elif actual != rec["sha256"]:
            problems.append(
                Problem(
                    artifact, name, f"SHA-256 {actual} differs from the recorded {rec['sha256']}"
                )
            )
        for path, recorded in rec.get("outputs", {}).items():
            now = digest_of(path)
            if now is None:
                problems.append(Problem(path, name, "an output of this job that is gone"))
            elif now != recorded and path not in own:
                problems.append(
                    Problem(
                        path,
                        name,
                        f"an output of this job whose SHA-256 {now} differs "
                        f"from the recorded {recorded}",
                    )
                )
        canonical = rec["params"].get("canonical_sha256")
        if canonical is not None and actual is not None and actual != canonical:
            problems.append(
                Problem(
                    artifact, name, f"a download whose SHA-256 is not the canonical {canonical}"
                )
            )
        for path, recorded in rec["inputs"].items():
            now = digest_of(path) if not Path(path).is_absolute() else _digest(path)
            if now is None:
                problems.append(Problem(path, name, "an input that is missing"))
            elif now != recorded:
                problems.append(
                    Problem(
                        path,
                        name,
                        f"an input whose SHA-256 {now} differs from the recorded {recorded}",
                    )
                )
            elif _inside(path) and produced.get(path) != recorded:
                problems.append(
                    Problem(
                        path,
                        name,
                        "an input that no record produced with this content: "
                        "the chain is broken here",
                    )
                )
        git = rec["git"] or {}
        if git.get("commit") and not commit_exists(git["commit"]):
            problems.append(
                Problem(
                    artifact,
                    name,
                    f"made by commit {git['commit']}, which featviz's checkout does not have",
                )
            )
        if git.get("dirty") and not allow_dirty:
            problems.append(
                Problem(artifact, name, "made from a checkout with uncommitted changes")
            )
    sources = tracked_files(root)
    for tree in TREES:
        for file in sorted((root / tree).rglob("*")):
            rel = str(file.relative_to(root))
            if not file.is_file() or rel.endswith(SUFFIX) or rel in own or rel in sources:
                continue
            if file.name == SNAKEMAKE_MARKER:
                continue  # Snakemake's timestamp of a directory output, not a result
            if not (rel.endswith(CAPTION_SUFFIX) or rel.startswith(covered)):
                problems.append(Problem(rel, None, "no provenance record of its own"))
            elif rel not in produced:
                problems.append(Problem(rel, None, "no record lists it"))
    problems += check_code(records, root)
    if config is not None:
        problems += check_settings(records, root, config)
        problems += check_targets(root, config)
    return len(records), merge(problems)


def check_targets(root: Path, config: Mapping[str, Any]) -> list[Problem]:
    """What the configuration asks the run to make and ``root`` lacks: every job's manifest,
    the report and the atlas. (A run that failed, or that a second run in the same folder
    deleted, passes every other check: its remaining files are consistent.)"""
    import contextlib

    from featviz import workflow as plan

    with contextlib.chdir(root):  # a model file's path is relative to the run's folder
        try:
            wanted = [*plan.report_manifests(config), *plan.report_targets(), plan.ATLAS]
        except (ValueError, OSError) as err:
            return [Problem(".", None, f"the configuration's targets cannot be planned: {err}")]
    wanted = [f"{t}/index.html" if t == plan.ATLAS else t for t in wanted]
    # the PDF is made only where LaTeX is installed: the machine verifying may differ
    return [
        Problem(target, None, "missing: the configuration asks for it, and the run did not make it")
        for target in wanted
        if not target.endswith(".pdf") and not (root / target).is_file()
    ]


def check_code(records: Mapping[Path, Mapping[str, Any]], root: Path) -> list[Problem]:
    """Records that saw two versions of one featviz module: the run mixes code.

    Each record lists the digest of every featviz module its command could import. Where
    records disagree on a module, the version most records saw is taken as the run's, and
    each record made with another is named (a job that Snakemake was told not to rerun, or
    files copied in from another run).
    """
    seen: dict[str, dict[str, list[Path]]] = {}
    for path, rec in records.items():
        for module, digest in (rec.get("code") or {}).get("modules", {}).items():
            seen.setdefault(module, {}).setdefault(digest, []).append(path)
    problems = []
    for module, versions in sorted(seen.items()):
        if len(versions) < 2:
            continue
        usual = max(versions, key=lambda d: (len(versions[d]), d))
        for digest, paths in sorted(versions.items()):
            if digest == usual:
                continue
            for path in paths:
                problems.append(
                    Problem(
                        records[path]["artifact"],
                        str(path.relative_to(root)),
                        f"made by another version of {module} (SHA-256 {digest[:12]}) than "
                        f"{len(versions[usual])} other records of this run "
                        f"({usual[:12]}): the run mixes code; rerun it",
                    )
                )
    return problems


def merge(problems: list[Problem]) -> list[Problem]:
    """One problem per file and message, naming the first record and how many more say so."""
    grouped: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        grouped.setdefault((p.path, p.message), []).append(p)
    merged = []
    for (path, message), same in grouped.items():
        more = len(same) - 1
        note = f" and {more} more record{'s' if more > 1 else ''}" if more else ""
        record = same[0].record + note if same[0].record else None
        merged.append(Problem(path, record, message))
    return merged


def _inside(path: str) -> bool:
    return Path(path).parts[:1] in [(t,) for t in TREES]


def _digest(path: str) -> str | None:
    file = Path(path)
    return sha256_file(file) if file.is_file() else None


def check_settings(
    records: Mapping[Path, Mapping[str, Any]], root: Path, config: Mapping[str, Any]
) -> list[Problem]:
    """Records whose job read other settings than ``config`` gives it now."""
    from featviz import workflow as plan
    from featviz.settings import validate_section

    problems, seen = [], set()
    for rec_path, rec in records.items():
        params = rec["params"]
        study, job = params.get("study"), params.get("job")
        model, dataset = params.get("model"), params.get("dataset")
        if not (study and job and model and dataset) or (study, job, model, dataset) in seen:
            continue
        seen.add((study, job, model, dataset))
        if study not in config or model not in config["models"]:
            continue
        expected = validate_section(
            study, json.loads(plan.job_settings_json(config, study, model, job))
        )
        expected = {k: v for k, v in expected.items() if k in params[study]}
        changed = sorted(k for k in params[study] if expected.get(k) != params[study][k])
        if changed:
            key = changed[0]
            problems.append(
                Problem(
                    rec["artifact"],
                    str(rec_path.relative_to(root)),
                    f"made with {study}.{key} = {params[study][key]!r}, but the configuration "
                    f"now gives {expected.get(key)!r}: rerun the workflow",
                )
            )
    return problems

"""The work behind each ``featviz`` subcommand: parse its settings, call the package, and
say what it produced (an :class:`Outcome`) so that the command can record its provenance.

Science settings arrive as one JSON argument (a config section, or one job's slice of it)
and are validated, defaults included, by ``config/schema.yaml``: no command holds a
default of its own.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featviz.results import Result, manifest_path, publish
from featviz.settings import (
    merge_config_files,
    parse_json,
    validate_config,
    validate_definition,
    validate_section,
)


@dataclass
class Outcome:
    """What a command produced, for its provenance records."""

    files: list[Path] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    result: Result | None = None
    #: Folders whose every file is listed in the record of ``files`` and has no record of
    #: its own (the atlas's pages and pictures).
    covers: list[Path] = field(default_factory=list)


Handler = Callable[[argparse.Namespace], Outcome]


def _inputs(*paths: str | None) -> list[Path]:
    return [Path(p) for p in paths if p]


# --- data ----------------------------------------------------------------------------------------


def _dataset(args: argparse.Namespace):
    from featviz.data.catalog import resolve

    entry = validate_definition(
        "dataset", parse_json(args.entry, "--entry"), f"datasets.{args.dataset}"
    )
    return entry, resolve(args.dataset, entry)


def cmd_download(args: argparse.Namespace) -> Outcome:
    from featviz.data.download import fetch

    _, spec = _dataset(args)
    out = Path(args.out)
    remote = spec.file_named(out.name)
    fetch(remote, out, mirrors=spec.mirrors, local_mirror=spec.local_mirror)
    print(f"{out}: verified (SHA-256 {remote.sha256})", file=sys.stderr)
    params = {"dataset": args.dataset, "file": remote.name, "canonical_sha256": remote.sha256}
    if remote.md5:
        params["canonical_md5"] = remote.md5
    return Outcome([out], [], params)


def cmd_prepare(args: argparse.Namespace) -> Outcome:
    from featviz.data.download import verify
    from featviz.data.prepare import prepare

    entry, spec = _dataset(args)
    raw = {}
    for path in args.raw:
        remote = spec.file_named(Path(path).name)
        verify(path, remote)  # never read a file that does not match the catalog
        raw[remote.role] = path
    sizes = prepare(
        spec,
        args.out,
        raw or None,
        validation_fraction=entry["validation_fraction"],
        seed=entry["seed"],
        n_train=entry["n_train"],
        n_test=entry["n_test"],
    )
    print(f"{args.out}: {sizes}", file=sys.stderr)
    return Outcome(
        files=[Path(args.out)],
        inputs=_inputs(*args.raw),
        params={"dataset": args.dataset, "entry": entry},
        result=Result("prepare", args.dataset, seeds={"split_seed": entry["seed"]}),
    )


# --- models --------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> Outcome:
    from featviz.models.spec import Architecture
    from featviz.models.train import train

    where = f"models.{args.model_name}" if args.model_name else "--architecture"
    entry = validate_definition(
        "architecture", parse_json(args.architecture, "--architecture"), where
    )
    settings = validate_section("train", parse_json(args.settings, "--settings"))
    label = f"{args.model_name or 'the model'}{f' on {args.dataset}' if args.dataset else ''}"
    result = train(args.data, Architecture.from_config(entry, where), args.out_dir, settings, label)
    print(f"test accuracy {result.numbers['test_accuracy']:.4f}", file=sys.stderr)
    files = publish(result, manifest_path(args.out_dir, result.job))
    return Outcome(files, _inputs(args.data), {"architecture": entry, "train": settings}, result)


def cmd_train_prior(args: argparse.Namespace) -> Outcome:
    from featviz.models.prior import train_prior

    settings = validate_section("prior", parse_json(args.settings, "--settings"))
    result = train_prior(args.data, args.out_dir, settings, args.dataset or "the data")
    print(f"test reconstruction MSE {result.numbers['test_mse']:.5f}", file=sys.stderr)
    files = publish(result, manifest_path(args.out_dir, result.job))
    return Outcome(files, _inputs(args.data), {"prior": settings}, result)


def cmd_import_model(args: argparse.Namespace) -> Outcome:
    from featviz.models.adopt import adopt

    where = f"models.{args.model_name}" if args.model_name else "--entry"
    entry = validate_definition("model_file", parse_json(args.entry, "--entry"), where)
    result = adopt(entry, args.data, args.out_dir)
    print(f"test accuracy {result.numbers['test_accuracy']:.4f}", file=sys.stderr)
    return Outcome(list(result.files), _inputs(entry["path"], args.data), {"model": entry}, result)


# --- studies -------------------------------------------------------------------------------------


def cmd_study(args: argparse.Namespace) -> Outcome:
    from featviz import studies
    from featviz.studies.base import EXTRA_INPUTS, Job

    study = studies.get(args.name)
    settings = study.validate(parse_json(args.settings, "--settings"))
    extras, shards = {}, {}
    for item in args.input or []:
        name, sep, path = item.partition("=")
        known = [*EXTRA_INPUTS, *study.reads]
        kind, _, key = name.partition(":")
        if not sep or (name not in known and not (key and kind in ("metrics", "shard"))):
            raise ValueError(
                f"--input {item!r}: expected NAME=PATH with NAME one of {', '.join(known)} "
                "(or metrics:<variant>:<seed> for a retrained model, shard:<key> for a "
                "shard of the job)."
            )
        if kind == "shard":
            shards[key] = Path(path)
        else:
            extras[name] = Path(path)
    job = Job(
        key=args.job,
        model=Path(args.model),
        out_dir=Path(args.out_dir),
        data=Path(args.data) if args.data else None,
        extras=extras,
        dataset=args.dataset or "",
        model_name=args.model_name or "",
        shards=shards,
    )
    params = {
        "study": study.name,
        "job": job.key,
        "dataset": job.dataset,
        "model": job.model_name,
        study.name: settings,
    }
    inputs = _inputs(args.model, args.data, *map(str, [*extras.values(), *shards.values()]))
    if args.shard:
        return Outcome([study.execute_shard(job, settings, args.shard)], inputs, params)
    result, files = study.execute(job, settings)
    return Outcome(files, inputs, params, result)


# --- report / provenance -------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> Outcome:
    from featviz.io import write_json
    from featviz.provenance import SCHEMA, collect
    from featviz.report.writeup import write_report

    write_report(
        args.out,
        manifests=args.manifests,
        metrics=args.metrics,
        title=args.title,
        generated=args.generated,
    )
    out = Path(args.out)
    manifest = out.with_name("provenance.json")
    records = collect([*args.manifests, *args.metrics])
    write_json(manifest, {"schema": SCHEMA, "records": records})
    if shutil.which("latexmk") is None:
        print(
            f"latexmk not found: {out.with_suffix('.pdf')} is not built; install LaTeX "
            "(Debian: texlive-latex-base texlive-latex-recommended lmodern latexmk).",
            file=sys.stderr,
        )
    return Outcome(
        [out, out.with_suffix(".tex"), manifest],
        _inputs(*args.manifests, *args.metrics),
        {"title": args.title},
    )


def cmd_atlas(args: argparse.Namespace) -> Outcome:
    from featviz.report.atlas import build_atlas

    files = build_atlas(
        args.out,
        manifests=args.manifests,
        metrics=args.metrics,
        data=args.data,
        models=args.models,
        report=args.report,
        title=args.title,
    )
    size = sum(f.stat().st_size for f in files)
    pages = sum(f.suffix == ".html" for f in files)
    print(f"{args.out}: {pages} pages, {len(files)} files, {size / 1e6:.1f} MB", file=sys.stderr)
    index = Path(args.out) / "index.html"
    return Outcome(
        [index],
        _inputs(*args.manifests, *args.metrics, *args.data, *args.models, args.report),
        {"title": args.title},
        covers=[Path(args.out)],
    )


def cmd_pdf(args: argparse.Namespace) -> Outcome:
    from featviz.report.pdf import build_pdf

    pdf = build_pdf(args.tex)
    print(f"{pdf}: {pdf.stat().st_size:,} bytes", file=sys.stderr)
    return Outcome([pdf], _inputs(args.tex))


def cmd_times(args: argparse.Namespace) -> Outcome:
    from featviz.io import write_json
    from featviz.run_times import describe, read_jobs, summary

    figures = summary(read_jobs(args.directory), args.workers, args.job_overhead)
    print(describe(figures))
    if args.json:
        write_json(args.json, figures)
    return Outcome()


def cmd_provenance(args: argparse.Namespace) -> Outcome:
    from featviz.verification import remake_advice, verify_tree

    config = None
    if args.configfile:
        config = validate_config(merge_config_files(args.configfile), " + ".join(args.configfile))
    count, problems = verify_tree(args.directory, config, allow_dirty=args.allow_dirty)
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"{count} records read, {len(problems)} problems")
    advice = remake_advice(problems, args.configfile, args.directory)
    if advice:
        print(advice)
    if not count and not problems:
        from featviz.verification import TREES

        here = [t for t in TREES if (Path(args.directory) / t).is_dir()]
        why = (
            f"its {', '.join(here)} hold{'s' if len(here) == 1 else ''} no *.prov.json record"
            if here
            else f"it has none of {', '.join(TREES)}"
        )
        print(
            f"Nothing was verified: {args.directory} is not a run's working directory ({why}).",
            file=sys.stderr,
        )
    if problems or not count:
        raise SystemExit(1)
    return Outcome()

"""The ``featviz`` command: one subcommand per stage of the workflow.

Each subcommand parses its arguments, calls one function of the package and
writes provenance records beside what it produced. Science settings arrive as
one JSON argument (a config section, or one job's slice of it) and are
validated, defaults included, by ``config/schema.yaml``: the command holds no
default of its own. Expected errors (bad input, a missing file, a failed
download, a diverged optimization) end in one line naming what was wrong and
exit code 1 (set ``FEATVIZ_TRACEBACK=1`` to see where it was raised too);
anything else keeps its traceback for the job's log. Either way a failed command
takes back every file it wrote, so it leaves no output and no provenance record.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner out of logs

from featviz import __version__  # noqa: E402
from featviz.errors import FeatvizError  # noqa: E402
from featviz.io import Written, recording  # noqa: E402
from featviz.results import CAPTION_SUFFIX, Result, manifest_path, publish  # noqa: E402
from featviz.settings import (  # noqa: E402
    load_config_file,
    parse_json,
    validate_config,
    validate_definition,
    validate_name,
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
    extras = {}
    for item in args.input or []:
        name, sep, path = item.partition("=")
        known = [*EXTRA_INPUTS, *study.reads]
        if not sep or (name not in known and not name.startswith("metrics:")):
            raise ValueError(
                f"--input {item!r}: expected NAME=PATH with NAME one of {', '.join(known)} "
                "(or metrics:<variant>:<seed> for a retrained model)."
            )
        extras[name] = Path(path)
    job = Job(
        key=args.job,
        model=Path(args.model),
        out_dir=Path(args.out_dir),
        data=Path(args.data) if args.data else None,
        extras=extras,
        dataset=args.dataset or "",
        model_name=args.model_name or "",
    )
    result, files = study.execute(job, settings)
    params = {
        "study": study.name,
        "job": job.key,
        "dataset": job.dataset,
        "model": job.model_name,
        study.name: settings,
    }
    return Outcome(
        files, _inputs(args.model, args.data, *map(str, extras.values())), params, result
    )


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
    write_json(manifest, {"schema": SCHEMA, "records": collect(".", ("resources", "results"))})
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


def cmd_provenance(args: argparse.Namespace) -> Outcome:
    from featviz.verification import verify_tree

    config = None
    if args.configfile:
        config = validate_config(load_config_file(args.configfile), args.configfile)
    count, problems = verify_tree(args.directory, config, allow_dirty=args.allow_dirty)
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"{count} records read, {len(problems)} problems")
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


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from featviz.studies import REGISTRY

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--rule", help="Snakemake rule running this command (recorded in provenance)."
    )
    common.add_argument(
        "--threads", type=int, default=0, help="CPU threads for TensorFlow (0: its default)."
    )

    parser = argparse.ArgumentParser(prog="featviz", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"featviz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def naming(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", help="The dataset's name (captions, report tables).")
        p.add_argument("--model-name", help="The model's name (captions, report tables).")

    def entry(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", required=True, help="Dataset name (its key in the config).")
        p.add_argument(
            "--entry",
            required=True,
            help="The dataset's config entry as JSON (kind, local_mirror, seed, ...).",
        )

    p = add("download", cmd_download, "Fetch one published file, verified against its checksums.")
    entry(p)
    p.add_argument("--out", required=True, help="Destination; its file name selects the file.")

    p = add(
        "prepare",
        cmd_prepare,
        "Read raw files (or generate data) into one .npz with a validation split.",
    )
    entry(p)
    p.add_argument("--raw", nargs="*", default=[], help="Verified raw files of the dataset.")
    p.add_argument("--out", required=True, help="The .npz to write.")

    p = add("train", cmd_train, "Train a CNN on a prepared dataset.")
    p.add_argument("--data", required=True, help="Prepared .npz.")
    p.add_argument(
        "--architecture",
        required=True,
        help="The model's config entry as JSON (conv_filters, ...).",
    )
    p.add_argument(
        "--settings", required=True, help="The config's train section as JSON ('{}': defaults)."
    )
    p.add_argument("--out-dir", required=True)
    naming(p)

    p = add("train-prior", cmd_train_prior, "Train a dataset's learned prior (an autoencoder).")
    p.add_argument("--data", required=True, help="Prepared .npz.")
    p.add_argument(
        "--settings", required=True, help="The config's prior section as JSON ('{}': defaults)."
    )
    p.add_argument("--out-dir", required=True)
    p.add_argument("--dataset", help="The dataset's name (caption).")

    p = add(
        "import-model",
        cmd_import_model,
        "Take a .keras model trained elsewhere: verify, check against the data, evaluate.",
    )
    p.add_argument(
        "--entry", required=True, help="The model's config entry as JSON (path, sha256)."
    )
    p.add_argument("--data", required=True, help="Prepared .npz it is evaluated on.")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--model-name", help="The model's name (in messages).")

    p = add("study", cmd_study, "Run one job of a study: " + ", ".join(REGISTRY) + ".")
    p.add_argument("name", choices=REGISTRY, help="The study.")
    p.add_argument("--model", required=True, help="The .keras model.")
    p.add_argument("--data", help="Prepared .npz (test images, class names, spectrum).")
    p.add_argument(
        "--input",
        action="append",
        default=None,
        metavar="NAME=PATH",
        help="Another input the study reads: judge=<judge .keras>, prior=<decoder .keras>, "
        "filters=<the filters study's .npz of the same job>.",
    )
    p.add_argument("--job", required=True, help="The job: a layer, or <layer>-<a>-<b> for joint.")
    p.add_argument("--out-dir", required=True, help="The study's folder for this model.")
    p.add_argument(
        "--settings",
        required=True,
        help="The study's config section (or the job's slice) as JSON; '{}' takes the defaults.",
    )
    naming(p)

    p = add("report", cmd_report, "Assemble report.md from the jobs' manifests.")
    p.add_argument("--out", required=True)
    p.add_argument("--manifests", nargs="+", required=True, help="Job manifests, in report order.")
    p.add_argument("--metrics", nargs="*", default=[], help="metrics.json files of the models.")
    p.add_argument("--title", required=True)
    p.add_argument(
        "--generated",
        nargs="*",
        default=[],
        help="Datasets that are generated, not real; the report says so.",
    )

    p = add("atlas", cmd_atlas, "Build the atlas: a static site with a page for every unit.")
    p.add_argument("--out", required=True, help="The atlas's folder (replaced whole).")
    p.add_argument(
        "--manifests", nargs="+", required=True, help="Manifests of the studies' jobs it shows."
    )
    p.add_argument("--metrics", nargs="*", default=[], help="metrics.json files of the models.")
    p.add_argument("--data", nargs="+", required=True, help="Prepared dataset.npz files.")
    p.add_argument("--models", nargs="+", required=True, help="The models' .keras files.")
    p.add_argument("--report", help="The report the index links to (copied in).")
    p.add_argument("--title", required=True, help="The index's title.")

    p = add("pdf", cmd_pdf, "Build the report's PDF from its .tex with latexmk.")
    p.add_argument("tex", help="The report's .tex (its figures' PDFs where it links them).")

    p = add(
        "provenance",
        cmd_provenance,
        "Verify the provenance chain of a run: every hash, every link, every record.",
    )
    p.add_argument("action", choices=["verify"])
    p.add_argument(
        "directory", nargs="?", default=".", help="The run's working directory (default: here)."
    )
    p.add_argument(
        "--configfile", help="Also check that every job ran with the settings this config gives."
    )
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="Accept records made from a checkout with uncommitted changes.",
    )
    return parser


#: Errors that mean bad input or a run that cannot go on, not a bug: reported in one line.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, FeatvizError)

#: Folders whose files a failed command leaves in place: a training's checkpoint, which the
#: next run takes up (it is no output, and the training clears it when it cannot be used).
KEPT_ON_FAILURE = ("checkpoint",)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``featviz`` command.

    A command that fails takes back every file it wrote (and the folders it made), so a
    failed job leaves neither an output nor a provenance record behind.
    """
    args = build_parser().parse_args(argv)
    if args.threads:
        _limit_threads(args.threads)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with recording() as written:
        try:
            _check_output_location(args)
            _check_names(args)
            outcome = args.handler(args)
            _write_records(args, outcome, started)
        except Exception as err:
            _take_back(written)
            if not isinstance(err, EXPECTED_ERRORS):
                raise
            if os.environ.get("FEATVIZ_TRACEBACK"):
                traceback.print_exc()
            print(f"featviz {args.command}: error: {describe(err, args)}", file=sys.stderr)
            return 1
    return 0


def _write_records(args: argparse.Namespace, outcome: Outcome, started: str) -> None:
    """Write the provenance record of every file ``outcome`` lists."""
    if not outcome.files:
        return
    from featviz.code_version import command_module
    from featviz.provenance import record, write_sidecars

    result = outcome.result
    base = record(
        code=command_module(args.command, getattr(args, "name", None)),
        rule=args.rule,
        params=outcome.params,
        seeds=result.seeds if result else {},
        inputs=outcome.inputs,
        outputs=[
            *outcome.files,
            *sorted(f for d in outcome.covers for f in d.rglob("*") if f.is_file()),
        ],
        started=started,
    )
    if outcome.covers:
        base["covers"] = [str(folder) for folder in outcome.covers]
    captions = {f.png: f.caption for f in result.figures} if result else {}
    # A caption file's text is in the figure's own record; it needs none of its own.
    recorded = [f for f in outcome.files if not f.name.endswith(CAPTION_SUFFIX)]
    write_sidecars(recorded, base, captions)


#: The options naming where a command writes: a folder, or a file (whose folder must be one).
OUTPUT_OPTIONS = {"out_dir": "--out-dir", "out": "--out"}


def _check_output_location(args: argparse.Namespace) -> None:
    """Refuse an output location that cannot be written before any work is done.

    Raises:
        NotADirectoryError: a file stands where a folder of the path must be.
        PermissionError: the nearest existing folder refuses a new file (read-only).
        IsADirectoryError: ``--out`` names a folder where a file is written.
    """
    for attr, option in OUTPUT_OPTIONS.items():
        value = getattr(args, attr, None)
        if not value:
            continue
        path = Path(value)
        folder = path if attr == "out_dir" or args.command == "atlas" else path.parent
        for part in (folder, *folder.parents):
            if part.exists() and not part.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR,
                    f"{option} {value}: {part} is a file; expected a folder "
                    f"(or a path where one can be made) to write into",
                )
        existing = next(p for p in (folder, *folder.parents) if p.is_dir())
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as err:
            raise PermissionError(
                err.errno,
                f"{option} {value}: cannot write into {existing} ({err.strerror.lower()}); "
                "expected a folder this user may write",
            ) from None
        if attr == "out" and path.is_dir() and args.command != "atlas":
            raise IsADirectoryError(
                errno.EISDIR, f"{option} {value}: is a folder; expected a file name to write"
            )


def _check_names(args: argparse.Namespace) -> None:
    """A dataset's name follows the rule the config's ``datasets`` keys follow."""
    if getattr(args, "dataset", None):
        validate_name("datasets", args.dataset, "--dataset")


def _take_back(written: Written) -> None:
    """Remove what a failed command wrote: its files, their records, the folders it made."""
    for path in written.files:
        if any(part in KEPT_ON_FAILURE for part in path.parts[:-1]):
            continue
        for stale in (path, path.with_name(path.name + ".prov.json")):
            with contextlib.suppress(OSError):
                stale.unlink(missing_ok=True)
    for folder in sorted(set(written.folders), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: a kept checkpoint keeps its folders


#: What a failed file operation met, said plainly, by ``errno``.
OS_PROBLEMS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "exists already, and is not a folder",
    errno.EACCES: "permission denied (expected a path this user may read or write)",
    errno.EPERM: "operation not permitted (expected a path this user may write)",
    errno.EROFS: "on a read-only file system (expected a writable folder)",
    errno.ENOSPC: "no space left on the device",
}


def describe(err: BaseException, args: argparse.Namespace | None = None) -> str:
    """``err`` as one line; an OS error names the path, the option it came from and the
    problem in plain words (never ``[Errno 20]``)."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        path = str(err.filename)
        option = _option_of(path, args)
        line = f"{path}: {OS_PROBLEMS.get(err.errno, err.strerror.lower())}"
        if err.filename2 is not None:
            line += f" (with {err.filename2})"
        return f"{option} {line}" if option else line
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    line = _one_line(text) or type(err).__name__
    # "<path>: ..." where the path is an option's value: say which option gave it.
    head = line.split(": ", 1)[0]
    option = _option_of(head, args, exact=True) if head != line else None
    return f"{option} {line}" if option else line


def _one_line(text: str) -> str:
    """A message of several lines as one: a line ending in ':' runs on, others end in ';'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out = lines[0] if lines else ""
    for line in lines[1:]:
        out += (" " if out.endswith((":", ";", ",")) else "; ") + line
    return out


def _option_of(path: str, args: argparse.Namespace | None, exact: bool = False) -> str | None:
    """The option whose value is ``path`` or (unless ``exact``) the nearest folder above it."""
    if args is None:
        return None
    best: tuple[int, str] | None = None
    for attr, value in vars(args).items():
        if attr in ("rule", "command", "name", "action", "directory", "tex"):
            continue  # not paths, or positionals (no option to name)
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, str) or Path(v) == Path("."):
                continue
            if path == v or (not exact and Path(path).is_relative_to(v)):
                depth = 1000 if path == v else len(Path(v).parts)
                if best is None or depth > best[0]:
                    best = (depth, "--" + attr.replace("_", "-"))
    return best[1] if best else None


def _limit_threads(n: int) -> None:
    """Keep TensorFlow within the cores Snakemake gave this job."""
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)


if __name__ == "__main__":
    raise SystemExit(main())

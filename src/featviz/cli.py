"""The ``featviz`` command: one subcommand per stage of the workflow.

Each subcommand parses its arguments, calls one function of the package
(:mod:`featviz.commands`) and writes provenance records beside what it produced. The
``study`` subcommand's choices come from the studies' registry and its help from their
sections of ``config/schema.yaml``. Expected errors end in one line naming what was wrong
and exit code 1 (set ``FEATVIZ_TRACEBACK=1`` to see where it was raised too); anything
else keeps its traceback for the job's log. Either way a failed command takes back every
file it wrote (:mod:`featviz.failures`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner out of logs

from featviz import __version__, commands, lean_import, stopping  # noqa: E402
from featviz.failures import (  # noqa: E402
    EXPECTED_ERRORS,
    check_names,
    check_output_location,
    describe,
    take_back,
)
from featviz.io import recording  # noqa: E402
from featviz.results import CAPTION_SUFFIX  # noqa: E402

Option = tuple[str, dict[str, Any]]


def _required(help_text: str, **more: Any) -> dict[str, Any]:
    return {"required": True, "help": help_text, **more}


#: Options several commands share.
ENTRY: list[Option] = [
    ("--dataset", _required("Dataset name (its key in the config).")),
    ("--entry", _required("The dataset's config entry as JSON (kind, local_mirror, seed, ...).")),
]
NAMING: list[Option] = [
    ("--dataset", {"help": "The dataset's name (captions, report tables)."}),
    ("--model-name", {"help": "The model's name (captions, report tables)."}),
]
DATA: Option = ("--data", _required("Prepared .npz."))
OUT_DIR: Option = ("--out-dir", {"required": True})
METRICS: Option = ("--metrics", {"nargs": "*", "default": [], "help": "The models' metrics.json."})


def _settings_help(section: str) -> Option:
    return ("--settings", _required(f"The config's {section} section as JSON ('{{}}': defaults)."))


def _study_help() -> str:
    """Each registered study with the first sentence of its schema section."""
    from featviz.settings import schema
    from featviz.studies import REGISTRY

    sections = schema()["properties"]
    lines = []
    for name in REGISTRY:
        text = " ".join(str(sections[name].get("description", "")).split())
        first = text.split(". ")[0].split(": ")[0].rstrip(".")
        lines += textwrap.wrap(
            first, 96, initial_indent=f"  {name:<12} ", subsequent_indent=" " * 15
        )
    return "studies:\n" + "\n".join(lines)


def commands_table() -> dict[str, tuple[commands.Handler, str, list[Option]]]:
    """Every subcommand: its handler, its help and its options."""
    from featviz.studies import REGISTRY

    return {
        "download": (
            commands.cmd_download,
            "Fetch one published file, verified against its checksums.",
            [*ENTRY, ("--out", _required("Destination; its file name selects the file."))],
        ),
        "prepare": (
            commands.cmd_prepare,
            "Read raw files (or generate data) into one .npz with a validation split.",
            [
                *ENTRY,
                ("--raw", {"nargs": "*", "default": [], "help": "Verified raw files."}),
                ("--out", _required("The .npz to write.")),
            ],
        ),
        "train": (
            commands.cmd_train,
            "Train a CNN on a prepared dataset.",
            [
                DATA,
                ("--architecture", _required("The model's config entry as JSON.")),
                _settings_help("train"),
                OUT_DIR,
                *NAMING,
            ],
        ),
        "train-prior": (
            commands.cmd_train_prior,
            "Train a dataset's learned prior (an autoencoder).",
            [DATA, _settings_help("prior"), OUT_DIR, ("--dataset", {"help": "For the caption."})],
        ),
        "import-model": (
            commands.cmd_import_model,
            "Take a .keras model trained elsewhere: verify, check against the data, evaluate.",
            [
                ("--entry", _required("The model's config entry as JSON (path, sha256).")),
                ("--data", _required("Prepared .npz it is evaluated on.")),
                OUT_DIR,
                ("--model-name", {"help": "The model's name (in messages)."}),
            ],
        ),
        "study": (
            commands.cmd_study,
            "Run one job of a study.",
            [
                ("name", {"choices": REGISTRY, "help": "The study."}),
                ("--model", _required("The .keras model.")),
                ("--data", {"help": "Prepared .npz (test images, class names, spectrum)."}),
                (
                    "--input",
                    {
                        "action": "append",
                        "default": None,
                        "metavar": "NAME=PATH",
                        "help": "Another input the study reads: judge=<judge .keras>, "
                        "prior=<decoder .keras>, filters=<the filters study's .npz>, "
                        "shard:<key>=<a shard's archive>, ...",
                    },
                ),
                ("--job", _required("The job: a layer, or <layer>-<a>-<b> for joint.")),
                (
                    "--shard",
                    {
                        "help": "Run only this shard of the job and write its archive to "
                        "<out-dir>/shards/<job>/<shard>.npz (the ablation's jobs split).",
                    },
                ),
                ("--out-dir", _required("The study's folder for this model.")),
                (
                    "--settings",
                    _required("The study's config section (or the job's slice) as JSON."),
                ),
                *NAMING,
            ],
        ),
        "report": (
            commands.cmd_report,
            "Assemble report.md from the jobs' manifests.",
            [
                ("--out", {"required": True}),
                ("--manifests", _required("Job manifests, in report order.", nargs="+")),
                METRICS,
                ("--title", {"required": True}),
                ("--generated", {"nargs": "*", "default": [], "help": "Generated datasets."}),
            ],
        ),
        "atlas": (
            commands.cmd_atlas,
            "Build the atlas: a static site with a page for every unit.",
            [
                ("--out", _required("The atlas's folder (replaced whole).")),
                ("--manifests", _required("Manifests of the jobs it shows.", nargs="+")),
                METRICS,
                ("--data", _required("Prepared dataset.npz files.", nargs="+")),
                ("--models", _required("The models' .keras files.", nargs="+")),
                ("--report", {"help": "The report the index links to (copied in)."}),
                ("--title", _required("The index's title.")),
            ],
        ),
        "pdf": (
            commands.cmd_pdf,
            "Build the report's PDF from its .tex with latexmk.",
            [("tex", {"help": "The report's .tex (its figures' PDFs beside it)."})],
        ),
        "provenance": (
            commands.cmd_provenance,
            "Verify the provenance chain of a run: every hash, every link, every record.",
            [
                ("action", {"choices": ["verify"]}),
                ("directory", {"nargs": "?", "default": ".", "help": "The run's folder."}),
                (
                    "--configfile",
                    {
                        "nargs": "+",
                        "help": "Also check every job's settings against the configuration "
                        "these files make, merged as Snakemake merges them.",
                    },
                ),
                (
                    "--allow-dirty",
                    {"action": "store_true", "help": "Accept records of uncommitted code."},
                ),
            ],
        ),
        "times": (
            commands.cmd_times,
            "What a finished run cost, from its records: each rule's seconds, the critical "
            "path, and the wall time on more workers.",
            [
                ("directory", {"nargs": "?", "default": ".", "help": "The run's folder."}),
                (
                    "--workers",
                    {
                        "type": int,
                        "nargs": "+",
                        "default": [2, 8, 32],
                        "help": "Single-core workers to project the run onto (default 2 8 32).",
                    },
                ),
                (
                    "--job-overhead",
                    {
                        "type": float,
                        "default": 0.0,
                        "help": "Seconds each job costs besides its own (a cluster's queue).",
                    },
                ),
                ("--json", {"help": "Also write the figures to this JSON file."}),
            ],
        ),
    }


#: The subcommands that run TensorFlow (``--threads`` limits it); those that load Keras
#: (imported lean: :mod:`featviz.lean_import`); and those that write no file, so no
#: provenance record (``--rule`` names the rule in records).
USES_TENSORFLOW = frozenset({"train", "train-prior", "import-model", "study"})
USES_KERAS = USES_TENSORFLOW | {"atlas"}
WRITES_NOTHING = frozenset({"provenance", "times"})


def build_parser() -> argparse.ArgumentParser:
    """The ``featviz`` parser, from :func:`commands_table`: each subcommand offers only the
    common options that apply to it."""
    rule = argparse.ArgumentParser(add_help=False)
    rule.add_argument("--rule", help="Snakemake rule running this command (for provenance).")
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument(
        "--threads", type=int, default=0, help="CPU threads for TensorFlow (0: its default)."
    )
    parser = argparse.ArgumentParser(
        prog="featviz", description="The featviz command: one subcommand per stage of the workflow."
    )
    parser.add_argument("--version", action="version", version=f"featviz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, help_text, options) in commands_table().items():
        parents = [] if name in WRITES_NOTHING else [rule]
        parents += [threads] if name in USES_TENSORFLOW else []
        p = sub.add_parser(
            name,
            parents=parents,
            help=help_text,
            description=help_text,
            epilog=_study_help() if name == "study" else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler, rule=None, threads=0)
        for flag, kwargs in options:
            p.add_argument(flag, **kwargs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``featviz`` command.

    A command that fails takes back every file it wrote (and the folders it made), so a
    failed job leaves neither an output nor a provenance record behind.
    """
    args = build_parser().parse_args(argv)
    if args.threads:
        _limit_threads(args.threads)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with recording() as written, stopping.handled(stopping.stop):
        try:
            check_output_location(args)
            check_names(args)
            if args.command in USES_KERAS:
                lean_import.import_keras()
            outcome = args.handler(args)
            stopping.check()
            _write_records(args, outcome, started)
            stopping.check()
        except stopping.Stopped as stop:
            with stopping.handled(signal.SIG_IGN):
                take_back(written)
            print(
                f"featviz {args.command}: stopped by {stop.name}; the files it had written "
                "and their records were removed (run it again to make them).",
                file=sys.stderr,
            )
            return 128 + stop.signum
        except Exception as err:
            take_back(written)
            if not isinstance(err, EXPECTED_ERRORS):
                raise
            if os.environ.get("FEATVIZ_TRACEBACK"):
                traceback.print_exc()
            print(f"featviz {args.command}: error: {describe(err, args)}", file=sys.stderr)
            return 1
    return 0


def _write_records(args: argparse.Namespace, outcome: commands.Outcome, started: str) -> None:
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


#: The variables that bound TensorFlow's threads: within an op (oneDNN's OpenMP and
#: TensorFlow's own pool) and between ops. Left alone, the pool that runs independent ops
#: side by side has a thread per core of the machine, so a one-thread job could take a
#: second core from the job beside it. The bits are the same either way (measured on the
#: demo's trainings and renders).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def _limit_threads(n: int) -> None:
    """Keep TensorFlow and NumPy within the cores Snakemake gave this job.

    The variables reach the libraries loaded from here on; NumPy's BLAS is loaded already
    (it read its thread count at import), so threadpoolctl bounds it in place. Without
    that a job started by hand with ``--threads 1`` summed NumPy's matrix products in
    another order than the same job under Snakemake, which sets the variables before
    Python starts: the redundancy study's correlations differed in their last bits.
    """
    from threadpoolctl import threadpool_limits

    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    threadpool_limits(limits=n)


if __name__ == "__main__":
    raise SystemExit(main())

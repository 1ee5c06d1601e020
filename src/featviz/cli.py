"""The ``featviz`` command: one subcommand per stage of the workflow.

Each subcommand parses its arguments, calls one function of the package,
writes provenance records beside what it produced, and exits non-zero with
a one-paragraph message on bad input. Snakemake rules call these commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner out of logs

from featviz import __version__  # noqa: E402

Handler = Callable[[argparse.Namespace], "Outcome"]


class Outcome:
    """What a command produced, for its provenance records."""

    def __init__(
        self,
        artifacts: Sequence[str | Path],
        inputs: Sequence[str | Path],
        seeds: dict[str, int] | None = None,
        captions: dict[Path, str] | None = None,
    ) -> None:
        self.artifacts = [Path(a) for a in artifacts]
        self.inputs = [Path(i) for i in inputs]
        self.seeds = seeds or {}
        self.captions = captions or {}


# --- download / prepare ------------------------------------------------------------------------


def _spec(args: argparse.Namespace):
    from featviz.data.catalog import resolve

    return resolve(args.dataset, json.loads(args.entry))


def cmd_download(args: argparse.Namespace) -> Outcome:
    from featviz.data.download import fetch

    spec = _spec(args)
    out = Path(args.out)
    remote = spec.file_named(out.name)
    fetch(remote, out, mirrors=spec.mirrors, local_mirror=spec.local_mirror)
    print(f"{out}: verified (SHA-256 {remote.sha256})", file=sys.stderr)
    return Outcome([], [])


def cmd_prepare(args: argparse.Namespace) -> Outcome:
    from featviz.data.download import verify
    from featviz.data.prepare import prepare

    spec = _spec(args)
    raw = {}
    for path in args.raw:
        remote = spec.file_named(Path(path).name)
        verify(path, remote)  # never read a file that does not match the catalog
        raw[remote.role] = path
    sizes = prepare(
        spec,
        args.out,
        raw or None,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        n_train=args.n_train,
        n_test=args.n_test,
    )
    print(f"{args.out}: {sizes}", file=sys.stderr)
    return Outcome([args.out], args.raw, {"split_seed": args.seed})


# --- train -------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> Outcome:
    from featviz.models.spec import Architecture
    from featviz.models.train import train

    arch = Architecture.from_config(json.loads(args.architecture))
    metrics = train(
        args.data,
        arch,
        args.out_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        max_train=args.max_train,
    )
    print(f"test accuracy {metrics['test_accuracy']:.4f}", file=sys.stderr)
    out = Path(args.out_dir)
    artifacts = [
        out / n
        for n in (
            "model.keras",
            "history.json",
            "metrics.json",
            "training_curve.png",
            "training_curve.pdf",
        )
    ]
    caption = (
        f"Training of {args.label}: loss and accuracy per epoch on the training and "
        f"validation splits ({args.epochs} epochs, batch {args.batch_size}, Adam lr "
        f"{args.learning_rate:g}, seed {args.seed}); test accuracy "
        f"{metrics['test_accuracy']:.2%}."
    )
    return Outcome(
        artifacts, [args.data], {"train_seed": args.seed}, {out / "training_curve.png": caption}
    )


# --- visualize ---------------------------------------------------------------------------------


def cmd_activations(args: argparse.Namespace) -> Outcome:
    from featviz.studies.activations import run

    png, pdf = run(args.model, args.data, args.layer, args.out_dir, args.images)
    caption = (
        f"Feature maps of {args.layer} of {args.label} for {args.images} test images (one "
        "per class first): the input, then every channel tiled; grey scale from 0 to the "
        "image's largest activation in the layer."
    )
    return Outcome(
        [png, pdf, png.with_suffix(".npz")], [args.model, args.data], captions={png: caption}
    )


def cmd_render(args: argparse.Namespace) -> Outcome:
    from featviz.studies.filters import run

    indices = None if args.indices == "all" else [int(i) for i in args.indices.split(",")]
    artifacts, how = run(
        args.model,
        args.layer,
        args.out_dir,
        indices=indices,
        steps=args.steps,
        learning_rate=args.learning_rate,
        seed=args.seed,
        batch_size=args.batch_size,
        sort=args.sort == "objective",
        settings=json.loads(args.recipe),
    )
    which = "every filter" if indices is None else f"filters {args.indices}"
    caption = (
        f"Images that maximize the mean activation of {which} of {args.layer} of "
        f"{args.label}: {args.steps} Adam steps at learning rate {args.learning_rate:g} "
        f"from seed {args.seed}; {how}. Each image is titled with the filter "
        "index and the objective reached; grey (or RGB) scale fixed to the input range "
        f"[0, 1]{', sorted by objective' if args.sort == 'objective' else ''}."
    )
    png = Path(args.out_dir) / f"{args.layer}.png"
    return Outcome(
        [*artifacts, Path(args.out_dir) / f"{args.layer}.npz"],
        [args.model],
        {"render_seed": args.seed},
        {png: caption},
    )


# --- report / provenance -----------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> Outcome:
    from featviz.report.writeup import write_report

    write_report(
        args.out,
        figures=args.figures,
        metrics=args.metrics,
        title=args.title,
        generated=args.generated,
    )
    return Outcome([args.out], [*args.figures, *args.metrics])


def cmd_provenance(args: argparse.Namespace) -> Outcome:
    from featviz.provenance import SUFFIX, verify

    records = []
    for target in args.paths:
        path = Path(target)
        records += sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]
    failed = 0
    for rec in records:
        problems = verify(rec)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {rec}")
        for p in problems:
            print(f"     {p}")
    print(f"{len(records) - failed} verified, {failed} failed")
    if failed or not records:
        raise SystemExit(1)
    return Outcome([], [])


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--rule", help="Snakemake rule running this command (recorded in provenance)."
    )
    common.add_argument(
        "--threads", type=int, default=0, help="CPU threads for TensorFlow (0: its default)."
    )
    common.add_argument(
        "--label",
        default="the model",
        help="How captions name the model, e.g. 'cnn3 on synthetic-digits'.",
    )

    parser = argparse.ArgumentParser(prog="featviz", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"featviz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    dataset_args = argparse.ArgumentParser(add_help=False)
    dataset_args.add_argument(
        "--dataset", required=True, help="Dataset name (its key in the config)."
    )
    dataset_args.add_argument(
        "--entry",
        required=True,
        help="The dataset's config entry as JSON (kind, local_mirror, ...).",
    )

    p = add("download", cmd_download, "Fetch one published file, verified against its checksums.")
    p._add_container_actions(dataset_args)
    p.add_argument("--out", required=True, help="Destination; its file name selects the file.")

    p = add(
        "prepare",
        cmd_prepare,
        "Read raw files (or generate data) into one .npz with a validation split.",
    )
    p._add_container_actions(dataset_args)
    p.add_argument("--raw", nargs="*", default=[], help="Verified raw files of the dataset.")
    p.add_argument("--out", required=True, help="The .npz to write.")
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0, help="Seeds the split (and the generator).")
    p.add_argument(
        "--n-train",
        type=int,
        default=0,
        help="Training examples to generate, or cap on real ones (0: all).",
    )
    p.add_argument(
        "--n-test",
        type=int,
        default=0,
        help="Test examples to generate, or cap on real ones (0: all).",
    )

    p = add("train", cmd_train, "Train a CNN on a prepared dataset.")
    p.add_argument("--data", required=True, help="Prepared .npz.")
    p.add_argument(
        "--architecture", required=True, help="Architecture as JSON (conv_filters, ...)."
    )
    p.add_argument("--out-dir", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-train", type=int, default=0, help="Use only the first N training examples (0: all)."
    )

    p = add("activations", cmd_activations, "Feature maps of a conv layer for chosen test images.")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--layer", required=True, help="A conv layer, e.g. conv1.")
    p.add_argument("--out-dir", required=True)
    p.add_argument(
        "--images", type=int, default=3, help="Number of test images (one per class first)."
    )

    p = add("render", cmd_render, "Activation-maximizing images for filters or units of a layer.")
    p.add_argument("--model", required=True)
    p.add_argument("--layer", required=True)
    p.add_argument("--indices", default="all", help="'all' or comma-separated filter indices.")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--sort", choices=["index", "objective"], default="index")
    p.add_argument(
        "--recipe",
        default="{}",
        help="Parameterization, transforms and regularizers as JSON, e.g. "
        '\'{"parameterization": "fourier", "transforms": "auto", '
        '"regularizers": {"l2": 0.05}}\'.',
    )

    p = add(
        "report", cmd_report, "Assemble report.md from figures (captions from their provenance)."
    )
    p.add_argument("--out", required=True)
    p.add_argument("--figures", nargs="+", required=True, help="PNG figures, in report order.")
    p.add_argument("--metrics", nargs="*", default=[], help="metrics.json files of trained models.")
    p.add_argument("--title", default="featviz report")
    p.add_argument(
        "--generated",
        nargs="*",
        default=[],
        help="Datasets that are generated, not real; the report says so.",
    )

    p = add("provenance", cmd_provenance, "Verify provenance records (files or directories).")
    p.add_argument("action", choices=["verify"])
    p.add_argument("paths", nargs="+")
    return parser


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    FileNotFoundError,
    RuntimeError,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``featviz`` command."""
    args = build_parser().parse_args(argv)
    if args.threads:
        _limit_threads(args.threads)
    try:
        outcome = args.handler(args)
    except EXPECTED_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"featviz {args.command}: error: {message}", file=sys.stderr)
        return 1
    if outcome.artifacts:
        from featviz.provenance import record, write_sidecars

        params = _params(args)
        base = record(rule=args.rule, params=params, seeds=outcome.seeds, inputs=outcome.inputs)
        write_sidecars(outcome.artifacts, base, outcome.captions)
    return 0


def _limit_threads(n: int) -> None:
    """Keep TensorFlow within the cores Snakemake gave this job."""
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    skip = {"handler", "rule", "command", "threads"}
    params = {}
    for key, value in vars(args).items():
        if key in skip:
            continue
        if isinstance(value, str) and value.startswith("{"):
            value = json.loads(value)  # JSON arguments were parsed already, so they are valid
        params[key] = value
    return params


if __name__ == "__main__":
    raise SystemExit(main())

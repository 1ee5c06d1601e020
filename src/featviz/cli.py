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


def _class_names(args: argparse.Namespace) -> list[str] | None:
    """Class names from the prepared dataset given with --data, if any."""
    if not getattr(args, "data", None):
        return None
    from featviz.data.prepare import load_prepared

    return [str(c) for c in load_prepared(args.data)["class_names"]]


def _inputs(args: argparse.Namespace) -> list[str]:
    return [args.model, *([args.data] if getattr(args, "data", None) else [])]


def _indices(text: str) -> list[int] | None:
    return None if text == "all" else [int(i) for i in text.split(",")]


def cmd_render(args: argparse.Namespace) -> Outcome:
    from featviz.studies.filters import run

    indices = _indices(args.indices)
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
        class_names=_class_names(args),
        restarts=args.restarts,
    )
    classes = args.layer == args.logits_layer
    which = (
        "every class" if classes else "every unit" if indices is None else f"units {args.indices}"
    )
    what = "the logit" if classes else "the mean activation"
    caption = (
        f"Images that maximize {what} of {which} of {args.layer} of {args.label}: "
        f"{args.steps} Adam steps at learning rate {args.learning_rate:g} from seed {args.seed}"
        f"{f', best of {args.restarts} restarts' if args.restarts > 1 else ''}; "
        f"{how}. Each image is titled with its {'class' if classes else 'index'} and the "
        "objective reached; grey (or RGB) scale fixed to the input range "
        f"[0, 1]{', sorted by objective' if args.sort == 'objective' else ''}."
    )
    png = Path(args.out_dir) / f"{args.layer}.png"
    return Outcome(
        [*artifacts, Path(args.out_dir) / f"{args.layer}.npz"],
        _inputs(args),
        {"render_seed": args.seed},
        {png: caption},
    )


def cmd_convergence(args: argparse.Namespace) -> Outcome:
    from featviz.studies.convergence import run

    artifacts, summary = run(
        args.model,
        args.layer,
        args.out_dir,
        count=args.count,
        steps=args.steps,
        record_every=args.record_every,
        learning_rate=args.learning_rate,
        seed=args.seed,
        window=args.window,
        tolerance=args.tolerance,
        settings=json.loads(args.recipe),
        class_names=_class_names(args),
        budget=args.budget,
    )
    rising = f", {summary['not_plateaued']} still rising" if summary["not_plateaued"] else ""
    reached = (
        f"median plateau at step {summary['median_plateau']:,.0f}, "
        f"latest {summary['max_plateau']:,}"
        if summary["max_plateau"] is not None
        else "no objective plateaued"
    )
    caption = (
        f"Convergence at {args.layer} of {args.label}: the objective of "
        f"{summary['objectives']} "
        f"{'classes' if args.layer == args.logits_layer else 'sampled units'}"
        f" against the step, recorded every {args.record_every} of {args.steps:,} Adam steps "
        f"(lr {args.learning_rate:g}, seed {args.seed}; {summary['recipe']}). Dots mark the "
        f"plateau: the first step after which the objective rises by at most "
        f"{args.tolerance:.0%} over the next {args.window:.0%} of the run; {reached}{rising}."
    )
    png = Path(args.out_dir) / f"{args.layer}.png"
    return Outcome(
        [*artifacts, png.with_suffix(".npz")],
        _inputs(args),
        {"render_seed": args.seed},
        {png: caption},
    )


def cmd_joint(args: argparse.Namespace) -> Outcome:
    from featviz.studies.joint import run_joint

    filters = [int(f) for f in args.filters.split(",")]
    artifacts, how = run_joint(
        args.model,
        args.layer,
        filters,
        args.out_dir,
        weights=args.weights,
        divisions=args.divisions,
        steps=args.steps,
        learning_rate=args.learning_rate,
        seed=args.seed,
        settings=json.loads(args.recipe),
    )
    names = " and ".join(f"{args.layer}:{f}" for f in filters)
    stem = Path(args.out_dir) / f"{args.layer}-{'-'.join(map(str, filters))}"
    if len(filters) == 2:
        sweep = ", ".join(f"{w:g}" for w in args.weights)
        captions = {
            stem.with_suffix(".png"): (
                f"Filters {names} of {args.label} maximized together as w·{args.layer}:"
                f"{filters[0]} + (1 − w)·{args.layer}:{filters[1]} for w = {sweep}: "
                f"{args.steps} Adam steps (lr {args.learning_rate:g}, seed {args.seed}; {how}); "
                "grey (or RGB) scale fixed to [0, 1]."
            ),
            Path(f"{stem}_tradeoff.png"): (
                f"Trade-off between {names} of {args.label}: each filter's own mean activation "
                "on the image optimized for each weight w of the sweep."
            ),
        }
    else:
        captions = {
            stem.with_suffix(".png"): (
                f"Filters {names} of {args.label} maximized together with weights on a simplex "
                f"({args.divisions} divisions), each image placed at its barycentric weights: "
                f"{args.steps} Adam steps (lr {args.learning_rate:g}, seed {args.seed}; {how})."
            ),
            Path(f"{stem}_tradeoff.png"): (
                f"Trade-off between {names} of {args.label}: each filter's own mean activation "
                "on the image optimized for each point of the simplex."
            ),
        }
    return Outcome(
        [*artifacts, stem.with_suffix(".npz")], [args.model], {"render_seed": args.seed}, captions
    )


def cmd_directions(args: argparse.Namespace) -> Outcome:
    from featviz.studies.joint import run_directions

    artifacts, how = run_directions(
        args.model,
        args.layer,
        args.out_dir,
        count=args.count,
        steps=args.steps,
        learning_rate=args.learning_rate,
        seed=args.seed,
        settings=json.loads(args.recipe),
    )
    png = Path(args.out_dir) / f"{args.layer}.png"
    caption = (
        f"{args.count} random directions in the activation space of {args.layer} of {args.label} "
        f"(unit vectors drawn with seed {args.seed}), each maximized as the projection of the "
        f"layer's mean activation: {args.steps} Adam steps (lr {args.learning_rate:g}; {how}); "
        "titled with the projection reached."
    )
    return Outcome(
        [*artifacts, png.with_suffix(".npz")],
        [args.model],
        {"direction_seed": args.seed},
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
        convergence=args.convergence,
    )
    return Outcome([args.out], [*args.figures, *args.metrics, *args.convergence])


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

    def render_options(p: argparse.ArgumentParser, steps: int) -> None:
        p.add_argument("--model", required=True)
        p.add_argument("--layer", required=True)
        p.add_argument("--out-dir", required=True)
        p.add_argument("--steps", type=int, default=steps)
        p.add_argument("--learning-rate", type=float, default=0.05)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--recipe",
            default="{}",
            help="Parameterization, transforms and regularizers as JSON, e.g. "
            '\'{"parameterization": "fourier", "transforms": "auto", '
            '"regularizers": {"l2": 0.05}}\'.',
        )
        p.add_argument("--data", help="Prepared .npz, for class names.")
        p.add_argument("--logits-layer", default="", help="The model's logits layer (captions).")

    p = add("render", cmd_render, "Activation-maximizing images for filters or units of a layer.")
    render_options(p, steps=256)
    p.add_argument("--indices", default="all", help="'all' or comma-separated filter indices.")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--sort", choices=["index", "objective"], default="index")
    p.add_argument("--restarts", type=int, default=1, help="Start images per unit; best is kept.")

    p = add("convergence", cmd_convergence, "Objective against step for a sample of units.")
    render_options(p, steps=20000)
    p.add_argument("--count", type=int, default=4, help="Units sampled (all classes at logits).")
    p.add_argument("--record-every", type=int, default=100)
    p.add_argument("--window", type=float, default=0.1, help="Plateau look-ahead, share of run.")
    p.add_argument("--tolerance", type=float, default=0.01, help="Plateau: largest relative rise.")
    p.add_argument("--budget", type=int, help="A step count to mark (the seed's 20 000).")

    p = add("joint", cmd_joint, "Two filters along a weight sweep, or three on a simplex.")
    render_options(p, steps=512)
    p.add_argument("--filters", required=True, help="Two or three comma-separated filters.")
    p.add_argument(
        "--weights", type=float, nargs="+", default=[round(0.1 * i, 1) for i in range(11)]
    )
    p.add_argument("--divisions", type=int, default=4, help="Simplex divisions (three filters).")

    p = add("directions", cmd_directions, "Random directions in a layer's activation space.")
    render_options(p, steps=512)
    p.add_argument("--count", type=int, default=8)

    p = add(
        "report", cmd_report, "Assemble report.md from figures (captions from their provenance)."
    )
    p.add_argument("--out", required=True)
    p.add_argument("--figures", nargs="+", required=True, help="PNG figures, in report order.")
    p.add_argument("--metrics", nargs="*", default=[], help="metrics.json files of trained models.")
    p.add_argument("--convergence", nargs="*", default=[], help="Convergence tables (CSV).")
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

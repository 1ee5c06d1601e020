"""Write ``report.md``: a model table and numbered figures with captions.

Captions and numbers are read from the rule outputs (each figure's
provenance record and each model's ``metrics.json``), never typed by hand.
Figures are grouped into sections by the study that made them, in the
order given.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import jinja2
import numpy as np

from featviz import __version__
from featviz.io import read_json, write_text
from featviz.provenance import git_state, sidecar_path

SECTIONS = {
    "train": "Training",
    "activations": "Feature maps of the convolutional layers",
    "convergence": "How many steps? Convergence of the objective",
    "joint": "Filters maximized together",
    "filters": "Filters and units that maximize their activation",
    "classes": "Classes",
    "directions": "Random directions in activation space",
}
SEED_BUDGET = 20000  # optimization steps the seed study chose


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _study_of(record: dict) -> str:
    """The study a figure belongs to: the rule in its provenance record (classes apart)."""
    rule = record.get("rule") or ""
    params = record.get("params", {})
    if (
        rule == "filters"
        and params.get("layer")
        and params.get("layer") == params.get("logits_layer")
    ):
        return "classes"
    return rule if rule in SECTIONS else "other"


def convergence_summary(tables: Sequence[str | Path]) -> tuple[list[dict], str]:
    """Per dataset, model and layer: plateau steps; and what they say of the seed's 20 000 steps."""
    rows = []
    for path in map(Path, tables):
        with open(path, newline="") as fh:
            records = list(csv.DictReader(fh))
        if not records:
            continue
        plateaus = [int(r["plateau_step"]) for r in records if r["plateau_step"]]
        rows.append(
            {
                "dataset": path.parent.parent.parent.name,
                "model": path.parent.parent.name,
                "layer": records[0]["layer"],
                "objectives": len(records),
                "steps": int(records[0]["steps"]),
                "median": int(np.median(plateaus)) if plateaus else None,
                "latest": max(plateaus) if plateaus else None,
                "rising": len(records) - len(plateaus),
                "live": f"{records[0].get('live_units', '?')} of {records[0].get('units', '?')}",
            }
        )
    if not rows:
        return rows, ""
    run = max(r["steps"] for r in rows)
    rising = sum(r["rising"] for r in rows)
    latest = max((r["latest"] for r in rows if r["latest"] is not None), default=None)
    total = sum(r["objectives"] for r in rows)
    if rising:
        verdict = (
            f"{rising} of {total} objectives were still rising at the end of the "
            f"{run:,}-step run, so these runs cannot confirm that {SEED_BUDGET:,} steps "
            "suffice"
            + (
                " (the runs are shorter than the seed's)."
                if run < SEED_BUDGET
                else f": {SEED_BUDGET:,} steps are too few for them."
            )
        )
    elif latest is not None and latest <= SEED_BUDGET:
        verdict = (
            f"Every one of the {total} objectives plateaued within the {run:,}-step run, by step "
            f"{latest:,} at the latest, within the seed's {SEED_BUDGET:,} steps: the seed's "
            "choice is confirmed on these models"
            + (
                f" (about {SEED_BUDGET // max(latest, 1):,}x what the slowest one needed by "
                "this criterion)."
                if latest * 2 <= SEED_BUDGET
                else "."
            )
        )
    else:
        verdict = (
            f"The objectives plateaued by step {latest:,}, later than the seed's "
            f"{SEED_BUDGET:,} steps: its choice is not confirmed on these models."
        )
    return rows, verdict


def write_report(
    out: str | Path,
    *,
    figures: Sequence[str | Path],
    metrics: Sequence[str | Path],
    title: str,
    generated: Sequence[str] = (),
    convergence: Sequence[str | Path] = (),
) -> Path:
    """Render the Markdown report to ``out``.

    Args:
        out: ``report.md`` path; figure links are relative to its folder.
        figures: PNG figures in report order; each must have a provenance
            record with a caption.
        metrics: ``results/<dataset>/<model>/metrics.json`` files.
        title: the report's title.
        generated: names of datasets that are generated, flagged in the report.
        convergence: the convergence study's per-layer tables, summarized in the report.
    """
    out = Path(out)
    here = out.parent
    here.mkdir(parents=True, exist_ok=True)
    models = []
    for path in metrics:
        path = Path(path)
        models.append(
            {"dataset": path.parent.parent.name, "model": path.parent.name, **read_json(path)}
        )

    sections: dict[str, list[dict]] = {}
    for fig in map(Path, figures):
        record = sidecar_path(fig)
        if not record.exists():
            raise FileNotFoundError(f"{fig}: no provenance record {record.name} beside it.")
        provenance = read_json(record)
        caption = provenance.get("caption")
        if not caption:
            raise ValueError(f"{fig}: its provenance record {record} has no caption.")
        sections.setdefault(_study_of(provenance), []).append(
            {
                "path": _relative(fig, here),
                "pdf": _relative(fig.with_suffix(".pdf"), here),
                "provenance": _relative(record, here),
                "caption": caption,
            }
        )
    # Number after grouping, so numbers run in reading order whatever the input order.
    order = list(SECTIONS)
    keys = sorted(sections, key=lambda k: order.index(k) if k in order else len(order))
    ordered = [
        {"key": k, "title": SECTIONS.get(k, "Other figures"), "figures": sections[k]} for k in keys
    ]
    for number, fig in enumerate((f for s in ordered for f in s["figures"]), start=1):
        fig["number"] = number
    plateaus, verdict = convergence_summary(convergence)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("featviz.report", "templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    text = env.get_template("report.md.j2").render(
        title=title,
        version=__version__,
        git=git_state(),
        models=models,
        sections=ordered,
        generated=list(generated),
        plateaus=plateaus,
        verdict=verdict,
        budget=SEED_BUDGET,
    )
    write_text(out, text)
    return out

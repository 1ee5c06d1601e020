"""Write ``report.md``: a model table and numbered figures with captions.

Captions and numbers are read from the rule outputs (each figure's
provenance record and each model's ``metrics.json``), never typed by hand.
Figures are grouped into sections by the study that made them, in the
order given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import jinja2

from featviz import __version__
from featviz.io import read_json, write_text
from featviz.provenance import git_state, sidecar_path

SECTIONS = {
    "train": "Training",
    "activations": "Feature maps of the convolutional layers",
    "filters": "Filters that maximize their mean activation",
}


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _study_of(figure: Path) -> str:
    """The study a figure belongs to: the rule recorded in its provenance."""
    rule = read_json(sidecar_path(figure)).get("rule") or ""
    return rule if rule in SECTIONS else "other"


def write_report(
    out: str | Path,
    *,
    figures: Sequence[str | Path],
    metrics: Sequence[str | Path],
    title: str,
    generated: Sequence[str] = (),
) -> Path:
    """Render the Markdown report to ``out``.

    Args:
        out: ``report.md`` path; figure links are relative to its folder.
        figures: PNG figures in report order; each must have a provenance
            record with a caption.
        metrics: ``results/<dataset>/<model>/metrics.json`` files.
        title: the report's title.
        generated: names of datasets that are generated, flagged in the report.
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
        caption = json.loads(record.read_text(encoding="utf-8")).get("caption")
        if not caption:
            raise ValueError(f"{fig}: its provenance record {record} has no caption.")
        sections.setdefault(_study_of(fig), []).append(
            {
                "path": _relative(fig, here),
                "pdf": _relative(fig.with_suffix(".pdf"), here),
                "provenance": _relative(record, here),
                "caption": caption,
            }
        )
    # Number after grouping, so numbers run in reading order whatever the input order.
    ordered = [
        {"title": SECTIONS.get(k, "Other figures"), "figures": v} for k, v in sections.items()
    ]
    for number, fig in enumerate((f for s in ordered for f in s["figures"]), start=1):
        fig["number"] = number
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
    )
    write_text(out, text)
    return out

"""Write the report: a model table and numbered figures with captions, section by section.

One set of Jinja2 templates writes ``report.md``; ``report.tex`` is that Markdown
converted by :mod:`featviz.report.latex`, so every sentence exists once.

Everything is read from the rule outputs: figures, captions and numbers from the
jobs' manifests (:mod:`featviz.results`), accuracies from each model's
``metrics.json``. Sections follow the registry of studies (training first); a
study that gathers numbers over its jobs (:meth:`~featviz.studies.base.Study.summarize`)
gets them at the top of its section through its template
``templates/sections/<section>.md.j2``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from featviz import __version__, studies
from featviz.io import read_json, write_text
from featviz.provenance import git_state, sidecar_path
from featviz.report.latex import to_latex
from featviz.report.templating import environment
from featviz.results import read_manifest

#: Sections before the studies'.
LEADING_SECTIONS = {"training": "Training"}


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def write_report(
    out: str | Path,
    *,
    manifests: Sequence[str | Path],
    metrics: Sequence[str | Path],
    title: str,
    generated: Sequence[str] = (),
) -> Path:
    """Render the Markdown report to ``out`` and its LaTeX version beside it (``.tex``).

    Args:
        out: ``report.md`` path; figure links are relative to its folder.
        manifests: the jobs' ``*.result.json`` files (training and every study).
        metrics: ``results/<dataset>/<model>/metrics.json`` files.
        title: the report's title.
        generated: names of datasets that are generated, flagged in the report.

    Raises:
        FileNotFoundError: a figure without its provenance record.
        ValueError: a figure of a section no study declares.
    """
    out = Path(out)
    here = out.parent
    here.mkdir(parents=True, exist_ok=True)
    models = []
    for path in map(Path, metrics):
        models.append(
            {"dataset": path.parent.parent.name, "model": path.parent.name, **read_json(path)}
        )
    titles = {**LEADING_SECTIONS, **studies.sections()}
    results = [read_manifest(m) for m in manifests]
    figures: dict[str, list[dict]] = {key: [] for key in titles}
    for result in results:
        for fig in result.figures:
            if fig.section not in figures:
                raise ValueError(
                    f"{fig.png}: report section '{fig.section}' is not one of {', '.join(titles)}."
                )
            record = sidecar_path(fig.png)
            if not record.exists():
                raise FileNotFoundError(f"{fig.png}: no provenance record {record.name} beside it.")
            figures[fig.section].append(
                {
                    "path": _relative(fig.png, here),
                    "pdf": _relative(fig.pdf, here),
                    "provenance": _relative(record, here),
                    "caption": fig.caption,
                }
            )
    summaries = {}
    for study in studies.every():
        summary = study.summarize([r for r in results if r.stage == study.name])
        if summary is not None:
            summaries[next(iter(study.sections))] = summary
    env = environment()
    sections = []
    for key, section_title in titles.items():
        intro = ""
        if key in summaries:
            intro = env.get_template(f"sections/{key}.md.j2").render(**summaries[key])
        if figures[key] or intro:
            sections.append(
                {"key": key, "title": section_title, "intro": intro, "figures": figures[key]}
            )
    numbered = (fig for section in sections for fig in section["figures"])
    for number, fig in enumerate(numbered, start=1):
        fig["number"] = number
    text = env.get_template("report.md.j2").render(
        title=title,
        version=__version__,
        git=git_state(),
        models=models,
        sections=sections,
        generated=list(generated),
    )
    write_text(out, text)
    write_text(out.with_suffix(".tex"), to_latex(text))
    return out

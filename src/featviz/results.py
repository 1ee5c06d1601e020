"""What one job wrote: its figures with their captions, its other files, the numbers it reports.

Every stage that makes figures (training, and each study) returns a
:class:`Result`. :func:`publish` then writes, beside the job's files:

- one caption file per figure (``<stem>.caption.rst``), which the HTML report of
  ``snakemake --report`` includes under the figure;
- the job's manifest (``<job>.result.json``): the figures with their captions and
  report sections, every file, the numbers the job reports and its seeds; the
  Markdown report is built from the manifests.

So a caption is written once, by the code that made the figure from the settings
that made it, and both reports show that text.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featviz.io import read_json, write_json, write_text

MANIFEST_SUFFIX = ".result.json"
CAPTION_SUFFIX = ".caption.rst"


@dataclass(frozen=True)
class Figure:
    """A figure as a PNG (the PDF lies beside it), its caption and its report section."""

    png: Path
    caption: str
    section: str

    @property
    def pdf(self) -> Path:
        return self.png.with_suffix(".pdf")

    @property
    def caption_file(self) -> Path:
        return caption_path(self.png)


@dataclass
class Result:
    """What a job wrote and reports.

    Attributes:
        stage: the study (or ``train``) that ran.
        job: the job's key (a layer name, ``conv1-6-9``, ``training``).
        figures: the figures, each with its caption and report section.
        files: every other file written (arrays, tables, models).
        numbers: the values the report quotes (JSON-able).
        seeds: the random seeds used, by role.
        labels: what the job was run on (``dataset``, ``model``), for report tables.
    """

    stage: str
    job: str
    figures: list[Figure] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def written(self) -> list[Path]:
        """The files the job wrote itself: each figure's PNG and PDF, then the other files."""
        return [p for f in self.figures for p in (f.png, f.pdf)] + [Path(p) for p in self.files]


def caption_path(png: str | os.PathLike[str]) -> Path:
    """Where the caption of the figure ``png`` is written: ``<stem>.caption.rst`` beside it."""
    png = Path(png)
    return png.with_name(png.stem + CAPTION_SUFFIX)


def manifest_path(out_dir: str | os.PathLike[str], job: str) -> Path:
    return Path(out_dir) / f"{job}{MANIFEST_SUFFIX}"


_RST_SPECIAL = re.compile(r"([\\*`|_\[\]])")


def rst_escape(text: str) -> str:
    """``text`` as reStructuredText that reads as written (no markup, no references)."""
    return _RST_SPECIAL.sub(r"\\\1", text)


def publish(result: Result, manifest: str | os.PathLike[str]) -> list[Path]:
    """Write each figure's caption file and the job's manifest.

    Returns:
        Every file of the job: what it wrote, the caption files and the manifest.
    """
    for figure in result.figures:
        write_text(figure.caption_file, rst_escape(figure.caption) + "\n")
    record = {
        "stage": result.stage,
        "job": result.job,
        "labels": result.labels,
        "figures": [
            {
                "png": str(f.png),
                "pdf": str(f.pdf),
                "caption_file": str(f.caption_file),
                "caption": f.caption,
                "section": f.section,
            }
            for f in result.figures
        ],
        "files": [str(p) for p in result.files],
        "numbers": result.numbers,
        "seeds": result.seeds,
    }
    write_json(manifest, record)
    return [*result.written(), *(f.caption_file for f in result.figures), Path(manifest)]


def read_manifest(path: str | os.PathLike[str]) -> Result:
    """The :class:`Result` recorded in a manifest."""
    record = read_json(path)
    return Result(
        stage=record["stage"],
        job=record["job"],
        figures=[Figure(Path(f["png"]), f["caption"], f["section"]) for f in record["figures"]],
        files=[Path(p) for p in record["files"]],
        numbers=record["numbers"],
        seeds=record["seeds"],
        labels=record.get("labels", {}),
    )

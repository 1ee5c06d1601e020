"""Build the report's PDF with ``latexmk``, atomically, with the log kept on failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from featviz.errors import FeatvizError


class LatexError(FeatvizError):
    """pdflatex stopped; the message holds the end of its log."""


def build_pdf(tex: str | Path, timeout: int = 600) -> Path:
    """``latexmk -pdf`` on ``tex`` in its own folder; returns the PDF beside it.

    The build writes under a temporary job name and renames the PDF into place,
    so a failed build leaves no PDF behind; its dates are fixed, so the same
    ``.tex`` and figures give the same bytes.

    Raises:
        FileNotFoundError: latexmk is not installed.
        LatexError: the build failed (with the last lines of the LaTeX log).
    """
    tex = Path(tex)
    if shutil.which("latexmk") is None:
        raise FileNotFoundError(
            "latexmk not found: install LaTeX (Debian: texlive-latex-base "
            "texlive-latex-recommended lmodern latexmk) to build the PDF."
        )
    job = f"{tex.stem}-build"  # TeX will not write files whose names start with a dot
    command = [
        "latexmk",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        f"-jobname={job}",
        tex.name,
    ]
    # pdfTeX dates the file and derives its ID from the time unless told a fixed one.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    done = subprocess.run(
        command, cwd=tex.parent, capture_output=True, text=True, timeout=timeout, env=env
    )
    built = tex.parent / f"{job}.pdf"
    if done.returncode != 0 or not built.exists():
        log = tex.parent / f"{job}.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else done.stdout[-3000:]
        built.unlink(missing_ok=True)
        raise LatexError(f"{tex}: latexmk failed (exit {done.returncode}):\n{tail}")
    pdf = tex.with_suffix(".pdf")
    built.replace(pdf)
    for leftover in tex.parent.glob(f"{job}.*"):
        leftover.unlink()
    return pdf

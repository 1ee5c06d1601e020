"""The LaTeX version of the report, converted from its Markdown so no sentence exists twice.

The report's templates write one small, regular kind of Markdown: a title,
``##``/``###`` headings, paragraphs with ``**bold**``, ``` `code` ``` and
``[links](url)``, ``>`` quotes, pipe tables, and figures written as an image line
followed by a ``**Figure N.**`` caption line. :func:`to_latex` turns exactly
that into a LaTeX document: figures become floats of the vector PDF beside each
PNG, tables ``booktabs`` tabulars, links ``hyperref`` links. Characters LaTeX
treats specially are escaped; the few non-ASCII characters the captions use are
mapped to LaTeX, and any other stops the conversion with its name, rather than
failing later inside ``pdflatex``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage{graphicx}
\usepackage{booktabs}
\usepackage{float}
\usepackage[hidelinks]{hyperref}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6em}
"""

#: Non-ASCII characters the report uses, as LaTeX.
UNICODE = {
    "±": r"$\pm$",
    "—": "---",
    "–": "--",
    "−": "$-$",
    "·": r"$\cdot$",
    "×": r"$\times$",
    "…": r"\ldots{}",
    "°": r"$^\circ$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "≈": r"$\approx$",
    "→": r"$\rightarrow$",
    "τ": r"$\tau$",
    "é": r"\'e",
}
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def escape(text: str) -> str:
    """``text`` as LaTeX that prints it: specials escaped, known non-ASCII mapped.

    Raises:
        ValueError: a non-ASCII character with no LaTeX form here, named.
    """
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in UNICODE:
            out.append(UNICODE[ch])
        elif ord(ch) > 127:
            raise ValueError(
                f"No LaTeX form for {ch!r} (U+{ord(ch):04X}) in {text[:60]!r}: add it to "
                "featviz.report.latex.UNICODE."
            )
        else:
            out.append(ch)
    return "".join(out)


_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`|\[([^\]]+)\]\(([^)]+)\)")


def inline(text: str) -> str:
    """A line of report Markdown as LaTeX: bold, code and links kept, the rest escaped."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[last : match.start()]))
        bold, code, label, url = match.groups()
        if bold is not None:
            out.append(r"\textbf{" + inline(bold) + "}")
        elif code is not None:
            out.append(r"\texttt{" + escape(code) + "}")
        else:
            out.append(
                r"\href{" + url.replace("%", r"\%").replace("#", r"\#") + "}{" + inline(label) + "}"
            )
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _blocks(markdown: str) -> Iterator[list[str]]:
    block: list[str] = []
    for line in markdown.splitlines():
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _table(lines: list[str]) -> str:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    head, rule, body = rows[0], rows[1], rows[2:]
    align = "".join("r" if cell.endswith(":") else "l" for cell in rule)
    tabular = [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(inline(c) for c in head) + r" \\",
        r"\midrule",
        *(" & ".join(inline(c) for c in row) + r" \\" for row in body),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    text = "\n".join(tabular)
    if len(head) > 6:
        text = r"\resizebox{\linewidth}{!}{" + "\n" + text + "\n}"
    return "\\begin{center}\\small\n" + text + "\n\\end{center}"


_IMAGE = re.compile(r"^!\[Figure (\d+)\]\((.+)\)$")
_CAPTION = re.compile(
    r"^\*\*Figure (\d+)\.\*\* (.*) \(\[PDF\]\((.+?)\), \[provenance\]\((.+?)\)\)$"
)


def _figure(number: str, caption_line: str) -> str:
    match = _CAPTION.match(caption_line)
    if match is None or match.group(1) != number:
        raise ValueError(f"Figure {number}: expected its caption line, got {caption_line[:80]!r}.")
    _, caption, pdf, provenance = match.groups()
    return "\n".join(
        [
            r"\begin{figure}[H]",
            r"\centering",
            r"\includegraphics[width=\linewidth,height=0.72\textheight,keepaspectratio]{"
            + pdf
            + "}",
            r"\caption{" + inline(caption) + r" (\href{" + provenance + "}{provenance})}",
            r"\label{fig:" + number + "}",
            r"\end{figure}",
        ]
    )


def to_latex(markdown: str) -> str:
    """The report's Markdown as a complete LaTeX document (see the module docstring).

    Raises:
        ValueError: Markdown this converter does not know (it says which line).
    """
    body: list[str] = []
    title = "featviz report"
    pending_figure: str | None = None
    for block in _blocks(markdown):
        first = block[0]
        if pending_figure is not None:
            body.append(_figure(pending_figure, " ".join(block)))
            pending_figure = None
        elif first.startswith("# "):
            title = first[2:].strip()
            body.extend(inline(line) for line in block[1:])
        elif first.startswith("## "):
            body.append(r"\section{" + inline(first[3:].strip()) + "}")
            if block[1:]:
                body.append(" ".join(inline(line) for line in block[1:]))
        elif first.startswith("### "):
            body.append(r"\subsection{" + inline(first[4:].strip()) + "}")
        elif first.startswith("|"):
            body.append(_table(block))
        elif first.startswith(">"):
            quoted = " ".join(line.lstrip("> ").strip() for line in block)
            body.append(r"\begin{quote}" + inline(quoted) + r"\end{quote}")
        elif (image := _IMAGE.match(first)) is not None:
            pending_figure = image.group(1)
        else:
            body.append(" ".join(inline(line) for line in block))
    if pending_figure is not None:
        raise ValueError(f"Figure {pending_figure} has no caption line.")
    return (
        PREAMBLE
        + r"\title{"
        + escape(title)
        + "}\n\\date{}\n"
        + "\\begin{document}\n\\maketitle\n\n"
        + "\n\n".join(body)
        + "\n\n\\end{document}\n"
    )

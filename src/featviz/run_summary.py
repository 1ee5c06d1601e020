"""The lines a run ends with: where to look.

Snakemake ends a run on "N of N steps (100%) done" and a log path; a person then has to
know where the report went. The Snakefile's ``onsuccess:`` and ``onerror:`` print these
instead: the report, its PDF and the atlas after a run that worked; the failed jobs' logs
and the troubleshooting page after one that did not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

#: What a finished run made, in the order a reader opens them.
SHOWN = {
    "report/report.md": "the report",
    "report/report.pdf": "the report as a PDF",
    "results/atlas/index.html": "the atlas: open it in a browser, from disk",
}
TROUBLESHOOTING = "docs/troubleshooting.md"

_FAILED_RULE = re.compile(r"^Error in rule (\S+):\s*$")
_LOG_LINE = re.compile(r"^\s+log: (\S+)")


def finished(workdir: str | Path = ".") -> str:
    """The paths of what the run made that a person reads, those that exist."""
    workdir = Path(workdir)
    lines = [
        f"  {workdir / path}  ({what})" for path, what in SHOWN.items() if (workdir / path).exists()
    ]
    if not lines:
        return "featviz: the run finished; it made none of the report, its PDF or the atlas."
    return "\n".join(["featviz: the run finished. Read:", *lines])


def failed_logs(snakemake_logs: Iterable[str | Path]) -> list[tuple[str, str]]:
    """``(rule, job log)`` of every failed job named in Snakemake's own logs."""
    found: list[tuple[str, str]] = []
    for path in snakemake_logs:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        rule = None
        for line in text.splitlines():
            if match := _FAILED_RULE.match(line):
                rule = match.group(1)
            elif rule is not None and (match := _LOG_LINE.match(line)):
                found.append((rule, match.group(1)))
                rule = None
    return list(dict.fromkeys(found))


def failed(snakemake_logs: Sequence[str | Path], checkout: str | Path) -> str:
    """The failed jobs' logs, Snakemake's log and where the troubleshooting page is."""
    lines = ["featviz: the run failed."]
    jobs = failed_logs(snakemake_logs)
    lines += [f"  rule {rule}: its log is {log}" for rule, log in jobs]
    if not jobs:
        lines.append("  The failure came before any job ran (the message above says why).")
    lines += [f"  Snakemake's log: {p}" for p in snakemake_logs]
    lines.append(
        f"  What each failure means and what to do: {Path(checkout) / TROUBLESHOOTING} "
        "(or the site's 'When something goes wrong')."
    )
    return "\n".join(lines)

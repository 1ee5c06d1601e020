"""Progress bars with one look everywhere (terminal or Snakemake log file)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

from featviz.stopping import check


class _Bar(tqdm):
    """A bar whose every update is also where a stopped command stops (see
    :mod:`featviz.stopping`): long work updates its bar often."""

    def update(self, n: float | None = 1) -> bool | None:
        check()
        return super().update(n)


def bar(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr showing count, rate and time left.

    In a log file (stderr is not a terminal) the bar refreshes at most every
    ten seconds, so logs stay readable while still showing the rate and the
    estimate.
    """
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.2 if interactive else 10.0)
    kwargs.setdefault("dynamic_ncols", interactive)
    kwargs.setdefault("ncols", None if interactive else 100)
    return _Bar(total=total, desc=desc, unit=unit, file=sys.stderr, **kwargs)

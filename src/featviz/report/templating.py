"""The one Jinja2 environment of the report and the atlas: the same templates folder and
filters, Markdown left as written, HTML escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jinja2


def plus_minus(pair: Sequence[float], digits: int = 3) -> str:
    """``mean ± std`` of a ``[mean, std]`` pair; a dash where nothing was measured."""
    mean, spread = pair
    if mean is None or not math.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def number(value: float | None, digits: int = 3) -> str:
    """A value with ``digits`` significant digits; a dash where nothing was measured."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def fixed(value: float | None, digits: int = 3) -> str:
    """A value with ``digits`` decimals (scores in [0, 1]); a dash where nothing was measured."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def environment() -> jinja2.Environment:
    """Templates of :mod:`featviz.report` (``templates/``); ``*.html.j2`` are autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("featviz.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pm"] = plus_minus
    env.filters["num"] = number
    env.filters["fixed"] = fixed
    return env

"""MkDocs hooks: the configuration page's reference table is written from the schema, and the
docstrings' Sphinx roles (``:func:`x```) are shown as plain code."""

from __future__ import annotations

import re

from featviz.schema_reference import reference_markdown

MARKER = "<!-- schema-reference -->"
#: A Sphinx role before a code span, as mkdocstrings renders it (``~`` shortens the name).
SPHINX_ROLE = re.compile(r":(?:func|mod|class|data|meth|attr|exc):<code>~?")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker with every section of ``config/schema.yaml``."""
    return markdown.replace(MARKER, reference_markdown()) if MARKER in markdown else markdown


def on_page_content(html: str, page, config, files) -> str:
    """Drop the role prefix of ``:func:`name``` in rendered docstrings."""
    return SPHINX_ROLE.sub("<code>", html)

"""MkDocs hook: the configuration page's reference table is written from the schema."""

from __future__ import annotations

from featviz.schema_reference import reference_markdown

MARKER = "<!-- schema-reference -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker with every section of ``config/schema.yaml``."""
    return markdown.replace(MARKER, reference_markdown()) if MARKER in markdown else markdown

"""The configuration reference is written from the schema: every section, every setting,
the defaults the workflow fills in."""

import json

from featviz import schema_reference, settings
from tests.conftest import ROOT


def _rows(markdown: str) -> dict[str, list[str]]:
    found = {}
    for line in markdown.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            found[cells[0].strip("`")] = cells
    return found


def test_every_section_and_default_is_listed():
    rows = _rows(schema_reference.reference_markdown())
    for name in settings.schema()["properties"]:
        assert f"## `{name}`" in schema_reference.reference_markdown()
    for section in ("filters", "ablation", "recommended", "train", "prior"):
        for key, value in settings.defaults(section).items():
            if isinstance(value, dict) and value:
                continue  # an object: its keys have rows of their own
            assert f"{section}.{key}" in rows, (section, key)
            assert rows[f"{section}.{key}"][2] == f"`{json.dumps(value, ensure_ascii=False)}`"


def test_a_section_default_overrides_the_shared_one():
    """filters keeps the seed's start while every other rendering study starts from
    exemplars: the table shows each section's own default."""
    rows = _rows(schema_reference.reference_markdown())
    assert rows["filters.start"][2] == '`"grey"`'
    assert rows["directions.start"][2] == '`"exemplars"`'


def test_types_are_described():
    rows = _rows(schema_reference.reference_markdown())
    assert rows["filters.steps"][1] == "integer or `auto`"
    assert rows["filters.sort"][1] == "`index` / `objective`"
    assert "string matching" in rows["datasets.<name>.files.test_images.sha256"][1]


def docs_hooks():
    """The docs site's MkDocs hooks module (docs/hooks.py, not a package module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_the_configuration_page_takes_the_generated_table():
    hooks = docs_hooks()
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert hooks.MARKER in page
    assert "| `filters.steps`" not in page  # written at build time, never by hand
    rendered = hooks.on_page_markdown(f"x\n{hooks.MARKER}\n", None, None, None)
    assert "| `filters.steps`" in rendered


def test_sphinx_roles_in_docstrings_show_as_code():
    html = "see :func:<code>~featviz.units.live_units</code> and :mod:<code>x</code>"
    shown = docs_hooks().on_page_content(html, None, None, None)
    assert shown == "see <code>featviz.units.live_units</code> and <code>x</code>"

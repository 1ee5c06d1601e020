"""The configuration reference, written from ``config/schema.yaml``.

The schema is the one place a setting's type, default and meaning are written; the docs
site's configuration page is this module's output, so it cannot drift from what the
workflow accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from featviz import settings

#: The keys whose subschemas add properties to a node (``if``/``then``/``else`` included:
#: a model entry is a file or an architecture).
_COMBINERS = ("allOf", "anyOf", "oneOf")
_BRANCHES = ("then", "else")


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with its ``$ref`` (into ``$defs``) followed, its own keys kept over the ref's."""
    if "$ref" not in node:
        return node
    target = settings.schema()["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return {**_resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}


def properties(node: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every property a node accepts: its own, then those of the subschemas it combines
    (in order; where two declare one key, the first declaration is kept)."""
    node = _resolve(node)
    found: dict[str, Mapping[str, Any]] = dict(node.get("properties", {}))
    subschemas = [s for key in _COMBINERS for s in node.get(key, [])]
    subschemas += [node[key] for key in _BRANCHES if key in node]
    for sub in subschemas:
        for key, value in properties(sub).items():
            found.setdefault(key, value)
    return found


def describe_type(node: Mapping[str, Any]) -> str:
    """The accepted values in a few words: a type, a list of choices, or either of two."""
    node = _resolve(node)
    if "enum" in node:
        return " / ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    for key in _COMBINERS:
        if key in node:
            return " or ".join(describe_type(s) for s in node[key])
    kind = node.get("type", "object" if "properties" in node else "any")
    kinds = kind if isinstance(kind, list) else [kind]
    if "pattern" in node and "string" in kinds:
        word = node["pattern"].removeprefix("^").removesuffix("$")
        # a number or one fixed word (steps: auto), or a string of a given form
        shown = f"`{word}`" if word.isalnum() else f"string matching `{node['pattern']}`"
        kinds = [k if k != "string" else shown for k in kinds]
    if "array" in kinds and "items" in node:
        kinds = [k if k != "array" else f"list of {describe_type(node['items'])}" for k in kinds]
    return " or ".join(kinds)


def _default(value: Any) -> str:
    return "" if value is _MISSING else f"`{json.dumps(value, ensure_ascii=False)}`"


_MISSING = object()


def rows(
    node: Mapping[str, Any], prefix: str, filled: Any = _MISSING
) -> Iterator[tuple[str, str, str, str]]:
    """``(key, type, default, description)`` of every setting under ``node``, nested keys
    dotted; ``filled`` is the section with its defaults filled in, where there is one."""
    for key, sub in properties(node).items():
        sub_resolved = _resolve(sub)
        value = filled.get(key, _MISSING) if isinstance(filled, Mapping) else _MISSING
        if value is _MISSING:
            value = sub_resolved.get("default", _MISSING)
        path = f"{prefix}.{key}" if prefix else key
        nested = properties(sub_resolved)
        description = " ".join(str(sub_resolved.get("description", "")).split())
        if nested and isinstance(value, Mapping | type(_MISSING)):
            yield path, "object", "", description
            yield from rows(sub_resolved, path, value if isinstance(value, Mapping) else _MISSING)
        else:
            yield path, describe_type(sub_resolved), _default(value), description


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def section_markdown(name: str) -> str:
    """One top-level section: its description and a table of its settings."""
    node = _resolve(settings.schema()["properties"][name])
    out = [f"## `{name}`", "", " ".join(str(node.get("description", "")).split()), ""]
    entry = node.get("additionalProperties")
    if isinstance(entry, Mapping) and "properties" not in node:
        # a map of names to entries (datasets, models)
        table = list(rows(entry, f"{name}.<name>"))
    elif properties(node):
        table = list(rows(node, name, settings.defaults(name)))
    else:
        kind, default = describe_type(node), _default(node.get("default", _MISSING))
        table = [(name, kind, default, "")]
    out += ["| key | accepts | default | meaning |", "| --- | --- | --- | --- |"]
    out += ["| " + " | ".join(_cell(c) for c in (f"`{k}`", t, d, m)) + " |" for k, t, d, m in table]
    return "\n".join(out) + "\n"


def reference_markdown() -> str:
    """Every section of the configuration, in the schema's order."""
    return "\n".join(section_markdown(name) for name in settings.schema()["properties"])

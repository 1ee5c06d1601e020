"""Settings: the configuration schema, its defaults, and the validation of one section.

``config/schema.yaml`` is the one place where a science setting is declared, with
its type, its default and a one-line description. Snakemake validates the whole
configuration with it before any rule runs; the ``featviz`` command validates the
section (or one job's slice of it) it is handed against the same part of the same
schema and fills in the same defaults. A setting therefore cannot be valid in one
and not in the other, and no default is spelled a second time in the CLI or in a
study. The package carries the schema (``featviz/schema.yaml`` is that file), so
the command works outside a checkout too.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


class SettingsError(ValueError):
    """A setting that the schema does not accept; the message names it."""


@functools.cache
def schema() -> dict[str, Any]:
    """The configuration schema (parsed once)."""
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def section_schema(name: str) -> dict[str, Any]:
    """The schema of the top-level section ``name`` (with the shared ``$defs``)."""
    properties = schema()["properties"]
    if name not in properties:
        raise SettingsError(
            f"Unknown settings section '{name}'. Sections: {', '.join(properties)}."
        )
    return {"$defs": schema()["$defs"], **properties[name]}


def definition_schema(name: str) -> dict[str, Any]:
    """The schema of the shared definition ``$defs/<name>`` (a dataset, an architecture...)."""
    defs = schema()["$defs"]
    if name not in defs:
        raise SettingsError(f"Unknown schema definition '{name}'. Known: {', '.join(defs)}.")
    return {"$defs": defs, **defs[name]}


def _default_filling_validator(subschema: dict[str, Any], numbers: list | None = None):
    """A JSON Schema 2020-12 validator that fills in each property's ``default``.

    The same rule as Snakemake's ``validate(..., set_default=True)``: a property
    absent from an object gets the default its schema gives, at every level the
    validation reaches (through ``allOf`` and ``$ref`` too). Defaults are copied,
    so no two configurations share a list. ``numbers`` collects ``(object, key)`` of
    every ``number`` property met, for :func:`_validated` to make floats of.
    """
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, sub):
        if isinstance(instance, dict):
            for key, prop in properties.items():
                if "default" in prop and key not in instance:
                    instance[key] = copy.deepcopy(prop["default"])
                # JSON's 1 for a number is the float 1.0 (Keras refuses an int rate);
                # made so once the value is valid, so messages show what was given.
                if numbers is not None and prop.get("type") == "number":
                    numbers.append((instance, key))
        yield from check_properties(validator, properties, instance, sub)

    cls = validators.extend(Draft202012Validator, {"properties": properties_with_defaults})
    return cls(subschema)


def _non_finite(value: Any, path: list[str]) -> tuple[list[str], float] | None:
    """The path to the first NaN or infinite number in ``value``, and that number."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, Mapping) else None
    if items is None and isinstance(value, list):
        items = enumerate(value)
    for key, item in items or ():
        found = _non_finite(item, [*path, str(key)])
        if found is not None:
            return found
    return None


#: Fewest steps ``steps: auto`` may look ahead: the loop checks four times a window, and a
#: plateau over fewer steps says nothing of where the objective stops rising.
MIN_PLATEAU_WINDOW = 4


def _short_window(value: Any, path: list[str]) -> str | None:
    """A message for the first ``steps: auto`` in ``value`` whose window, ``plateau_window``
    of ``max_steps``, is under :data:`MIN_PLATEAU_WINDOW` steps."""
    if not isinstance(value, Mapping):
        return None
    if value.get("steps") == "auto" and {"max_steps", "plateau_window"} <= set(value):
        ceiling, share = value["max_steps"], value["plateau_window"]
        if round(share * ceiling) < MIN_PLATEAU_WINDOW:
            least = math.ceil((MIN_PLATEAU_WINDOW - 0.5) / share)
            return (
                f"Setting {'.'.join(path)}: steps: auto looks {round(share * ceiling)} steps "
                f"ahead (plateau_window {share:g} of max_steps {ceiling}); expected at least "
                f"{MIN_PLATEAU_WINDOW}: raise max_steps to {least} or more, or give a number "
                "of steps."
            )
    for key, item in value.items():
        found = _short_window(item, [*path, str(key)])
        if found is not None:
            return found
    return None


def _validated(subschema: dict[str, Any], data: Mapping[str, Any] | None, where: str) -> dict:
    from jsonschema.exceptions import best_match

    # JSON Schema's bounds let NaN through (every comparison with it is false).
    bad = _non_finite(dict(data or {}), [where])
    if bad is not None:
        path, value = bad
        raise SettingsError(f"Setting {'.'.join(path)}: {value} is not a finite number.")
    instance = copy.deepcopy(dict(data or {}))
    numbers: list[tuple[dict, str]] = []
    errors = list(_default_filling_validator(subschema, numbers).iter_errors(instance))
    # A bad value inside a shared definition also leaves its keys "unevaluated" at the
    # section's level; report the bad value, not the echo.
    named = [e for e in errors if e.validator != "unevaluatedProperties"]
    error = best_match(named or errors)
    if error is not None:
        path = ".".join([where, *(str(p) for p in error.absolute_path)])
        raise SettingsError(f"Setting {path}: {error.message}.")
    short = _short_window(instance, [where])
    if short is not None:
        raise SettingsError(short)
    for obj, key in numbers:  # an integer given for a number means that number as a float
        if type(obj.get(key)) is int:
            obj[key] = float(obj[key])
    return instance


def validate_section(name: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` checked against the schema of section ``name``, defaults filled in.

    Returns a new dict; ``data`` is left as it was.

    Raises:
        SettingsError: naming the setting, what was received and what is allowed.
    """
    return _validated(section_schema(name), data, name)


def validate_definition(name: str, data: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """``data`` checked against ``$defs/<name>``; ``where`` names it in messages."""
    return _validated(definition_schema(name), data, where)


def validate_config(data: Mapping[str, Any] | None, where: str = "config") -> dict[str, Any]:
    """A whole configuration checked against the schema, defaults filled in."""
    return _validated(schema(), data, where)


def declared(where: str) -> Any:
    """The default the schema declares at ``where``: a section's key (``filters.steps``) or a
    shared definition's (``$defs.optimizer.learning_rate``, nested keys dotted on). Library
    functions take their defaults from here, so the schema is the one place they are written.

    Raises:
        SettingsError: naming the path when no default is declared there.
    """
    parts = where.split(".")
    node = schema()["$defs"] if parts[0] == "$defs" else schema()["properties"]
    try:
        node = node[parts[1]] if parts[0] == "$defs" else node[parts[0]]
        for key in parts[2:] if parts[0] == "$defs" else parts[1:]:
            node = node["properties"][key]
        return node["default"]
    except (KeyError, IndexError, TypeError):
        raise SettingsError(f"config/schema.yaml declares no default at '{where}'.") from None


def defaults(name: str) -> dict[str, Any]:
    """Every default of section ``name``: what an empty section becomes."""
    return validate_section(name, {})


def parse_json(text: str, argument: str) -> dict[str, Any]:
    """Parse a JSON command-line argument, an object, naming ``argument`` when it is not JSON,
    not an object, or nested too deeply to read.

    A key given twice in one object is refused: JSON would keep the last one silently.
    """

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise SettingsError(f"{argument}: key {key!r} is given twice; give it once.")
            seen[key] = value
        return seen

    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        value = json.loads(text, object_pairs_hook=unique)
    except json.JSONDecodeError as err:
        raise SettingsError(
            f"{argument}: not valid JSON ({err.msg} at character {err.pos}): {shown!r}."
        ) from None
    except RecursionError:
        raise SettingsError(f"{argument}: JSON nested too deeply to read: {shown!r}.") from None
    if not isinstance(value, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = kinds.get(type(value), "a number")
        raise SettingsError(
            f"{argument}: {kind}, expected a JSON object of settings ({{...}}): {shown!r}."
        )
    return value


def validate_name(kind: str, name: str, argument: str) -> str:
    """``name`` checked as the config checks a key of section ``kind`` (``datasets``), so
    a name the command takes is one a config can hold."""
    from jsonschema import Draft202012Validator

    names = schema()["properties"][kind].get("propertyNames", {})
    for error in Draft202012Validator(names).iter_errors(name):
        raise SettingsError(
            f"{argument} {name!r}: not a name of {kind} ({error.message}; the config's "
            f"{kind} keys follow the same rule)."
        )
    return name


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping holding the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                line = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own error says so
                break
            if line is not None:
                raise SettingsError(
                    f"{self.name}, line {key_node.start_mark.line + 1}: key {key!r} is given "
                    f"twice (first on line {line}); a config must give each key once."
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_config_file(path: str | Path) -> Any:
    """Read a YAML (or JSON) config file, refusing a key given twice in any mapping.

    YAML and JSON loaders keep the last of two equal keys without a word, so a
    dataset written twice would run with the second entry only.

    Raises:
        SettingsError: naming the file, the key and both lines; or the YAML error.
    """
    with open(path, encoding="utf-8") as fh:
        loader = _UniqueKeyLoader(fh)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        except yaml.YAMLError as err:
            raise SettingsError(f"{path}: not valid YAML ({' '.join(str(err).split())}).") from None
        finally:
            loader.dispose()


def check_config_files(paths: Iterable[str | Path]) -> list[str]:
    """Read every config file with :func:`load_config_file`: a duplicate key is an error.

    Snakemake reads ``--configfile`` with a loader that keeps the last of two equal
    keys; the Snakefile calls this on ``workflow.configfiles`` before validating.

    Returns:
        Where several files are given, one line per setting a later file replaces (Snakemake
        merges them key by key, silently): the setting, the value it had and from which
        file, the value it takes and from which. The Snakefile prints them.
    """
    paths = list(paths)
    given: dict[str, tuple[Any, str]] = {}
    replaced = []
    for path in paths:
        name = os.path.relpath(path)
        for key, value in _leaves(load_config_file(path) or {}, []):
            below = [k for k in given if k.startswith(f"{key}.")] if value is None else []
            if below:
                replaced.append(f"{key}: removed ({name})")
                for k in below:
                    del given[k]
            elif key in given and given[key][0] != value:
                before, source = given[key]
                replaced.append(f"{key}: {before!r} ({source}) -> {value!r} ({name})")
            given[key] = (value, name)
    return replaced


REMOVABLE = ("datasets", "models")


def drop_removed(config: dict[str, Any]) -> list[str]:
    """Leave out each dataset and model a later config file set to null, in place.

    Snakemake merges config files key by key, so a later file can change an entry's
    settings but not take the entry away; ``mnist: null`` does (the paper-sized config
    runs the paper's studies on generated data instead of its downloads).

    Returns:
        The dotted names left out (``datasets.mnist``).
    """
    removed = []
    for section in REMOVABLE:
        entries = config.get(section)
        if isinstance(entries, dict):
            for name in [name for name, value in entries.items() if value is None]:
                del entries[name]
                removed.append(f"{section}.{name}")
    return removed


def merge_config_files(paths: Iterable[str | Path]) -> dict[str, Any]:
    """The configuration several files make, merged by Snakemake's own ``update_config``
    (as it merges ``--configfile``: mappings key by key, anything else whole) and with the
    entries set to null left out."""
    from snakemake.utils import update_config

    merged: dict[str, Any] = {}
    for path in paths:
        update_config(merged, load_config_file(path) or {})
    drop_removed(merged)
    return merged


def _leaves(value: Any, path: list[str]) -> Iterable[tuple[str, Any]]:
    """``(dotted key, value)`` of every value that is not a mapping, as Snakemake merges
    config files: mappings key by key, anything else (a list too) whole."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, [*path, str(key)])
    else:
        yield ".".join(path), value


def compact_json(value: Any) -> str:
    """Key-sorted JSON without spaces: how settings travel from a rule to the command."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))

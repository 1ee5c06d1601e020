"""A science setting is declared once, in config/schema.yaml, with its default."""

import ast
import inspect

import pytest
import yaml

from featviz import settings
from featviz.cli import build_parser
from featviz.engine import regularizers as reg
from featviz.engine.recipe import EDITS
from featviz.settings import SettingsError, defaults, parse_json, schema, validate_section
from tests.conftest import ROOT


def test_defaults_come_from_the_schema():
    filters = defaults("filters")
    assert filters["steps"] == schema()["properties"]["filters"]["properties"]["steps"]["default"]
    render = schema()["$defs"]["optimizer"]["properties"]
    assert filters["learning_rate"] == render["learning_rate"]["default"]
    assert defaults("activations") == {"images": 10}
    joint = validate_section("joint", {"pairs": [[1, 2]]})
    assert joint["pairs"] == [[1, 2]] and joint["weights"][-1] == 1.0
    joint["weights"].append(2.0)
    assert defaults("joint")["weights"][-1] == 1.0  # defaults are copies


@pytest.mark.parametrize(
    "section, data, message",
    [
        ("filters", {"stepz": 3}, r"Setting filters: .*'stepz' was unexpected"),
        ("filters", {"steps": 0}, r"Setting filters.steps: 0 is less than the minimum of 1"),
        (
            "filters",
            {"regularizers": {"blur": {"sigma": -1}}},
            r"filters.regularizers.blur.sigma: -1",
        ),
        ("joint", {"pairs": [[1, 1]]}, r"Setting joint.pairs.0: \[1, 1\] has non-unique elements"),
        ("convergence", {"layers": ["a/b"]}, r"convergence.layers.0: 'a/b' does not match"),
        (
            "train",
            {"learning_rate": "fast"},
            r"train.learning_rate: 'fast' is not of type 'number'",
        ),
        (
            "nonsense",
            {},
            r"Unknown settings section 'nonsense'. Sections: title, keras_backend, datasets",
        ),
    ],
)
def test_bad_settings_are_named(section, data, message):
    with pytest.raises(SettingsError, match=message):
        validate_section(section, data)


def test_json_arguments_are_named_when_broken():
    with pytest.raises(SettingsError, match=r"--settings: not valid JSON \(Expecting"):
        parse_json("{steps: 3}", "--settings")


def test_the_command_holds_no_science_default():
    """Every option of every subcommand defaults to nothing, except how the job runs (and
    the machines ``featviz times`` projects a run onto)."""
    machine = {
        "threads": 0,
        "raw": [],
        "metrics": [],
        "generated": [],
        "help": None,
        "directory": ".",
        # featviz times: the machines a finished run is projected onto
        "workers": [2, 8, 32],
        "job_overhead": 0.0,
    }
    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.dest in machine:
                assert action.default == machine[action.dest] or action.dest == "help"
            else:
                assert action.default in (None, False), (
                    f"featviz {name} {action.option_strings}: default {action.default!r}"
                )


def test_engine_defaults_agree_with_the_schema():
    """The library's own defaults for image edits are the schema's, so they cannot drift."""
    edits = schema()["$defs"]["regularizers"]["properties"]
    for key, (make, fields) in EDITS.items():
        signature = inspect.signature(make)
        for field in fields:
            declared = edits[key]["properties"][field]
            if "default" in declared and field in signature.parameters:
                library = signature.parameters[field].default
                assert library == declared["default"], f"{make.__name__}({field}=...)"
    assert inspect.signature(reg.gaussian_blur).parameters["every"].default == 4


def test_studies_read_settings_without_second_defaults():
    """No ``settings.get(key, default)`` in the studies and the recipe: the schema fills them."""
    sources = [*(ROOT / "src/featviz/studies").glob("*.py"), ROOT / "src/featviz/engine/recipe.py"]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "setdefault")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "settings"
                and len(node.args) > 1
            ):
                pytest.fail(f"{path.name}:{node.lineno}: a second default for a setting")


def test_the_package_carries_the_schema_it_validates_with():
    assert settings.SCHEMA_PATH.read_text() == (ROOT / "config" / "schema.yaml").read_text()


def test_shared_render_settings_are_declared_once():
    """Sections that render take learning rate, seed and recipe from $defs/render, unredeclared."""
    defs = schema()["$defs"]
    shared = set(defs["optimizer"]["properties"]) | set(defs["recipe"]["properties"])
    renderers = [
        name
        for name, section in schema()["properties"].items()
        if {"$ref": "#/$defs/render"} in section.get("allOf", [])
        or {"$ref": "#/$defs/optimizer"} in section.get("allOf", [])
    ]
    assert set(renderers) >= {"filters", "convergence", "joint", "directions", "ablation"}
    for name in renderers:
        own = set(schema()["properties"][name].get("properties", {}))
        assert not own & shared, f"{name} redeclares {own & shared}"


def _declared_defaults() -> dict[str, set]:
    """Every numeric default the schema declares, by the key it is declared under."""
    found: dict[str, set] = {}

    def walk(node, key=None):
        if isinstance(node, dict):
            value = node.get("default")
            if key and isinstance(value, int | float) and not isinstance(value, bool):
                found.setdefault(key, set()).add(value)
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    for name, sub in v.items():
                        walk(sub, name)
                elif k != "default":
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema())
    return found


def restated_defaults(root) -> list[str]:
    """Parameters of functions under ``root`` whose literal default is a default the schema
    declares for a setting of the same name: the value written twice."""
    declared = _declared_defaults()
    found = []
    for path in sorted(root.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = fn.args
            positional = args.posonlyargs + args.args
            tail = positional[len(positional) - len(args.defaults) :]
            pairs = list(zip(tail, args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
            for arg, default in pairs:
                if (
                    isinstance(default, ast.Constant)
                    and isinstance(default.value, int | float)
                    and not isinstance(default.value, bool)
                    and default.value in declared.get(arg.arg, ())
                ):
                    found.append(f"{path.name}:{fn.lineno} {fn.name}({arg.arg}={default.value})")
    return found


def test_no_default_is_restated_in_the_package():
    """A library function takes a setting's default from the schema (featviz.settings.declared),
    never as a second literal."""
    assert restated_defaults(ROOT / "src" / "featviz") == []


def test_a_restated_default_is_caught(tmp_path):
    source = "def render(steps=256, learning_rate=0.05, other=3):\n    pass\n"
    (tmp_path / "mod.py").write_text(source)
    assert restated_defaults(tmp_path) == [
        "mod.py:1 render(steps=256)",
        "mod.py:1 render(learning_rate=0.05)",
    ]


def test_declared_names_where_no_default_is():
    assert settings.declared("filters.steps") == 256
    assert settings.declared("$defs.regularizers.blur.every") == 4
    with pytest.raises(settings.SettingsError, match=r"declares no default at 'filters.nothing'"):
        settings.declared("filters.nothing")


def test_the_plateau_and_the_two_alternative_task_are_declared_once():
    defs = schema()["$defs"]
    for shared in ("plateau", "two_afc"):
        keys = set(defs[shared]["properties"])
        for name, section in schema()["properties"].items():
            own = set(section.get("properties", {}))
            assert not own & keys, f"{name} redeclares {own & keys} of $defs/{shared}"


def test_settings_a_later_config_file_replaces_are_named(tmp_path, monkeypatch):
    """Snakemake merges --configfile files key by key without a word; featviz lists every
    setting a later file changes, with both values and files (the Snakefile prints them)."""
    from featviz.settings import check_config_files

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(
        "ablation: {steps: 64, layers: [conv1]}\nfilters: {steps: 8}\ntitle: A\n"
    )
    (tmp_path / "b.yaml").write_text("ablation: {steps: 256, layers: [conv1]}\ntitle: B\n")
    assert check_config_files([tmp_path / "a.yaml", tmp_path / "b.yaml"]) == [
        "ablation.steps: 64 (a.yaml) -> 256 (b.yaml)",
        "title: 'A' (a.yaml) -> 'B' (b.yaml)",
    ]
    assert check_config_files([tmp_path / "a.yaml"]) == []


def test_a_later_config_file_leaves_out_a_dataset_set_to_null(tmp_path, monkeypatch):
    """Merging alone cannot remove an entry; null does, and featviz merges files as Snakemake
    does (mappings key by key, lists whole), which `provenance verify --configfile` relies on."""
    from snakemake.utils import update_config

    from featviz.settings import check_config_files, drop_removed, merge_config_files

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(
        "datasets: {real: {kind: mnist}, kept: {kind: synthetic-digits, n_train: 5}}\n"
        "filters: {units: {conv1: all}, steps: 8}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "datasets: {real: null, kept: {n_train: 9}, new: {kind: svhn}}\n"
        "filters: {units: {conv2: [1, 2]}}\nmodels: {cnn3: null}\n"
    )
    assert check_config_files([tmp_path / "a.yaml", tmp_path / "b.yaml"]) == [
        "datasets.real: removed (b.yaml)",
        "datasets.kept.n_train: 5 (a.yaml) -> 9 (b.yaml)",
    ]
    merged = merge_config_files([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    by_snakemake = yaml.safe_load((tmp_path / "a.yaml").read_text())
    update_config(by_snakemake, yaml.safe_load((tmp_path / "b.yaml").read_text()))
    assert drop_removed(by_snakemake) == ["datasets.real", "models.cnn3"]
    assert merged == by_snakemake
    assert merged["datasets"] == {
        "kept": {"kind": "synthetic-digits", "n_train": 9},
        "new": {"kind": "svhn"},
    }
    assert merged["filters"] == {"units": {"conv1": "all", "conv2": [1, 2]}, "steps": 8}
    assert merged["models"] == {}


def test_an_auto_budget_must_look_ahead_a_few_steps():
    from featviz.settings import MIN_PLATEAU_WINDOW, SettingsError

    with pytest.raises(SettingsError, match="looks 2 steps ahead .* raise max_steps to 35"):
        validate_section("recommended", {"steps": "auto", "max_steps": 20})
    with pytest.raises(SettingsError, match="looks 3 steps ahead"):
        validate_section("filters", {"steps": "auto", "max_steps": 100, "plateau_window": 0.03})
    ok = validate_section("filters", {"steps": "auto", "max_steps": 40})
    assert round(ok["plateau_window"] * ok["max_steps"]) == MIN_PLATEAU_WINDOW
    assert validate_section("filters", {"steps": 3})["steps"] == 3  # a number of steps is fine

"""Every study has the one shape: a module, a rule file, a schema section and declared files."""

import re

import numpy as np
import pytest

from featviz import studies
from featviz.results import Figure, Result, read_manifest
from featviz.settings import schema
from featviz.studies.base import Job, Study, format_units
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def demo_dry_run(tmp_path_factory) -> dict[str, list[str]]:
    """Each rule of the demo's dry run with the resources line of its first job."""
    import subprocess
    import sys
    from pathlib import Path

    workdir = tmp_path_factory.mktemp("dry")
    out = subprocess.run(
        [
            str(Path(sys.executable).with_name("snakemake")),
            "-n",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(ROOT / "config" / "demo.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found: dict[str, list[str]] = {}
    rule = None
    for line in out.stdout.splitlines():
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            rule = match.group(1)
        elif rule and line.strip().startswith(("resources:", "priority:")):
            found.setdefault(rule, []).append(line.strip())
    return found


@pytest.mark.parametrize("name", studies.REGISTRY)
def test_each_study_has_its_rule_schema_section_and_caption_templates(name, demo_dry_run):
    study = studies.get(name)
    assert study.name == name
    assert name in schema()["properties"], f"config/schema.yaml has no section '{name}'"
    # the rule comes from the study's declaration, its resources and priority too
    assert name in demo_dry_run, f"the demo plans no job of rule {name}"
    lines = " ".join(demo_dry_run[name])
    for key, value in study.resources.items():
        assert f"{key}={value}" in lines, (name, key, lines)
    assert (f"priority: {study.priority}" in lines) == bool(study.priority)
    for figure in study.figures:
        template = ROOT / "workflow" / "report" / f"{figure}.rst"
        assert f"snakemake.output.{figure}_caption" in template.read_text()
    outputs = study.outputs("conv1")
    assert outputs["result"] == "conv1.result.json"
    for figure, png in study.figures.items():
        stem = png.format(job="conv1").removesuffix(".png")
        assert outputs[f"{figure}_pdf"] == f"{stem}.pdf"
        assert outputs[f"{figure}_caption"] == f"{stem}.caption.rst"
    assert set(study.sections) <= set(studies.sections())


def test_the_slurm_profiles_gpu_lines_are_the_rules_that_train_or_render():
    text = (ROOT / "profiles" / "slurm" / "config.yaml").read_text()
    listed = set(re.findall(r"^#   (\w+): \{gpu: 1", text, re.M))
    rendering = {study.name for study in studies.every() if study.renders}
    shards = {f"{study.name}_shard" for study in studies.every() if study.shard_resources}
    assert listed == rendering | shards | {"train", "train_prior"}


def test_sections_follow_the_registry():
    """Each study's sections, in registry order, each key once."""
    keys = list(studies.sections())
    assert keys == [key for study in studies.every() for key in study.sections]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", studies.REGISTRY)
def test_each_study_gives_its_tiny_settings_once(name):
    """The DAG tests take every study's tiny settings from its test module (tests.tiny);
    they must be settings its schema section accepts."""
    from tests.tiny import tiny

    studies.get(name).validate(tiny(name))


def test_unknown_study_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown study 'atlas'. Studies: activations, "):
        studies.get("atlas")


class Sloppy(Study):
    """A study that writes a file it does not declare."""

    name = "directions"  # borrows a schema section
    category = "Test"
    sections = {"directions": "Test"}

    def run(self, job, settings):
        from featviz.plotting import image_row

        png = job.path("{job}.png")
        image_row(np.zeros((1, 4, 4, 1)), ["x"], "t", png)
        job.path("{job}.extra").write_text("x")
        return Result(
            self.name,
            job.key,
            [Figure(png, "A caption.", "directions")],
            files=[job.path("{job}.extra")],
        )


def test_a_study_that_writes_undeclared_files_fails(tmp_path):
    with pytest.raises(RuntimeError, match=r"wrote undeclared files \['.*a\.extra'\]"):
        Sloppy().execute(Job("a", tmp_path / "m.keras", tmp_path), {})


def test_execute_validates_settings_and_publishes_a_manifest(tmp_path, tiny_model, tiny_data):
    from featviz.settings import SettingsError

    tiny_model.save(tmp_path / "m.keras")
    study = studies.get("directions")
    job = Job(
        "conv1", tmp_path / "m.keras", tmp_path, data=tiny_data, dataset="d", model_name="tiny"
    )
    with pytest.raises(ValueError, match="draws on the training images: give the prepared"):
        study.execute(Job("conv1", tmp_path / "m.keras", tmp_path), {"count": 2, "steps": 3})
    with pytest.raises(SettingsError, match=r"Setting directions.count: 0 is less than"):
        study.execute(job, {"count": 0})
    with pytest.raises(SettingsError, match=r"'counts' was unexpected"):
        study.execute(job, {"counts": 2})
    result, files = study.execute(job, {"count": 2, "steps": 3})
    manifest = read_manifest(tmp_path / "conv1.result.json")
    assert manifest.figures == result.figures and manifest.labels == {
        "dataset": "d",
        "model": "tiny",
    }
    assert "of conv1 of tiny on d" in manifest.figures[0].caption
    assert sorted(files) == sorted(tmp_path / n for n in study.outputs("conv1").values())


def test_format_units():
    assert format_units(None) == "every unit"
    assert format_units([3]) == "unit 3"
    assert format_units(list(range(16))) == "units 0-15"
    assert format_units([1, 4, 9]) == "units 1, 4, 9"
    assert format_units([0, 1], "filter") == "filters 0, 1"


@pytest.mark.parametrize("name", ["conv 1", "conv:1", "ünit", "-conv"])
def test_a_layer_whose_name_cannot_name_files_is_refused_quoted(name):
    """A model's layer named so that it cannot be a file, a log or a wildcard: the study's
    check quotes the name back and says what a name may hold."""
    from featviz.models.layers import Layer, LayerTable

    layers = (Layer("image", "InputLayer", 1, True), Layer(name, "Conv2D", 4, True))
    table = LayerTable(layers, logits=name, input_shape=(12, 12, 1))
    with pytest.raises(ValueError) as caught:
        studies.get("directions").check_layer(table, name)
    assert str(caught.value) == (
        f"directions: layer {name!r} cannot name the job's files and log: expected a name of "
        "letters, digits, '_', '.' and '-' (save the model with the layer renamed)."
    )

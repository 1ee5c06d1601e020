"""Every study has the one shape: a module, a rule file, a schema section and declared files."""

import re

import numpy as np
import pytest

from featviz import studies
from featviz.results import Figure, Result, read_manifest
from featviz.settings import schema
from featviz.studies.base import Job, Study, format_units
from tests.conftest import ROOT


@pytest.mark.parametrize("name", studies.REGISTRY)
def test_each_study_has_its_rule_schema_section_and_caption_templates(name):
    study = studies.get(name)
    assert study.name == name
    assert name in schema()["properties"], f"config/schema.yaml has no section '{name}'"
    rule_file = ROOT / "workflow" / "rules" / f"{name}.smk"
    text = rule_file.read_text()
    assert re.search(rf"^rule {name}:$", text, re.M), f"{rule_file} defines no rule {name}"
    assert f'study_outputs("{name}")' in text and "STUDY_COMMAND" in text
    assert f'study="{name}"' in text and f'job_settings("{name}")' in text
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


def test_sections_follow_the_registry():
    keys = list(studies.sections())
    assert keys == [
        "activations",
        "convergence",
        "joint",
        "filters",
        "classes",
        "directions",
        "ablation",
        "recommended",
        "deconv",
        "redundancy",
    ]


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

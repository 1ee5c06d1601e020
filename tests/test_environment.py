"""environment.yml is a conda environment conda accepts, and it mirrors pyproject.toml."""

import os
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from tests.conftest import ROOT

#: pyproject name -> conda-forge name, where they differ.
CONDA_NAMES = {"matplotlib": "matplotlib-base", "snakemake": "snakemake-minimal"}


def environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def pins(requirements):
    """``name -> version`` of the ``==`` pins that apply on x86_64 (the conda file's platform)."""
    found = {}
    for line in requirements:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"platform_machine": "x86_64"}):
            [spec] = req.specifier
            found[req.name.lower()] = spec.version
    return found


def test_conda_pins_mirror_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = pins(project["dependencies"])
    wanted |= pins(project["optional-dependencies"]["tensorflow"])
    wanted |= pins(project["optional-dependencies"]["dev"])
    wanted |= pins(project["optional-dependencies"]["slurm"])
    wanted |= pins(project["optional-dependencies"]["docs"])
    conda = {}
    for dep in environment()["dependencies"]:
        if isinstance(dep, str) and "=" in dep:
            name, version = dep.split("=", 1)
            conda[name] = version
    for name, version in wanted.items():
        assert conda.get(CONDA_NAMES.get(name, name)) == version, name


def test_pip_section_is_a_valid_requirements_file_naming_the_checkout(tmp_path, monkeypatch):
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    [pip] = [d["pip"] for d in environment()["dependencies"] if isinstance(d, dict)]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(pip) + "\n")
    monkeypatch.setenv("FEATVIZ_ROOT", str(ROOT))
    [parsed] = list(parse_requirements(str(requirements), session=PipSession()))
    assert parsed.is_editable and parsed.requirement == str(ROOT)


def test_a_line_pip_refuses_is_caught(tmp_path):
    from pip._internal.exceptions import RequirementsFileParseError
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("--no-deps --editable .\n")
    with pytest.raises(RequirementsFileParseError):
        list(parse_requirements(str(requirements), session=PipSession()))


def test_the_workflow_tells_conda_where_the_checkout_is(monkeypatch):
    from featviz import workflow

    monkeypatch.delenv("FEATVIZ_ROOT", raising=False)
    workflow.export_checkout(str(ROOT))
    assert os.environ["FEATVIZ_ROOT"] == str(ROOT)
    assert (
        "plan.export_checkout(workflow.basedir)" in (ROOT / "workflow/rules/common.smk").read_text()
    )

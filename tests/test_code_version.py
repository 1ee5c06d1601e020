"""The code a job runs, as digests: the import closure of a study, read from the sources."""

import hashlib
import shutil
import subprocess
import sys

import pytest

from featviz import code_version, studies
from tests.conftest import ROOT


@pytest.mark.parametrize("name", studies.REGISTRY)
def test_no_study_imports_another(name):
    closure = code_version.closure(f"featviz.studies.{name}")
    others = {f"featviz.studies.{n}" for n in studies.REGISTRY if n != name}
    assert not others & set(closure), f"{name} imports {sorted(others & set(closure))}"
    assert "featviz.studies.base" in closure


def test_the_report_and_the_atlas_import_no_study_module():
    for module in ("featviz.report.atlas", "featviz.report.writeup"):
        closure = set(code_version.closure(module))
        assert not {f"featviz.studies.{n}" for n in studies.REGISTRY} & closure, module


def test_the_closure_follows_imports_inside_functions_and_of_modules_by_name():
    closure = code_version.closure("featviz.studies.recommended")
    # `from featviz import metrics` at the top; `from featviz.engine import ...` inside run()
    assert {"featviz.metrics", "featviz.units", "featviz.engine.render"} <= set(closure)
    assert "featviz.cli" not in closure


def test_digests_are_the_sources_sha256():
    digests = code_version.digests("featviz.units")
    path = ROOT / "src" / "featviz" / "units.py"
    assert digests["featviz.units"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_unknown_module_is_refused():
    with pytest.raises(ValueError, match=r"'featviz.nothing' is not a module of featviz"):
        code_version.closure("featviz.nothing")


def test_editing_a_module_changes_the_versions_that_import_it(tmp_path):
    shutil.copytree(ROOT / "src" / "featviz", tmp_path / "featviz")
    code = (
        "from featviz import code_version as c; "
        "print(c.version('featviz.studies.recommended'), c.version('featviz.studies.activations'))"
    )

    def versions():
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONPATH": str(tmp_path)},
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()

    before = versions()
    units = tmp_path / "featviz" / "units.py"
    units.write_text(units.read_text() + "\n# edited\n")
    after = versions()
    assert after[0] != before[0]  # recommended scores units with featviz.units
    assert after[1] == before[1]  # activations does not import it

"""The library examples of the README and of the docs run as written."""

import re

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("page", "after", "printed"),
    [
        ("README.md", "## Using the engine", ["['class 3']", "(1, 28, 28, 1)"]),
        ("docs/library.md", "# Library use", ["['class 3']", "(1, 28, 28, 1)"]),
    ],
)
def test_library_example_runs(capsys, page, after, printed):
    section = (ROOT / page).read_text().split(after, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, page, "exec"), {})
    out = capsys.readouterr().out
    assert all(p in out for p in printed), out

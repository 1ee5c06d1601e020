"""The README's library example runs as written."""

import re

from tests.conftest import ROOT


def test_readme_library_example_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Library use", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "['class 3']" in out and "(1, 28, 28, 1)" in out

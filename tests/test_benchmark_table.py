"""The README's performance table is the one the benchmark's JSON gives."""

import json

from benchmarks.readme_table import END, START, table
from tests.conftest import ROOT


def test_readme_table_matches_benchmark_json():
    report = json.loads((ROOT / "benchmarks" / "engine_speed.json").read_text())
    readme = (ROOT / "README.md").read_text()
    section = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == table(report)
    assert set(report["cases"]) >= {"conv2", "conv3", "class"}
    for case in report["cases"].values():
        assert {"featviz", "naive"} <= set(case["methods"])

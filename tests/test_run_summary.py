"""The lines a run ends with, read from a real Snakemake run's log."""

import subprocess
import sys
from pathlib import Path

from featviz import run_summary

SNAKEFILE = """
rule all:
    input: "ok.txt", "bad.txt"

rule ok:
    output: "ok.txt"
    shell: "echo ok > {output}"

rule bad:
    output: "bad.txt"
    log: "logs/bad.log"
    shell: "echo 'featviz bad: error: what went wrong' > {log}; exit 1"
"""


def test_a_failed_run_names_the_failed_jobs_log(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    snakemake = Path(sys.executable).with_name("snakemake")
    done = subprocess.run(
        [str(snakemake), "--cores", "1", "--keep-going"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    logs = sorted((tmp_path / ".snakemake" / "log").glob("*.snakemake.log"))
    assert run_summary.failed_logs(logs) == [("bad", "logs/bad.log")]
    message = run_summary.failed(logs, "/checkout")
    assert "rule bad: its log is logs/bad.log" in message
    assert "/checkout/docs/troubleshooting.md" in message
    assert str(logs[0]) in message


def test_a_failure_before_any_job_says_so(tmp_path):
    empty = tmp_path / "x.snakemake.log"
    empty.write_text("Building DAG of jobs...\nWorkflowError: bad config\n")
    assert "before any job ran" in run_summary.failed([empty], tmp_path)


def test_a_finished_run_lists_what_exists(tmp_path):
    assert "made none of" in run_summary.finished(tmp_path)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.md").write_text("# r")
    message = run_summary.finished(tmp_path)
    assert "report/report.md  (the report)" in message and "pdf" not in message.lower()

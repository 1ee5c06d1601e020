"""The cost of a run from its records: the critical path and the projections, on small DAGs
whose answers are known."""

from datetime import UTC, datetime, timedelta

import pytest

from featviz.run_times import TimedJob, critical_path, per_rule, predecessors, projected_wall

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(name: str, seconds: float, reads: str = "", rule: str = "") -> TimedJob:
    return TimedJob(
        rule=rule or name,
        command=f"featviz {name}",
        inputs=frozenset(reads.split()),
        outputs=frozenset({name}),
        seconds=seconds,
        started=T0,
        finished=T0 + timedelta(seconds=seconds),
    )


#: prepare (2) feeds a (10), b (3) and c (4); d (5) reads b and c; report (1) reads a and d.
DIAMOND = [
    job("prepare", 2),
    job("a", 10, "prepare", "study"),
    job("b", 3, "prepare", "study"),
    job("c", 4, "prepare", "study"),
    job("d", 5, "b c"),
    job("report", 1, "a d"),
]


def test_the_critical_path_is_the_longest_chain_of_jobs_that_read_each_other():
    assert predecessors(DIAMOND) == [[], [0], [0], [0], [2, 3], [1, 4]]
    seconds, chain = critical_path(DIAMOND)
    assert seconds == 2 + 10 + 1  # prepare, c, d, report take 12
    assert [j.command for j in chain] == ["featviz prepare", "featviz a", "featviz report"]


def test_projections_run_between_one_worker_and_the_critical_path():
    assert projected_wall(DIAMOND, 1) == 25
    assert projected_wall(DIAMOND, 100) == 13  # prepare, a (10), report: a's chain is 13
    # two workers: a and c first (longest paths ahead), then b, then d, then report
    assert projected_wall(DIAMOND, 2) == 2 + max(10, 4 + 3 + 5) + 1
    # at 30 s a job, the chain of four jobs is the longer one
    assert projected_wall(DIAMOND, 100, job_overhead=30) == 12 + 4 * 30
    with pytest.raises(ValueError, match="workers: 0; expected at least 1"):
        projected_wall(DIAMOND, 0)


def test_rules_are_summed_most_expensive_first():
    rows = per_rule(DIAMOND)
    assert [(r.rule, r.jobs, r.seconds, r.longest) for r in rows[:2]] == [
        ("study", 3, 17, 10),
        ("d", 1, 5, 5),
    ]


def test_a_cycle_of_files_is_refused():
    loop = [job("a", 1, "b"), job("b", 1, "a")]
    with pytest.raises(ValueError, match="cycle"):
        critical_path(loop)

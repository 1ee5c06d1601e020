"""What a finished run cost, read from its provenance records: each rule's time, the critical
path through the DAG, and the wall time the same jobs would take on more cores or a cluster.

Every job writes records that name its command, its inputs, its outputs and when it started
and finished (to the second). The jobs are the records grouped by command; a job follows
another when it reads a file the other wrote. The projections schedule the jobs on ``n``
single-core workers in the order the DAG allows, longest remaining path first (each job of
the workflow runs on one thread), with an optional cost per job (a cluster's queueing and
status checks); they assume a job takes as long there as it took here.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from featviz.verification import load_records


@dataclass(frozen=True)
class TimedJob:
    """One job of a run: its rule and command, the files it read and wrote, its seconds."""

    rule: str
    command: str
    inputs: frozenset[str]
    outputs: frozenset[str]
    seconds: float
    started: datetime
    finished: datetime


def read_jobs(root: str | Path) -> list[TimedJob]:
    """The jobs whose records are under ``root``'s trees, in the order they started.

    Raises:
        ValueError: no record with its start and finish times under ``root``.
    """
    records, _ = load_records(Path(root))
    by_command: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records.values():
        if rec.get("command") and rec.get("started") and rec.get("finished"):
            by_command[rec["command"]].append(rec)
    if not by_command:
        raise ValueError(
            f"{root}: no provenance record with a command and its start and finish times; "
            "expected the working directory of a finished run."
        )
    jobs = []
    for command, recs in by_command.items():
        started = min(datetime.fromisoformat(r["started"]) for r in recs)
        finished = max(datetime.fromisoformat(r["finished"]) for r in recs)
        jobs.append(
            TimedJob(
                rule=recs[0].get("rule") or command.split()[1],
                command=command,
                inputs=frozenset(p for r in recs for p in r.get("inputs", {})),
                outputs=frozenset(p for r in recs for p in (r["artifact"], *r.get("outputs", {}))),
                seconds=(finished - started).total_seconds(),
                started=started,
                finished=finished,
            )
        )
    return sorted(jobs, key=lambda j: (j.started, j.command))


def predecessors(jobs: Sequence[TimedJob]) -> list[list[int]]:
    """For each job, the indices of the jobs that wrote a file it read."""
    writer = {path: i for i, job in enumerate(jobs) for path in job.outputs}
    return [
        sorted({writer[p] for p in job.inputs if p in writer and writer[p] != i})
        for i, job in enumerate(jobs)
    ]


def _longest_ahead(
    jobs: Sequence[TimedJob], job_overhead: float
) -> tuple[list[list[int]], list[list[int]], list[float], list[float]]:
    """The DAG both ways (each job's predecessors and successors), each job's cost, and for
    each job the longest path of costs from its start to the end of the run.

    Raises:
        ValueError: the jobs' files form a cycle.
    """
    before = predecessors(jobs)
    after: list[list[int]] = [[] for _ in jobs]
    for i, preds in enumerate(before):
        for p in preds:
            after[p].append(i)
    cost = [job.seconds + job_overhead for job in jobs]
    ahead = [0.0] * len(jobs)
    for i in _reverse_topological(jobs, after):
        ahead[i] = cost[i] + max((ahead[s] for s in after[i]), default=0.0)
    return before, after, cost, ahead


def _reverse_topological(jobs: Sequence[TimedJob], after: list[list[int]]) -> list[int]:
    """The jobs' indices, each after every job that reads from it (depth first)."""
    order, state = [], [0] * len(after)  # 0 unseen, 1 on the path, 2 done
    for start in range(len(after)):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(after[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[node] = 2
                order.append(node)
            elif state[child] == 1:
                raise ValueError(f"The jobs' files form a cycle through {jobs[child].command!r}.")
            elif not state[child]:
                state[child] = 1
                stack.append((child, iter(after[child])))
    return order


def critical_path(jobs: Sequence[TimedJob]) -> tuple[float, list[TimedJob]]:
    """The longest chain of dependent jobs: its seconds and its jobs, first to last (the
    wall time no number of cores can beat)."""
    _, after, _, ahead = _longest_ahead(jobs, 0.0)
    node = max(range(len(jobs)), key=ahead.__getitem__)
    chain = [jobs[node]]
    while after[node]:
        node = max(after[node], key=ahead.__getitem__)
        chain.append(jobs[node])
    return max(ahead), chain


def projected_wall(jobs: Sequence[TimedJob], workers: int, job_overhead: float = 0.0) -> float:
    """Seconds the jobs take on ``workers`` single-core workers, each job starting once the
    jobs it reads from are done, the one with the longest path still ahead first; each job
    costs ``job_overhead`` seconds more (submission, queueing, status checks)."""
    if workers < 1:
        raise ValueError(f"workers: {workers}; expected at least 1.")
    before, after, cost, ahead = _longest_ahead(jobs, job_overhead)
    waiting = [len(preds) for preds in before]
    ready = [(-ahead[i], i) for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []
    now, free = 0.0, workers
    while ready or running:
        while ready and free:
            _, i = heapq.heappop(ready)
            heapq.heappush(running, (now + cost[i], i))
            free -= 1
        now, done = heapq.heappop(running)
        free += 1
        for s in after[done]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(ready, (-ahead[s], s))
    return now


@dataclass(frozen=True)
class RuleTime:
    """One rule's share of a run."""

    rule: str
    jobs: int
    seconds: float
    longest: float


def per_rule(jobs: Iterable[TimedJob]) -> list[RuleTime]:
    """Each rule's jobs and seconds, the most expensive rule first."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        grouped[job.rule].append(job.seconds)
    rows = [RuleTime(r, len(s), sum(s), max(s)) for r, s in grouped.items()]
    return sorted(rows, key=lambda row: (-row.seconds, row.rule))


def summary(
    jobs: Sequence[TimedJob], workers: Sequence[int], job_overhead: float = 0.0
) -> dict[str, Any]:
    """The figures :func:`describe` prints, as data (for a benchmark's JSON)."""
    length, chain = critical_path(jobs)
    return {
        "jobs": len(jobs),
        "job_seconds": sum(j.seconds for j in jobs),
        "wall_seconds": (
            max(j.finished for j in jobs) - min(j.started for j in jobs)
        ).total_seconds(),
        "rules": [row.__dict__ for row in per_rule(jobs)],
        "critical_path": {"seconds": length, "rules": [j.rule for j in chain]},
        "job_overhead": job_overhead,
        "projected_wall_seconds": {str(n): projected_wall(jobs, n, job_overhead) for n in workers},
    }


def describe(figures: dict[str, Any]) -> str:
    """The per-rule table, the totals, the critical path and the projections, as Markdown."""
    total = figures["job_seconds"] or 1.0
    lines = [
        "| rule | jobs | seconds | share | longest job (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in figures["rules"]:
        lines.append(
            f"| {row['rule']} | {row['jobs']} | {row['seconds']:.0f} | "
            f"{row['seconds'] / total:.0%} | {row['longest']:.0f} |"
        )
    path = figures["critical_path"]
    lines += [
        "",
        f"{figures['jobs']} jobs, {figures['job_seconds']:.0f} s of job time; "
        f"{figures['wall_seconds']:.0f} s from the first start to the last finish.",
        f"Critical path: {path['seconds']:.0f} s through {' -> '.join(path['rules'])}.",
    ]
    overhead = figures["job_overhead"]
    extra = f", {overhead:.0f} s more per job" if overhead else ""
    for n, seconds in figures["projected_wall_seconds"].items():
        lines.append(f"Projected on {n} single-core workers{extra}: {seconds:.0f} s.")
    return "\n".join(lines)

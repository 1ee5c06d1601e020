"""The paper's DAG at the paper's size, priced job by job from runs at that size.

``config/paper.yaml`` with ``config/paper-sized.yaml`` (generated data split as MNIST and SVHN
are) is a DAG of some 300 jobs that takes many hours of 2 cores. This script prices each of
its jobs (``snakemake -n``: every job, the files it reads and writes) from jobs run at full
data size, each at a cost of minutes, and extends what a run at the paper's budgets adds
along what it is proportional to:

- the *first* run: the whole DAG at full data size, with one epoch per training, the
  fixed-step studies (``filters``, ``joint``, ``convergence``) at few steps, and the renders
  of the ablation's shards, ``recommended`` and ``dictionary`` at 10 steps. Every other
  rule's jobs run as the paper runs them (``deconv``, ``redundancy``, ``directions``,
  ``activations``, the prior, the report, the atlas) and are priced at their measured time;
- ``recommended`` and ``dictionary``: the measured job (or shard: the job then scores
  what its shards rendered) plus its renders (each unit or
  feature maximized and minimized from ``references`` starts, ``steps: auto``) at the
  sample's seconds per image of the pixel-space group at the layer (the recipe the ablation
  chooses is not known before it runs; most of its settings are in that group);
- ``train``: the measured one-epoch job plus the paper's remaining epochs at that epoch's
  seconds (its ``metrics.json``);
- ``filters``, ``joint``, ``convergence``: each job also measured in the *second* run at
  more steps, and priced along the line through its two times at the paper's steps;
- ``ablation_shard``: a sample of the shards run in the second run at the paper's settings
  (``steps: auto``); a shard costs its images times the seconds per image of its group of
  settings and layer, measured or found from the sample as :meth:`ShardPrices.price` says;
- ``ablation`` (the merge that reads and scores every shard): measured in the first run
  (what it does does not depend on how long its shards rendered).

From those prices it writes each rule's jobs and seconds, the total, the critical path and
the wall time on 1, 2 and 8 single-core workers and on a 4-node cluster of 8 cores each
(:mod:`featviz.run_times`), to ``benchmarks/paper_dag.json``::

    python -m benchmarks.paper_dag --first DIR --second DIR   # runs both (incremental), prices
    python -m benchmarks.paper_dag --first DIR --second DIR --runs none     # prices only
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.machine import cpu_model
from benchmarks.readme_table import paper_dag_table
from featviz import run_times, studies, workflow
from featviz.settings import drop_removed, merge_config_files, validate_config
from featviz.studies.ablation import most_targets, named_recipes, plan_shards, render_groups

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (ROOT / "config" / "paper.yaml", ROOT / "config" / "paper-sized.yaml")
OUT = ROOT / "benchmarks" / "paper_dag.json"
MODEL = "cnn3"

#: The first run: the whole DAG at full data size, the parts priced elsewhere made cheap.
FIRST = {
    "train": {"epochs": 1},
    "filters": {"steps": 100},
    "joint": {"steps": 100},
    "convergence": {"steps": 1000},
    "ablation": {"steps": 10},
    "recommended": {"steps": 10},
    "dictionary": {"steps": 10},
}
#: The second run: the fixed-step studies at more steps; the ablation at the paper's settings.
SECOND = {
    "train": {"epochs": 1},
    "filters": {"steps": 1000},
    "joint": {"steps": 1000},
    "convergence": {"steps": 2000},
}
#: Rules whose jobs run a fixed number of steps, priced along the line through two runs.
FIXED_STEPS = ("filters", "joint", "convergence")
#: The sampled ablation shards, most telling first and in pairs of like cost (two run at a
#: time): (dataset, group, layer) of seed 0, each its middle part. Whatever has run when the
#: sample is stopped is what prices the rest.
SAMPLE = (
    ("synthetic-digits", "accentuation", "fc1"),
    ("synthetic-house-numbers", "accentuation", "fc1"),
    ("synthetic-digits", "accentuation", "conv3"),
    ("synthetic-digits", "accentuation", "fc2"),
    ("synthetic-digits", "fourier", "fc1"),
    ("synthetic-digits", "accentuation", "conv1"),
    ("synthetic-digits", "maco", "fc1"),
    ("synthetic-digits", "prior", "fc1"),
    ("synthetic-digits", "accentuation", "conv2"),
)
#: The cluster the projection assumes: nodes of cores, and a cost per job (submission,
#: queueing, status checks: 15 to 30 s on the test cluster).
CLUSTER_CORES, CLUSTER_JOB_OVERHEAD = 4 * 8, 30.0


@dataclass
class PlannedJob:
    """One job of the dry run: its rule, wildcards, benchmark file, inputs and outputs."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    benchmark: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs a ``snakemake -n`` printout lists (each block from its ``rule`` line)."""
    jobs: list[PlannedJob] = []
    for line in text.splitlines():
        head = re.match(r"^(?:local)?rule (\S+):$", line)
        if head:
            jobs.append(PlannedJob(head.group(1)))
            continue
        item = re.match(r"^ {4}(\w+): (.*)$", line)
        if not item or not jobs:
            continue
        key, value = item.groups()
        job = jobs[-1]
        if key == "input":
            job.inputs = value.split(", ")
        elif key == "output":
            job.outputs = value.split(", ")
        elif key == "benchmark":
            job.benchmark = value
        elif key == "wildcards":
            job.wildcards = dict(pair.split("=", 1) for pair in value.split(", "))
    return jobs


def snakemake(workdir: Path, configs: list[Path], *args: str, check: bool = True) -> str:
    """Snakemake on the package's Snakefile in ``workdir``; its printout.

    A job that has run is not run again because the code or its parameters changed since
    (``--rerun-triggers mtime``): the runs are measurements of hours, and taking one up after
    a commit would otherwise render every measured shard again. Delete a job's outputs to
    measure it again; its ``.prov.json`` says which code it ran."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    command += ["--rerun-triggers", "mtime", *args, "--configfile", *map(str, configs)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if check and done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def overlay(workdir: Path, name: str, settings: dict[str, Any]) -> Path:
    """``settings`` written as a config file in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def paper_config(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The paper-sized config as the workflow validates it, with ``extra`` over it."""
    config = merge_config_files(CONFIGS)
    for section, values in (extra or {}).items():
        config[section] = {**config.get(section, {}), **values}
    drop_removed(config)
    return validate_config(config)


def shard_images(config: dict[str, Any], dataset: str) -> dict[str, int]:
    """The images each ablation shard of ``dataset`` renders at most (its seed's layer may
    have fewer live units than it samples)."""
    settings = workflow.section(config, "ablation", MODEL)
    table = workflow.layer_table(config, dataset, MODEL)
    groups = render_groups(named_recipes(settings, table.input_shape[-1]))
    per = (settings["shard_batches"] or 0) * settings["batch_size"]
    images = {}
    for shard in plan_shards(settings, table.input_shape[-1], table):
        whole = most_targets(settings, table, shard.layer) * len(groups[shard.group])
        whole *= settings["references"]
        images[shard.key] = whole if shard.parts == 1 else min(per, whole - shard.part * per)
    return images


def sample_keys(images: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    """(dataset, shard key) of each sampled shard: seed 0's middle part of its call, among
    each dataset's shards (:func:`shard_images`)."""
    keys = []
    for dataset, group, layer in SAMPLE:
        mine = [k for k in images[dataset] if k.startswith(f"0-{group}-{layer}")]
        keys.append((dataset, mine[len(mine) // 2]))
    return keys


def every_shard_image(config: dict[str, Any]) -> dict[str, dict[str, int]]:
    """:func:`shard_images` of every dataset of ``config``."""
    return {dataset: shard_images(config, dataset) for dataset in config["datasets"]}


def seconds(workdir: Path, benchmark: str) -> float | None:
    """The seconds Snakemake's benchmark file in ``workdir`` recorded, if the job ran."""
    path = workdir / benchmark
    if not path.is_file():
        return None
    with path.open() as f:
        return float(next(csv.DictReader(f, delimiter="\t"))["s"])


def run_first(first: Path) -> None:
    """The first run, whole."""
    print(f"first run in {first}", flush=True)
    configs = [*CONFIGS, overlay(first, "first", FIRST)]
    snakemake(first, configs, "--cores", "2", "--rerun-incomplete")


def run_second(first: Path, second: Path) -> None:
    """In the second run, from the first run's data and models: the fixed-step studies,
    then the sample, two shards at a time (a job a core, as the first run ran)."""
    second_config = overlay(second, "second", SECOND)
    for dataset in paper_config()["datasets"]:
        for what in ("data", MODEL, "prior"):
            source, target = first / "results" / dataset / what, second / "results" / dataset
            if not (target / what).exists():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copytree(source, target / what, copy_function=shutil.copy2)
    configs = [*CONFIGS, second_config]
    print(f"second run in {second}: {', '.join(FIXED_STEPS)}", flush=True)
    snakemake(second, configs, "--cores", "2", "--until", *FIXED_STEPS)
    keys = sample_keys(every_shard_image(paper_config(SECOND)))
    for pair in (keys[i : i + 2] for i in range(0, len(keys), 2)):
        print(f"sample shards: {pair}", flush=True)
        targets = [f"results/{d}/{MODEL}/ablation/shards/recipes/{k}.npz" for d, k in pair]
        snakemake(second, configs, "--cores", "2", *targets)


def planned_jobs() -> list[PlannedJob]:
    """The paper-sized DAG's jobs (a dry run from an empty directory)."""
    with tempfile.TemporaryDirectory() as scratch:
        text = snakemake(Path(scratch), list(CONFIGS), "-n")
    return [job for job in parse_dry_run(text) if job.benchmark]


#: The pixel-space group: most of the ablation's settings, sampled at several layers.
BASE = "accentuation"


@dataclass
class ShardPrices:
    """Seconds per image of the sampled shards, by (dataset, group, layer), and each layer's
    floating-point operations per image·step, by (dataset, layer)."""

    per_image: dict[tuple[str, str, str], float]
    flops: dict[tuple[str, str], float]

    def _fit(self, dataset: str) -> tuple[float, float] | None:
        """Seconds per image of the pixel-space group on ``dataset`` as ``a + b·flops``,
        through its sampled layers (least squares, ``b`` at least 0); None under two."""
        points = [
            (self.flops[d, layer], v)
            for (d, g, layer), v in self.per_image.items()
            if (d, g) == (dataset, BASE)
        ]
        if len(points) < 2:
            return None
        x, y = np.array(points).T
        b = max(0.0, float(np.polyfit(x, y, 1)[0]))
        return float(np.mean(y - b * x)), b

    def base(self, dataset: str, layer: str) -> tuple[float, str] | None:
        """The pixel-space group's seconds per image at ``layer`` and how they were found:
        measured; affine in the layers' operations per image·step through the dataset's
        sampled layers; or the other dataset's such line at this dataset's operations,
        scaled to its one sampled layer where it has one."""
        known, flops = self.per_image, self.flops
        if (dataset, BASE, layer) in known:
            return known[dataset, BASE, layer], "measured"
        fit = self._fit(dataset)
        if fit:
            return fit[0] + fit[1] * flops[dataset, layer], "affine in FLOPs through the sample"
        mine = [(other, v) for (d, g, other), v in known.items() if (d, g) == (dataset, BASE)]
        for d in sorted({d for d, _, _ in known} - {dataset}):
            fit = self._fit(d)
            if fit is None:
                continue
            value = fit[0] + fit[1] * flops[dataset, layer]
            if not mine:
                return value, f"{d}'s line at these FLOPs"
            other, measured = mine[0]
            scale = measured / (fit[0] + fit[1] * flops[dataset, other])
            return value * scale, f"{d}'s line at these FLOPs, scaled to {other}"
        return None

    def price(self, dataset: str, group: str, layer: str) -> tuple[float, str] | None:
        """Seconds per image of ``group`` at ``layer`` and how they were found; None if
        nothing prices it. Another group costs the pixel-space group's price times its own
        measured ratio to that group (the mean over its sampled shards), or as much."""
        if (dataset, group, layer) in self.per_image:
            return self.per_image[dataset, group, layer], "measured"
        found = self.base(dataset, layer)
        if found is None or group == BASE:
            return found
        ratios = [
            v / base[0]
            for (d, g, other), v in self.per_image.items()
            if g == group and (base := self.base(d, other))
        ]
        if ratios:
            return found[0] * float(np.mean(ratios)), f"{BASE}'s × its sampled ratio"
        return found[0], f"as {BASE}"


def operations() -> dict[tuple[str, str], float]:
    """Each dataset's floating-point operations per image·step at each layer, forward and
    backward (the job benchmark's count for cnn3 at the dataset's shape)."""
    job = json.loads((ROOT / "benchmarks" / "job_speed.json").read_text())
    return {
        (entry["dataset"], layer): float(j["flops_per_image_step"])
        for entry in job["shapes"].values()
        for layer, j in entry["fixed"]["jobs"].items()
    }


def rendered_images(
    config: dict[str, Any], job: PlannedJob, split: set[tuple[str, str, str]]
) -> int:
    """The images a ``recommended`` or ``dictionary`` job (or shard) renders: its units or
    features, maximized and minimized from ``references`` starts each. A job whose shards
    render (``split``: (study, dataset, layer)) renders none itself."""
    dataset, layer = job.wildcards["dataset"], job.wildcards["job"]
    study = job.rule.removesuffix("_shard")
    settings = workflow.section(config, study, MODEL)
    if job.rule == study and (study, dataset, layer) in split:
        return 0
    if study == "dictionary":
        return settings["features"] * 2 * settings["references"]
    table = workflow.layer_table(config, dataset, MODEL)
    units = studies.get("filters").units_of(
        workflow.section(config, "filters", MODEL), table, layer
    )
    if job.rule == "recommended_shard":
        low, high = map(int, job.wildcards["shard"].split("-")[1:])
        units = [u for u in units if low <= u <= high]
    return len(units) * 2 * settings["references"]


def price_shard(job: PlannedJob, images: dict[str, dict[str, int]], prices: ShardPrices):
    """An ablation shard's seconds (its images at its pair's seconds per image) and how."""
    dataset, key = job.wildcards["dataset"], job.wildcards["shard"]
    _, group, layer = key.split("-")[:3]
    found = prices.price(dataset, group, layer)
    if found is None:
        raise SystemExit(f"no sampled shard prices {dataset} {key}")
    per_image, how = found
    return images[dataset][key] * per_image, how


def price(first: Path, second: Path) -> dict[str, Any]:
    """Every job of the paper-sized DAG priced; the figures for the JSON file."""
    config = paper_config()
    epochs = config["train"]["epochs"]
    # the second run renders the ablation at the paper's settings: the same shards
    images = every_shard_image(config)
    per_image = {}
    sample = []
    for dataset, key in sample_keys(images):
        bench = f"benchmarks/runs/ablation/{dataset}/{MODEL}/recipes/{key}.tsv"
        s = seconds(second, bench)
        if s is None:
            continue
        _, group, layer = key.split("-")[:3]
        per_image[dataset, group, layer] = s / images[dataset][key]
        sample.append(
            {"dataset": dataset, "shard": key, "images": images[dataset][key], "seconds": s}
        )
    prices = ShardPrices(per_image, operations())

    priced, how_by_rule, missing = [], {}, []
    start = datetime(2000, 1, 1)
    planned = planned_jobs()
    split = {
        (j.rule.removesuffix("_shard"), j.wildcards["dataset"], j.wildcards["job"])
        for j in planned
        if j.rule.endswith("_shard")
    }
    for job in planned:
        bench = job.benchmark
        if job.rule == "ablation_shard":
            s, how = price_shard(job, images, prices)
        elif job.rule in FIXED_STEPS:
            low, high = seconds(first, bench), seconds(second, bench)
            if low is None or high is None:
                missing.append(bench)
                continue
            n1, n2 = FIRST[job.rule]["steps"], SECOND[job.rule]["steps"]
            target = config[job.rule]["steps"]
            slope = max(0.0, (high - low) / (n2 - n1))
            s, how = high + (target - n2) * slope, f"line through {n1} and {n2} steps"
        else:
            s = seconds(first, bench)
            if s is None:
                missing.append(bench)
                continue
            how = "measured"
            if job.rule == "train":
                model_dir = first / job.outputs[0].rsplit("/", 1)[0]
                metrics = json.loads((model_dir / "metrics.json").read_text())
                s += (epochs - 1) * metrics["train_seconds"]
                how = f"one epoch measured, {epochs - 1} more at its seconds"
            elif job.rule.removesuffix("_shard") in ("recommended", "dictionary"):
                n = rendered_images(config, job, split)
                found = prices.price(job.wildcards["dataset"], BASE, job.wildcards["job"])
                if n and found is None:
                    raise SystemExit(f"no sampled shard prices the renders of {bench}")
                if n:  # a job whose shards rendered is measured: it scores what they made
                    s += n * found[0]
                    how = "measured at 10 steps, plus its renders at the pixel-space group's price"
        how_by_rule.setdefault(job.rule, Counter())[how] += 1
        priced.append(
            run_times.TimedJob(
                rule=job.rule,
                command=bench,
                inputs=frozenset(job.inputs),
                outputs=frozenset(job.outputs),
                seconds=s,
                started=start,
                finished=start + timedelta(seconds=s),
            )
        )
    if missing:
        raise SystemExit(f"{len(missing)} jobs not measured, e.g. {missing[:5]}")
    figures = run_times.summary(priced, [1, 2, 8])
    cluster = run_times.projected_wall(priced, CLUSTER_CORES, CLUSTER_JOB_OVERHEAD)
    length, chain = run_times.critical_path(priced)
    del figures["wall_seconds"]
    return {
        "what": (
            "config/paper.yaml + config/paper-sized.yaml priced job by job from runs at full "
            "data size (benchmarks/paper_dag.py's docstring says how each rule is priced)"
        ),
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "first_run": FIRST,
        "second_run": SECOND,
        "epochs": epochs,
        "sample": sample,
        "priced_by_rule": {rule: dict(h.most_common()) for rule, h in how_by_rule.items()},
        **figures,
        "critical_path": {
            "seconds": length,
            "jobs": [{"rule": j.rule, "job": j.command, "seconds": j.seconds} for j in chain],
        },
        "cluster": {
            "cores": CLUSTER_CORES,
            "job_overhead": CLUSTER_JOB_OVERHEAD,
            "projected_wall_seconds": cluster,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--first", type=Path, required=True, help="the first run's directory")
    parser.add_argument("--second", type=Path, required=True, help="the second run's directory")
    parser.add_argument(
        "--runs",
        choices=("both", "second", "none"),
        default="both",
        help="which runs to run (or take up) before pricing; none: price what has run",
    )
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args(argv)
    first, second = args.first.resolve(), args.second.resolve()
    if args.runs == "both":
        run_first(first)
    if args.runs != "none":
        run_second(first, second)
    figures = price(first, second)
    args.json.write_text(json.dumps(figures, indent=1) + "\n")
    print(paper_dag_table(figures))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

"""Write the README's performance table from ``benchmarks/engine_speed.json``.

The table sits between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in
README.md; this script replaces what is there, so the README never quotes a
number the benchmark did not produce. ``tests/test_benchmark_table.py`` checks
that the two agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LABELS = {
    "featviz": "featviz `render` (graph mode, truncated, channel-sliced)",
    "featviz_regularized": "featviz with `default_set()` regularizers",
    "naive": "naive: one filter at a time, eager",
    "tf_keras_vis": "tf-keras-vis 0.8.7, one batch",
}
CASES = {"conv2": "64 conv2 filters", "conv3": "128 conv3 filters", "class": "10 class logits"}


def table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Measured by `make bench` ({m['cpus']} CPU cores, TensorFlow {m['tensorflow']}, "
        f"Keras {m['keras']}, backend {m['backend']}); 2048x2048 fp32 matmul roofline "
        f"{report['roofline_gflops']:.0f} GFLOP/s. Each call timed whole, compilation included; "
        "256 Adam steps at learning rate 0.05 from the same start images, no regularizers "
        "unless stated.",
        "",
        "| objectives | method | seconds | image·steps/s | GFLOP/s | mean objective | featviz is |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = sorted(report["cases"], key=lambda c: list(CASES).index(c) if c in CASES else 99)
    for case in order:
        res = report["cases"][case]
        for name, r in res["methods"].items():
            ratio = "—" if name == "featviz" else f"{res['speedup'][f'vs_{name}']:.1f}× faster"
            if name == "featviz_regularized":
                ratio = f"{r['seconds'] / res['methods']['featviz']['seconds']:.2f}× the time"
            n = (
                f" ({r['images']} of {res['objectives']})"
                if r["images"] != res["objectives"]
                else ""
            )
            lines.append(
                f"| {CASES.get(case, case)} | {LABELS.get(name, name)}{n} | {r['seconds']:.2f} | "
                f"{r['image_steps_per_s']:,.0f} | {r['gflops']:.1f} | {r['objective']:.4f} "
                f"| {ratio} |"
            )
    naive = [
        f"{CASES.get(c, c)} {r['methods']['naive']['featviz_objective_same_images']:.4f}"
        for c, r in report["cases"].items()
        if "featviz_objective_same_images" in r["methods"].get("naive", {})
    ]
    if naive:
        lines += [
            "",
            "The naive loop's objective is its mean over the filters it ran; featviz's "
            "mean over the same filters: " + ", ".join(naive) + ".",
        ]
    mem = report.get("memory_mb", {})
    if mem:
        steps = sorted(mem, key=int)
        lines += [
            "",
            "Peak resident memory rendering the 64 conv2 filters: "
            + ", ".join(f"{mem[s]:.0f} MB at {int(s):,} steps" for s in steps)
            + ".",
        ]
    return "\n".join(lines)


def main() -> None:
    report = json.loads((ROOT / "benchmarks" / "engine_speed.json").read_text())
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        sys.exit(f"{readme} lacks the {START} ... {END} markers.")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table(report)}\n{END}{tail}")
    print(f"updated the table in {readme}")


if __name__ == "__main__":
    main()

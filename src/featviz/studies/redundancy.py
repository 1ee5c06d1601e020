"""How many filters does the network use, and does depth pay? (the seed's future work)

Three questions about a trained model:

- *dead* filters: never active (ReLU output zero everywhere) on the test split;
  *near-dead*: active on fewer than ``near_dead`` of the test images;
- *near-duplicate* filters: pairs whose kernels point the same way (cosine of
  the flattened kernels above ``weight_similarity``) or whose activation maps
  move together (correlation over every position of the first
  :data:`MAP_IMAGES` test images above ``activation_correlation``; mean
  activations per image would mostly measure how much ink an image has);
  linked pairs form clusters;
- *narrower and shallower*: the architecture retrained with a fraction of the
  filters per layer, and with its last convolution dropped (cnn3 -> cnn2), each
  with the same training settings and the seeds listed, so that a difference in
  test accuracy can be told from the spread between seeds.

The retrained models are ordinary jobs of the train rule, named
``<model>.<variant>.s<seed>``; this study reads their ``metrics.json``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import atomic_path, read_json, write_npz
from featviz.metrics import active_share, live, mean_and_spread
from featviz.models.layers import CONVOLUTIONS, LayerTable
from featviz.plotting import new_figure, save_figure
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study

#: The name of the unchanged architecture among the variants.
FULL = "full"
#: Test images whose activation maps are correlated (every position of each).
MAP_IMAGES = 500


def variant_name(model: str, variant: str, seed: int) -> str:
    """The model name of ``variant`` of ``model`` trained with ``seed``."""
    return f"{model}.{variant}.s{seed}"


def variant_architecture(entry: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with its conv widths scaled by ``width`` and its last ``drop_conv`` convs dropped.

    Raises:
        ValueError: dropping every convolution.
    """
    filters = list(entry["conv_filters"])
    if change["drop_conv"] >= len(filters):
        raise ValueError(
            f"redundancy: dropping {change['drop_conv']} of {len(filters)} conv layers leaves none."
        )
    filters = filters[: len(filters) - change["drop_conv"]]
    scaled = [max(1, round(w * change["width"])) for w in filters]
    return {**{k: v for k, v in entry.items() if k != "settings"}, "conv_filters": scaled}


def clusters(similar: np.ndarray) -> list[list[int]]:
    """Groups of two or more units linked by ``similar`` (a boolean matrix), each sorted."""
    n = len(similar)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(similar, 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def cosine_matrix(kernel: np.ndarray) -> np.ndarray:
    """Cosine similarity between the flattened kernels of every pair of output channels."""
    flat = kernel.reshape(-1, kernel.shape[-1]).T
    flat = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    return flat @ flat.T


def correlation_matrix(responses: np.ndarray) -> np.ndarray:
    """Correlation of the units' responses ``(samples, units)``; 0 where a unit never varies."""
    centred = responses - responses.mean(axis=0)
    norm = np.linalg.norm(centred, axis=0)
    live = norm > 0
    out = np.zeros((responses.shape[1],) * 2)
    out[np.ix_(live, live)] = (centred[:, live] / norm[live]).T @ (centred[:, live] / norm[live])
    return out


#: Layers whose filters have a kernel to compare.
KERNEL_KINDS = CONVOLUTIONS | {"Dense"}


class Redundancy(Study):
    name = "redundancy"
    resources = {"mem_mb": 4000, "runtime": 120}
    renders = False
    category = "Redundancy"
    sections = {"redundancy": "Unused, duplicated and unneeded: filters and depth"}
    figures = {"figure": "{job}.png", "accuracy": "{job}_accuracy.png"}
    files = {"layers": "{job}.csv", "retrained": "{job}_accuracy.csv", "arrays": "{job}.npz"}

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        return ["filters"]

    def check(self, settings: Settings, table: LayerTable) -> None:
        """Each layer exists and has a kernel to compare (a convolution or a dense layer)."""
        kernels = [layer.name for layer in table.layers if layer.kind in KERNEL_KINDS]
        for layer in settings["layers"]:
            self.check_layer(table, layer)
            kind = table.get(layer).kind
            if kind not in KERNEL_KINDS:
                raise ValueError(
                    f"{self.name}.layers: '{layer}' is a {kind} layer, which has no kernel "
                    f"whose filters could be compared. Layers with a kernel: "
                    f"{', '.join(kernels) or 'none'}."
                )

    def trains(
        self, settings: Settings, model: str, entry: Mapping[str, Any], train_seed: int
    ) -> dict[str, tuple[str, dict[str, Any] | None, int]]:
        """The retrained models, by input name ``metrics:<variant>:<seed>``: ``(model name,
        architecture, seed)``, with no architecture for the model itself (the full
        architecture at the train seed). A model given as a file has no architecture to
        vary: nothing is retrained.
        """
        if "path" in entry or not settings["seeds"]:
            return {}
        variants = {FULL: {"width": 1.0, "drop_conv": 0}, **settings["variants"]}
        out: dict[str, tuple[str, dict[str, Any] | None, int]] = {}
        for variant, change in variants.items():
            for seed in settings["seeds"]:
                key = f"metrics:{variant}:{seed}"
                if variant == FULL and seed == train_seed:
                    out[key] = (model, None, seed)
                else:
                    architecture = variant_architecture(entry, change)
                    out[key] = (variant_name(model, variant, seed), architecture, seed)
        return out

    def run(self, job: Job, settings: Settings) -> Result:
        """Count dead and duplicated filters per layer; tabulate the retrained models."""
        import keras

        from featviz.models import probe

        model = probe.load_model(job.model)
        test = to_model_input(load_prepared(job.require_data(self.name))["x_test"])
        rows, matrices = [], {}
        # Peaks of the whole split reduced inside the model, every layer in one pass; whole
        # maps of the first images only (a wide layer's maps of every test image need not
        # fit in memory).
        peaks = probe.unit_scores_of(model, settings["layers"], test, reduce="max")
        for layer in settings["layers"]:
            peak = peaks[layer]
            acts = probe.activations(model, test[:MAP_IMAGES], [layer], batch_size=256)[layer]
            responses = acts.reshape(-1, acts.shape[-1])
            active = active_share(peak)
            kernel = keras.ops.convert_to_numpy(model.get_layer(layer).kernel)
            weights = cosine_matrix(kernel)
            correlation = correlation_matrix(responses)
            similar = (weights > settings["weight_similarity"]) | (
                correlation > settings["activation_correlation"]
            )
            np.fill_diagonal(similar, False)
            dead = active == 0
            similar[dead] = similar[:, dead] = False  # dead units are counted as dead, not twins
            groups = clusters(similar)
            rows.append(
                {
                    "layer": layer,
                    "units": int(len(active)),
                    "dead": int(dead.sum()),
                    # active somewhere, but not live at the near_dead share
                    "near_dead": int(((active > 0) & ~live(active, settings["near_dead"])).sum()),
                    "duplicate_clusters": len(groups),
                    "in_clusters": int(sum(len(g) for g in groups)),
                    "redundant": int(sum(len(g) - 1 for g in groups)),
                    "largest_cluster": max((len(g) for g in groups), default=0),
                }
            )
            cluster = np.full(len(active), -1)
            for number, group in enumerate(groups):
                cluster[group] = number
            matrices[layer] = (weights, correlation, dead, groups, cluster, active)
        files = {key: job.path(name) for key, name in self.files.items()}
        write_npz(
            files["arrays"],
            layers=np.array(settings["layers"]),
            **{f"{layer}_weight_cosine": m[0] for layer, m in matrices.items()},
            **{f"{layer}_activation_correlation": m[1] for layer, m in matrices.items()},
            **{f"{layer}_dead": m[2] for layer, m in matrices.items()},
            **{f"{layer}_cluster": m[4] for layer, m in matrices.items()},
            **{f"{layer}_active_share": m[5] for layer, m in matrices.items()},
        )
        with atomic_path(files["layers"]) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        accuracy = self.accuracies(job)
        changes = {FULL: {"width": 1.0, "drop_conv": 0}, **settings["variants"]}
        for entry in accuracy:
            entry.update(changes.get(entry["variant"], {}))
        with atomic_path(files["retrained"]) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["variant", "seed", "test_accuracy", "parameters"])
            for v in accuracy:
                for seed, acc in zip(v["seeds"], v["accuracies"], strict=True):
                    writer.writerow([v["variant"], seed, f"{acc:.6f}", v["parameters"]])
        png = {key: job.path(name) for key, name in self.figures.items()}
        plot_similarity(matrices, settings, png["figure"])
        plot_accuracy(accuracy, png["accuracy"])
        described = "; ".join(
            f"{r['layer']}: {r['dead']} dead, {r['near_dead']} near-dead, {r['redundant']} "
            f"redundant in {r['duplicate_clusters']} clusters of {r['units']}"
            for r in rows
        )
        figures = [
            Figure(
                png["figure"],
                f"Filters of {job.label}, layer by layer: the cosine similarity of every pair of "
                "kernels (upper triangle) and the correlation of their activation maps over "
                f"{min(MAP_IMAGES, len(test))} test images (lower triangle), filters ordered by "
                "duplicate "
                f"cluster; a pair is a near-duplicate above {settings['weight_similarity']:g} "
                f"cosine or {settings['activation_correlation']:g} correlation; ticks mark dead "
                f"filters. {described}.",
                "redundancy",
            ),
            Figure(
                png["accuracy"],
                f"Test accuracy against parameters of {job.model_name or 'the model'} retrained "
                "narrower and shallower on "
                f"{job.dataset or 'the data'} with the same training settings: mean ± standard "
                f"deviation over seeds {', '.join(map(str, settings['seeds']))}."
                if accuracy
                else f"No model was retrained for {job.label} (no seeds, or a model file).",
                "redundancy",
            ),
        ]
        return Result(
            stage=self.name,
            job=job.key,
            figures=figures,
            files=list(files.values()),
            numbers={
                "layers": rows,
                "retrained": accuracy,
                "settings": {
                    k: settings[k]
                    for k in ("near_dead", "weight_similarity", "activation_correlation")
                },
            },
        )

    def accuracies(self, job: Job) -> list[dict[str, Any]]:
        """Per variant: its seeds' test accuracies (read from the retrained models' metrics)."""
        found: dict[str, dict[str, Any]] = {}
        for name, path in sorted(job.extras.items()):
            if not name.startswith("metrics:"):
                continue
            _, variant, seed = name.split(":")
            metrics = read_json(path)
            entry = found.setdefault(
                variant,
                {
                    "variant": variant,
                    "seeds": [],
                    "accuracies": [],
                    "parameters": metrics["parameters"],
                    "at_chance": [],
                },
            )
            entry["seeds"].append(int(seed))
            entry["accuracies"].append(metrics["test_accuracy"])
            if metrics.get("at_chance"):  # it never learned: the spread says little
                entry["at_chance"].append(int(seed))
        out = []
        for entry in found.values():
            entry["mean"], entry["std"] = mean_and_spread(entry["accuracies"])
            out.append(entry)
        return sorted(out, key=lambda e: -e["parameters"])

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        if not results:
            return None
        runs = []
        for r in results:
            retrained = r.numbers["retrained"]
            full = next((v for v in retrained if v["variant"] == FULL), None)
            runs.append(
                {
                    "dataset": r.labels.get("dataset", ""),
                    "model": r.labels.get("model", ""),
                    "layers": r.numbers["layers"],
                    "retrained": retrained,
                    "full": full,
                    "settings": r.numbers["settings"],
                }
            )
        return {"runs": runs}


def plot_similarity(matrices: Mapping[str, tuple], settings: Settings, png: Path) -> list[Path]:
    """Per layer: kernel cosine above the diagonal, activation correlation below it."""
    layers = list(matrices)
    fig = new_figure(3.0 * len(layers), 3.2)
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    for ax, layer in zip(axes, layers, strict=True):
        weights, correlation, dead, groups, _, _ = matrices[layer]
        grouped = [i for g in groups for i in g]
        order = grouped + [i for i in range(len(weights)) if i not in grouped]
        w, c = weights[np.ix_(order, order)], correlation[np.ix_(order, order)]
        shown = np.triu(w, 1) + np.tril(c, -1) + np.eye(len(w))
        image = ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ticks = [k for k, i in enumerate(order) if dead[i]]
        ax.set_xticks(ticks, ["•"] * len(ticks), fontsize=4)
        ax.set_yticks([])
        ax.set_title(f"{layer}: {len(groups)} clusters, {int(dead.sum())} dead", fontsize=7)
        fig.colorbar(image, ax=ax, shrink=0.7)
    return save_figure(fig, png)


def plot_accuracy(accuracy: Sequence[Mapping[str, Any]], png: Path) -> list[Path]:
    """Test accuracy (mean ± std over seeds) against parameter count, one point per variant."""
    fig = new_figure(4.0, 2.8)
    ax = fig.subplots()
    for v in accuracy:
        ax.errorbar(v["parameters"], v["mean"], yerr=v["std"], fmt="o", markersize=4, capsize=2)
        ax.annotate(
            v["variant"],
            (v["parameters"], v["mean"]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("test accuracy")
    if not accuracy:
        ax.text(0.5, 0.5, "nothing retrained", ha="center", va="center", transform=ax.transAxes)
    return save_figure(fig, png)


STUDY = Redundancy()

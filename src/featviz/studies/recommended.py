"""Every unit under the recommended recipe: what the atlas shows beside the seed's pictures.

The filters study renders each unit the seed's way; the ablation study measures
which recipe makes visualizations interpretable on a sample of units and writes
its choice (``recipes_recommended.json``). This study renders every unit the
filters study rendered (its jobs are the filters study's) again, under that
recipe: maximized and minimized from ``references`` start images each, all in one
batched call, so the two-alternative task sees as many visualizations on each side as
natural exemplars. Each unit is scored
as the ablation scores its sample, so a reader can see how far the sample's
verdict holds for every unit:

- the machine two-alternative score with these visualizations as references,
  and its ceiling with the unit's natural exemplars (:func:`featviz.metrics.unit_two_afc`);
- the high-frequency share of each maximizing image, and their diversity;
- for classes, the judge model's confidence in the intended class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from featviz import metrics
from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import read_npz, write_npz
from featviz.models.layers import LayerTable
from featviz.plateau import describe_steps
from featviz.plotting import plot_grid
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study, format_units
from featviz.units import BothEnds, describe_reach, layer_recipe, render_both_ends, score_units


class Recommended(Study):
    name = "recommended"
    category = "Recommended recipe"
    sections = {"recommended": "Every unit under the recommended recipe"}
    files = {"arrays": "{job}.npz"}
    reads = {
        "filters": ("filters", "arrays"),
        "recommended": ("ablation", "recommended", "recipes"),
    }
    same_jobs_as = "filters"

    shard_resources = {"mem_mb": 4000, "runtime": 120}
    # Whether a wide layer's runs of units are jobs of their own plans jobs only: the
    # outputs are the same either way.
    plan_keys = ("split",)

    def check(self, settings: Settings, table: LayerTable) -> None:
        """Nothing of its own: its layers and units are the filters study's, checked there."""

    def needs(self, settings: Settings) -> list[str]:
        return ["judge"]

    def shards(
        self, settings: Settings, table: LayerTable, key: str, units: Sequence[int] | None = None
    ) -> list[str]:
        """A shard per run of ``shard_units`` unit indices of a wider layer that holds units
        the filters study rendered (``units``; every unit when not given), if split."""
        runs = index_runs(table.get(key).units, settings["shard_units"])
        if units is not None:
            runs = [r for r in runs if any(u in r for u in units)]
        return [run_key(r) for r in runs] if settings["split"] and len(runs) > 1 else []

    def shard_needs(self, settings: Settings) -> list[str]:
        # the units and the recipe, and the prior where the recipe renders through it;
        # no judge: a shard renders, the layer's job scores
        return ["filters", "recommended", "prior"]

    def run_shard(self, job: Job, settings: Settings, shard: str) -> dict[str, np.ndarray]:
        """Render the filters study's units of one run of indices, as the layer's job does."""
        part = _Units(job, settings)
        runs = {run_key(r): r for r in part.runs}
        if shard not in runs:
            raise ValueError(
                f"--shard {shard}: not a shard of this job; its shards are {', '.join(runs)}."
            )
        members = part.members(runs[shard])
        ends = part.render(members)
        return {
            "indices": np.array([part.indices[m] for m in members], dtype=np.int64),
            **ends.arrays(),
        }

    def run(self, job: Job, settings: Settings) -> Result:
        """Render the filters study's units under the chosen recipe; score each unit."""
        from featviz.models import probe

        judge = probe.load_model(job.extra("judge"))
        units = _Units(job, settings)
        model, indices, setting = units.model, units.indices, units.setting
        judged = probe.layer_table(judge)
        layer, k, classes, names = job.key, settings["references"], units.classes, units.names
        data = units.data
        n = len(indices)
        # k maximizing and k minimizing images per unit, each from its own start: as many
        # references on each side as the natural ceiling gets; a run of unit indices per
        # render call, or per shard
        ends = units.gather()
        starts = ends.starts
        max_images, min_images = ends.images
        max_values, min_values = ends.values

        test = to_model_input(data["x_test"])
        scores = probe.unit_scores(model, layer, test)[:, indices]
        best_test, active = scores.max(axis=0), metrics.active_share(scores)
        top = max_values.argmax(axis=1)
        reached = metrics.reach(
            max_values.max(axis=1), starts[0, np.arange(n), top], best_test, active
        )
        embed = judged.embedding_layer()
        natural = probe.activations(judge, test, [embed], batch_size=256)[embed]
        seen = probe.activations(judge, ends.flat_images(), [embed, judged.logits])
        emb = seen[embed].reshape(2, n, k, -1)
        scored = score_units(natural, scores, emb[0], emb[1], max_images, k, settings["queries"])
        hf, diversity = scored.hf_share, scored.diversity
        confidence = np.full((n, k), np.nan)
        if classes:
            logits = seen[judged.logits].reshape(2, n, k, -1)[0]
            confidence = np.stack(
                [metrics.transferability(logits[u], [indices[u]] * k) for u in range(n)]
            )
        arrays = job.path(self.files["arrays"])
        write_npz(
            arrays,
            indices=np.array(indices),
            max_images=max_images,
            max_values=max_values,
            max_start_values=starts[0],
            min_images=min_images,
            min_values=min_values,
            best_test=best_test,
            active_share=active,
            two_afc=scored.two_afc,
            natural_two_afc=scored.ceiling,
            hf_share=hf,
            diversity=diversity,
            confidence=confidence,
            stopped=ends.stopped.reshape(2, n, k)[0, :, 0],
        )

        labels = [names[i] if classes else f"#{i}" for i in indices]
        steps = describe_steps(settings, ends.stopped)
        lr, seed = settings["learning_rate"], settings["seed"]
        png = job.path(self.figures["figure"])
        title = f"{layer}: recommended recipe '{setting}', seed {seed}"
        shown = np.arange(n), top
        plot_grid(max_images[shown], max_values[shown], labels, title, png)
        noun = "class" if classes else "unit"
        caption = (
            f"{format_units(labels if classes else indices, noun)} of {layer} of {job.label} "
            f"under the recipe the ablation chose ('{setting}': {ends.how}): "
            f"{steps} at learning rate {lr:g} from seed {seed}, the best of "
            f"{k} maximizing starts shown, titled with the objective reached. Mean machine "
            f"two-alternative score {np.nanmean(scored.two_afc):.3f} with {k} maximizing and {k} "
            f"minimizing images as references (natural exemplars, {k} and {k}: "
            f"{np.nanmean(scored.ceiling):.3f}); high-frequency share {hf.mean():.3f}. "
            f"{describe_reach(reached)}"
        )
        numbers: dict[str, Any] = {
            "layer": layer,
            "setting": setting,
            "units": n,
            "two_afc": metrics.mean_and_spread(scored.two_afc),
            "natural_two_afc": metrics.mean_and_spread(scored.ceiling),
            "hf_share": metrics.mean_and_spread(hf.ravel()),
            "diversity": metrics.mean_and_spread(diversity),
            "mean_objective": float(max_values.max(axis=1).mean()),
            "references": k,
            **reached,
        }
        if classes:
            numbers["confidence"] = metrics.mean_and_spread(confidence.ravel())
        return Result(
            stage=self.name,
            job=layer,
            figures=[Figure(png, caption, "recommended")],
            files=[arrays],
            numbers=numbers,
            seeds={"render_seed": seed},
        )

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        """Per dataset and model, each layer's recipe and mean scores, and how its
        two-alternative score compares with the natural-exemplar ceiling (told apart at two
        standard errors). The ablation may choose a different recipe for each layer."""
        if not results:
            return None
        runs: dict[tuple[str, str], dict[str, Any]] = {}
        for r in results:
            key = (r.labels.get("dataset", ""), r.labels.get("model", ""))
            run = runs.setdefault(
                key,
                {
                    "dataset": key[0],
                    "model": key[1],
                    "references": r.numbers["references"],
                    "rows": [],
                },
            )
            run["rows"].append({**r.numbers, "verdict": verdict(r.numbers)})
        return {"runs": list(runs.values())}


def index_runs(units: int, size: int) -> list[range]:
    """A layer's unit indices in runs of ``size``: ``0..size-1``, ``size..2 size-1``, ..."""
    return [range(lo, min(lo + size, units)) for lo in range(0, units, size)]


def run_key(run: range) -> str:
    """A run's shard name: ``units-64-127``."""
    return f"units-{run.start}-{run.stop - 1}"


class _Units:
    """The units one job (or shard) of the study renders: the filters study's units of the
    layer, the recipe the ablation chose for it, and their runs of indices."""

    def __init__(self, job: Job, settings: Settings) -> None:
        from featviz.engine import for_units
        from featviz.models import probe

        self.job, self.settings = job, settings
        self.model = probe.load_model(job.model)
        self.table = probe.layer_table(self.model)
        self.classes = job.key == self.table.logits
        self.setting, self.recipe = layer_recipe(job.extra("recommended"), job.key, settings)
        self.data = load_prepared(job.require_data("recommended"))
        self.names = [str(c) for c in self.data["class_names"]]
        self.indices = [int(i) for i in read_npz(job.extra("filters"))["indices"]]
        _, self.objectives = for_units(
            self.table, job.key, self.indices, self.names if self.classes else None
        )
        self.runs = index_runs(self.table.get(job.key).units, settings["shard_units"])
        # what the recipe renders with (training images, prior), loaded once for every run
        self.resources = job.resources([self.recipe])

    def members(self, run: range) -> list[int]:
        """The positions (in :attr:`indices`) of the units in ``run``."""
        return [m for m, unit in enumerate(self.indices) if unit in run]

    def render(self, members: list[int]) -> BothEnds:
        """Those units maximized and minimized, ``references`` starts each, in one call."""
        return render_both_ends(
            self.model,
            [self.objectives[m] for m in members],
            self.settings["references"],
            self.recipe,
            self.resources,
            self.settings,
        )

    def gather(self) -> BothEnds:
        """Every unit's images: each run's rendered here, or read from its shard's archive."""
        n, k = len(self.indices), self.settings["references"]
        whole: dict[str, np.ndarray] = {}
        how = ""
        for run in self.runs:
            members, key = self.members(run), run_key(run)
            if not members:
                continue
            if key in self.job.shards:
                part = _read_shard(self.job.shards[key], key, [self.indices[m] for m in members])
            else:
                part = self.render(members)
            fields = {
                "images": part.images,
                "values": part.values,
                "starts": part.starts,
                "stopped": part.stopped.reshape(2, len(members), k),
            }
            for name, value in fields.items():
                if name not in whole:
                    whole[name] = np.zeros((2, n, *value.shape[2:]), value.dtype)
                whole[name][:, members] = value
            how = part.how
        return BothEnds(
            whole["images"], whole["values"], whole["starts"], whole["stopped"].reshape(-1), how
        )


def _read_shard(path: Any, key: str, units: list[int]) -> BothEnds:
    """A shard's images, refused if it rendered other units than the job asks of it."""
    arrays = read_npz(path)
    if arrays["indices"].tolist() != units:
        raise ValueError(
            f"{path}: shard {key} rendered units {arrays['indices'].tolist()}, but the job "
            f"renders {units} in it; expected the shard of these units (remove it to remake it)."
        )
    return BothEnds.from_arrays(arrays)


def verdict(numbers: dict[str, Any]) -> str:
    """``at``, ``below`` or ``above`` the ceiling: the difference of the layer's mean
    two-alternative score and its natural-exemplar ceiling against two standard errors."""
    n = max(int(numbers["units"]), 1)
    (score, spread), (ceiling, ceiling_spread) = numbers["two_afc"], numbers["natural_two_afc"]
    if not (np.isfinite(score) and np.isfinite(ceiling)):
        return "unmeasured"
    error = float(np.hypot(spread, ceiling_spread) / np.sqrt(n))
    if abs(score - ceiling) <= 2 * error:
        return "at"
    return "below" if score < ceiling else "above"


STUDY = Recommended()

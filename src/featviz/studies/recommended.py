"""Every unit under the recommended recipe: what the atlas shows beside the seed's pictures.

The filters study renders each unit the seed's way; the ablation study measures
which recipe makes visualizations interpretable on a sample of units and writes
its choice (``recipes_recommended.json``). This study renders every unit the
filters study rendered (its jobs are the filters study's) again, under that
recipe: maximized from ``restarts`` start images and minimized once, all in one
batched call. Each unit is scored
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
from featviz.io import read_json, read_npz, write_npz
from featviz.models.layers import LayerTable
from featviz.plateau import budget, describe_steps
from featviz.results import Figure, Result
from featviz.studies.base import Job, Settings, Study, format_units
from featviz.studies.filters import best_restart, plot_grid


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

    def check(self, settings: Settings, table: LayerTable) -> None:
        """Nothing of its own: its layers and units are the filters study's, checked there."""

    def needs(self, settings: Settings) -> list[str]:
        return ["judge"]

    def run(self, job: Job, settings: Settings) -> Result:
        """Render the filters study's units under the chosen recipe; score each unit."""
        from featviz.engine import for_units, recipe
        from featviz.models import probe

        model = probe.load_model(job.model)
        judge = probe.load_model(job.extra("judge"))
        table, judged = probe.layer_table(model), probe.layer_table(judge)
        layer, restarts = job.key, settings["restarts"]
        classes = layer == table.logits
        chosen = read_json(job.extra("recommended"))
        render_settings = {
            **chosen["recipe"],
            "learning_rate": settings["learning_rate"],
            "seed": settings["seed"],
        }
        data = load_prepared(job.require_data(self.name))
        names = [str(c) for c in data["class_names"]]
        indices = [int(i) for i in read_npz(job.extra("filters"))["indices"]]
        _, objectives = for_units(table, layer, indices, names if classes else None)
        n = len(indices)
        every, how = recipe.render_with(
            model,
            [o for o in objectives for _ in range(restarts)] + [-o for o in objectives],
            render_settings,
            job.resources([render_settings]),
            batch_size=settings["batch_size"],
            **budget(settings),
        )
        shape = every.images.shape[1:]
        max_images = every.images[: n * restarts].reshape(n, restarts, *shape)
        max_values = every.values[: n * restarts].reshape(n, restarts)
        min_images, min_values = every.images[n * restarts :], -every.values[n * restarts :]

        test = to_model_input(data["x_test"])
        scores = probe.unit_scores(model, layer, test)[:, indices]
        embed = judged.embedding_layer()
        natural = probe.activations(judge, test, [embed], batch_size=256)[embed]
        seen = probe.activations(
            judge,
            np.concatenate([max_images.reshape(-1, *shape), min_images]),
            [embed, judged.logits],
        )
        max_emb = seen[embed][: n * restarts].reshape(n, restarts, -1)
        min_emb = seen[embed][n * restarts :]
        afc = np.array(
            [
                metrics.unit_two_afc(
                    natural,
                    scores[:, u],
                    max_emb[u],
                    min_emb[u : u + 1],
                    settings["references"],
                    settings["queries"],
                )
                for u in range(n)
            ]
        )
        hf = metrics.high_frequency_share(max_images.reshape(-1, *shape)).reshape(n, restarts)
        diversity = np.array([metrics.diversity(max_images[u]) for u in range(n)])
        confidence = np.full((n, restarts), np.nan)
        if classes:
            logits = seen[judged.logits][: n * restarts].reshape(n, restarts, -1)
            confidence = np.stack(
                [metrics.transferability(logits[u], [indices[u]] * restarts) for u in range(n)]
            )
        arrays = job.path(self.files["arrays"])
        write_npz(
            arrays,
            indices=np.array(indices),
            max_images=max_images,
            max_values=max_values,
            min_images=min_images,
            min_values=min_values,
            two_afc=afc[:, 0],
            natural_two_afc=afc[:, 1],
            hf_share=hf,
            diversity=diversity,
            confidence=confidence,
            stopped=every.stopped[: n * restarts].reshape(n, restarts)[:, 0],
        )

        pick = best_restart(max_values.ravel(), restarts)
        labels = [names[i] if classes else f"#{i}" for i in indices]
        steps = describe_steps(settings, every.stopped)
        lr, seed = settings["learning_rate"], settings["seed"]
        png = job.path(self.figures["figure"])
        title = f"{layer}: recommended recipe '{chosen['setting']}', seed {seed}"
        plot_grid(every.images[pick], every.values[pick], labels, title, png)
        noun = "class" if classes else "unit"
        caption = (
            f"{format_units(labels if classes else indices, noun)} of {layer} of {job.label} "
            f"under the recipe the ablation chose ('{chosen['setting']}': {how}): "
            f"{steps} at learning rate {lr:g} from seed {seed}, the best of "
            f"{restarts} restarts shown, titled with the objective reached. Mean machine "
            f"two-alternative score {np.nanmean(afc[:, 0]):.3f} (natural exemplars: "
            f"{np.nanmean(afc[:, 1]):.3f}); high-frequency share {hf.mean():.3f}."
        )
        numbers: dict[str, Any] = {
            "layer": layer,
            "setting": chosen["setting"],
            "units": n,
            "two_afc": metrics.mean_and_spread(afc[:, 0]),
            "natural_two_afc": metrics.mean_and_spread(afc[:, 1]),
            "hf_share": metrics.mean_and_spread(hf.ravel()),
            "diversity": metrics.mean_and_spread(diversity),
            "mean_objective": float(max_values.max(axis=1).mean()),
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
        """Per dataset and model, each layer's mean scores, and how its two-alternative
        score compares with the natural-exemplar ceiling (told apart at two standard errors)."""
        if not results:
            return None
        runs: dict[tuple[str, str], dict[str, Any]] = {}
        for r in results:
            key = (r.labels.get("dataset", ""), r.labels.get("model", ""))
            run = runs.setdefault(
                key,
                {"dataset": key[0], "model": key[1], "setting": r.numbers["setting"], "rows": []},
            )
            run["rows"].append({**r.numbers, "verdict": verdict(r.numbers)})
        return {"runs": list(runs.values())}


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

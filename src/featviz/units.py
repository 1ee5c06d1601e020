"""What the studies share about units: the test split they score on, which units are live,
a seeded sample of them, the best of several restarts, and how a unit's references are
scored.

One definition each, below the studies, so that no study imports another: the filters,
recommended and ablation studies count and score units with the same code, and their
numbers can be compared across the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featviz import metrics
from featviz.data.prepare import load_prepared, to_model_input


@dataclass(frozen=True)
class Split:
    """A data split in the models' input range, with its labels and class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]


def load_test(path: str | Path) -> Split:
    """The test split of a prepared dataset file, ready for the models."""
    data = load_prepared(path)
    return Split(
        to_model_input(data["x_test"]), data["y_test"], [str(c) for c in data["class_names"]]
    )


def live_units(scores: np.ndarray, share: float = metrics.LIVE_SHARE) -> list[int]:
    """The live units among the columns of ``scores`` (one row per test image): those
    active on at least ``share`` of the images (:func:`featviz.metrics.live`)."""
    return [int(i) for i in np.flatnonzero(metrics.live(metrics.active_share(scores), share))]


def sample_units(candidates: Sequence[int], count: int, seed: int) -> list[int]:
    """``count`` distinct members of ``candidates`` drawn by ``seed``, sorted (all if fewer)."""
    candidates = list(candidates)
    if count >= len(candidates):
        return sorted(candidates)
    picked = np.random.default_rng(seed).choice(len(candidates), count, replace=False)
    return sorted(candidates[int(i)] for i in picked)


def best_restart(values: np.ndarray, restarts: int) -> np.ndarray:
    """Per objective, the position of its best restart (restarts are consecutive)."""
    grouped = np.asarray(values).reshape(-1, restarts)
    return np.arange(len(grouped)) * restarts + grouped.argmax(axis=1)


def two_afc_per_unit(
    natural: np.ndarray,
    scores: np.ndarray,
    max_embedded: np.ndarray,
    min_embedded: np.ndarray,
    references: int,
    queries: int,
) -> np.ndarray:
    """``(U, 2)``: each unit's :func:`metrics.unit_two_afc` score and ceiling (arguments as
    in :func:`score_units`)."""
    n = scores.shape[1]
    return np.array(
        [
            metrics.unit_two_afc(
                natural, scores[:, u], max_embedded[u], min_embedded[u], references, queries
            )
            for u in range(n)
        ]
    ).reshape(n, 2)


@dataclass(frozen=True)
class UnitScores:
    """Each unit's two-alternative score with its visualizations as references, the
    natural-exemplar ceiling on the same queries, and its maximizing images' high-frequency
    share and diversity."""

    two_afc: np.ndarray  # (U,)
    ceiling: np.ndarray  # (U,)
    hf_share: np.ndarray  # (U, K)
    diversity: np.ndarray  # (U,)


def score_units(
    natural: np.ndarray,
    scores: np.ndarray,
    max_embedded: np.ndarray,
    min_embedded: np.ndarray,
    max_images: np.ndarray,
    references: int,
    queries: int,
) -> UnitScores:
    """Score ``U`` units, each with ``K`` maximizing and minimizing visualizations.

    Args:
        natural: ``(N, D)`` the judge's embedding of the test images.
        scores: ``(N, U)`` each unit's score on each test image (ranks its exemplars).
        max_embedded: ``(U, K, D)`` the embedding of each unit's maximizing visualizations.
        min_embedded: ``(U, K, D)`` the embedding of its minimizing visualizations.
        max_images: ``(U, K, H, W, C)`` the maximizing visualizations themselves.
        references: natural exemplars per end (:func:`featviz.metrics.exemplars`).
        queries: natural queries per end.
    """
    n = scores.shape[1]
    afc = two_afc_per_unit(natural, scores, max_embedded, min_embedded, references, queries)
    shape = max_images.shape
    hf = metrics.high_frequency_share(max_images.reshape(-1, *shape[2:])).reshape(shape[:2])
    diversity = np.array([metrics.diversity(max_images[u]) for u in range(n)])
    return UnitScores(afc[:, 0], afc[:, 1], hf, diversity)


def describe_reach(reached: dict[str, int]) -> str:
    """A caption sentence: of the live units, how many never left their start and how many
    end below their best test image (:func:`metrics.reach`)."""
    live = reached["live"]
    return (
        f"Of the {live} live unit{'s' if live != 1 else ''} (active on at least "
        f"{metrics.LIVE_SHARE:.0%} of the test images), {reached['stuck']} never left "
        f"{'their' if live != 1 else 'its'} start and {reached['below_best']} end below "
        f"{'their' if live != 1 else 'its'} best test image."
    )


def layer_recipe(
    path: str | Path, layer: str, settings: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The recipe the ablation chose for ``layer`` (its ``recommended.json`` at ``path``), or
    the one chosen over every target where it sampled no unit of that layer, as render
    settings with the caller's learning rate and seed.

    Returns:
        The chosen setting's name, and its render settings (validated).
    """
    from featviz.io import read_json
    from featviz.settings import validate_definition

    chosen = read_json(path)
    chosen = chosen.get("layers", {}).get(layer, chosen)
    render = validate_definition(
        "render",
        {
            **chosen["recipe"],
            "learning_rate": settings["learning_rate"],
            "seed": settings["seed"],
            "precision": settings["precision"],
        },
        f"{path}: recipe",
    )
    return chosen["setting"], render


@dataclass(frozen=True)
class BothEnds:
    """Objectives rendered maximized and minimized, ``k`` starts each (:func:`render_both_ends`).

    Attributes:
        images: ``(2, U, K, H, W, C)``: the maximizing images, then the minimizing ones.
        values: ``(2, U, K)`` each image's value of the objective itself (not negated).
        starts: ``(2, U, K)`` the same at the start image.
        stopped: ``(2 U K,)`` the step each render stopped at.
        how: the recipe in words, for captions.
    """

    images: np.ndarray
    values: np.ndarray
    starts: np.ndarray
    stopped: np.ndarray
    how: str

    def flat_images(self) -> np.ndarray:
        """Every image in one batch, maximizing ones first (to embed them at once)."""
        return self.images.reshape(-1, *self.images.shape[3:])

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields as named arrays, for a shard's archive (:meth:`from_arrays` reads them)."""
        return {
            "images": self.images,
            "values": self.values,
            "starts": self.starts,
            "stopped": self.stopped,
            "how": np.array(self.how),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> BothEnds:
        """The renders a shard's archive holds (:meth:`arrays`)."""
        return cls(
            arrays["images"],
            arrays["values"],
            arrays["starts"],
            arrays["stopped"],
            str(arrays["how"]),
        )


def render_both_ends(
    model: Any,
    objectives: Sequence[Any],
    references: int,
    render_settings: Mapping[str, Any],
    resources: Any,
    settings: Mapping[str, Any],
) -> BothEnds:
    """Each objective maximized and minimized from ``references`` starts each, in one render
    call: as many visualizations on each side as the natural references of the
    two-alternative task. ``settings`` gives the batch size and the budget."""
    from featviz.engine import recipe
    from featviz.plateau import budget

    n, k = len(objectives), references
    every, how = recipe.render_with(
        model,
        [o for o in objectives for _ in range(k)] + [-o for o in objectives for _ in range(k)],
        render_settings,
        resources,
        batch_size=settings["batch_size"],
        **budget(settings),
    )
    sign = np.array([1.0, -1.0])[:, None, None]
    return BothEnds(
        images=every.images.reshape(2, n, k, *every.images.shape[1:]),
        values=every.values.reshape(2, n, k) * sign,
        starts=every.traces[:, 0].reshape(2, n, k) * sign,
        stopped=every.stopped,
        how=how,
    )

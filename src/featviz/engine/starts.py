"""Start images: where each optimization begins.

A ReLU unit that is zero everywhere on its start image passes no gradient, so
an optimizer started there never moves. The seed's start, a grey image with
faint noise, leaves many units of the deeper layers in that state. A start with
the contrast of the data gives more of them something to grow from:

- ``grey``: the parameterization's own start (faint noise around grey, the seed's);
- ``noise``: independent pixel noise with the data's mean and spread per channel;
- ``natural``: images drawn from a pool of real images (the training split);
- ``exemplars``: for each objective, the pool's images that score highest on it (its
  first start the best, its second the next, ...): a minimized unit starts from the images
  that drive it least.

A start is a batch of images; an invertible parameterization takes them as its
first parameters. Parameterizations that cannot be inverted (MACO's phases, a
generator's latent) always begin from their own start, which already has the
data's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("grey", "noise", "natural", "exemplars")

#: Starts draw on at most this many real images (the first of the training split): enough
#: for every unit's best exemplars, few enough to score against every objective quickly.
POOL = 10_000

#: Start images are squeezed into [MARGIN, 1 - MARGIN]: a saturated pixel would map to a
#: parameter far out on the sigmoid, where its gradient nearly vanishes. Squeezed harder
#: (0.05), a natural exemplar lost enough contrast to switch a weak unit off.
MARGIN = 0.01


@dataclass(frozen=True)
class Start:
    """How start images are made: ``kind`` (one of :data:`KINDS`) and, except for
    ``grey``, the ``pool`` of real images ``(M, H, W, C)`` in [0, 1] it draws on."""

    kind: str = "grey"
    pool: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown start '{self.kind}'; expected one of {', '.join(KINDS)}.")
        if self.kind != "grey" and (self.pool is None or len(self.pool) == 0):
            raise ValueError(f"The '{self.kind}' start needs real images to draw on, got none.")

    def images(
        self,
        n: int,
        seed: int,
        shape: tuple[int, int, int],
        picks: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """``(n, H, W, C)`` start images, or None for the parameterization's own start.

        The same ``seed`` gives the same images; image ``i`` does not depend on ``n``.
        ``picks`` are the pool's images chosen for ``exemplars`` (:func:`exemplar_picks`).

        Raises:
            ValueError: the pool's images are not of ``shape``; ``exemplars`` without picks.
        """
        if self.kind == "grey":
            return None
        pool = np.asarray(self.pool)
        if tuple(pool.shape[1:]) != tuple(shape):
            raise ValueError(
                f"The '{self.kind}' start draws on images of shape {tuple(pool.shape[1:])}, "
                f"but the model takes {tuple(shape)}."
            )
        rng = np.random.default_rng([seed, 7])
        if self.kind == "exemplars":
            if picks is None or len(picks) != n:
                raise ValueError(f"The exemplars start needs {n} picks of the pool's images.")
            picked = pool[np.maximum(np.asarray(picks), 0)].astype(np.float32)
        elif self.kind == "natural":
            picked = pool[rng.integers(0, len(pool), size=n)].astype(np.float32)
        else:
            axes = tuple(range(pool.ndim - 1))
            mean, std = pool.mean(axis=axes), pool.std(axis=axes)
            draws = rng.standard_normal((n, *shape), dtype=np.float32)
            picked = np.clip(mean + std * draws, 0.0, 1.0)
        return (MARGIN + (1.0 - 2.0 * MARGIN) * picked).astype(np.float32)

    def describe(self) -> str:
        return {
            "grey": "grey start",
            "noise": "start: noise with the data's spread",
            "natural": "start: training images",
            "exemplars": "start: the training images that score highest on each objective",
        }[self.kind]


def exemplar_picks(scores: np.ndarray, which: np.ndarray) -> np.ndarray:
    """The pool image each objective starts from: objective ``i`` is the ``r``-th
    occurrence of distinct objective ``which[i]``, and starts from that objective's
    ``r``-th best image by ``scores`` (``(distinct objectives, pool)``); ``-1`` where the
    objective scores every pool image alike (a dead unit): it has no exemplar, and starts
    from the parameterization's own start."""
    which = np.asarray(which, dtype=np.int64)
    seen: dict[int, int] = {}
    ranks = np.empty(len(which), dtype=np.int64)
    for i, w in enumerate(which.tolist()):
        ranks[i] = seen.get(w, 0)
        seen[w] = ranks[i] + 1
    if len(which) and ranks.max() >= scores.shape[1]:
        raise ValueError(
            f"The exemplars start needs {ranks.max() + 1} pool images per objective, "
            f"the pool has {scores.shape[1]}."
        )
    order = np.argsort(-scores, axis=1, kind="stable")
    flat = scores.max(axis=1) == scores.min(axis=1)
    return np.where(flat[which], -1, order[which, ranks])

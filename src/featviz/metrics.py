"""How interpretable is a visualization? Measures computed from arrays, so each is tested alone.

The seed study judged its pictures by eye. These functions put numbers on what
the field has learned to measure (Fel et al. 2023, MACO; Borowski et al. 2021
and Zimmermann et al. 2021-2024, the two-alternative task and the Machine
Interpretability Score). Every function takes images in the models' input
range [0, 1] as ``(N, H, W, C)`` arrays, or embeddings and activations already
computed by a model; none loads a model. The seventh measure, the objective
reached, is the render loop's own value on the untransformed image
(:func:`featviz.engine.evaluate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

from featviz.settings import declared

#: References per side and queries per end of the two-alternative task (the schema's).
REFERENCES, QUERIES = declared("$defs.two_afc.references"), declared("$defs.two_afc.queries")

#: Radius, in cycles per pixel, above which spectral energy counts as high frequency.
#: The Nyquist frequency is 0.5: the radius splits the spectrum's radial range in half.
HF_RADIUS = 0.25


def high_frequency_share(images: np.ndarray, radius: float = HF_RADIUS) -> np.ndarray:
    """Share of each image's spectral energy above ``radius`` cycles per pixel.

    The mean of each channel is removed first (a uniform image has no energy to
    share and scores 0); the power ``|FFT|^2`` is summed over channels, and the
    share is the power at radial frequency ``sqrt(fx^2 + fy^2) > radius`` over
    the total. A one-pixel checkerboard puts all its energy at the Nyquist corner
    and scores 1; a smooth blob keeps it near the origin and scores near 0. High
    values are the "neural network optical illusion" of unregularized
    visualizations: noise the model responds to but a person cannot read.

    Returns:
        ``(N,)`` shares in [0, 1].
    """
    x = np.asarray(images, dtype=np.float64)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2).sum(axis=-1)
    fy = np.fft.fftfreq(x.shape[1])[:, None]
    fx = np.fft.fftfreq(x.shape[2])[None, :]
    high = np.sqrt(fx**2 + fy**2) > radius
    total = power.sum(axis=(1, 2))
    return np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.maximum(total, 1e-300), 0.0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (scikit-image) of two ``(H, W, C)`` images in [0, 1]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    side = min(a.shape[0], a.shape[1])
    window = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=-1, win_size=window))


def class_similarity(
    images: np.ndarray, classes: Sequence[int], class_means: np.ndarray
) -> np.ndarray:
    """SSIM of each image to the mean real test image of its intended class.

    A class visualization that looks like the class's average digit scores
    near 1; noise scores near 0. Only defined for class objectives.

    Args:
        images: ``(N, H, W, C)`` visualizations.
        classes: the intended class of each image.
        class_means: ``(K, H, W, C)`` mean test image of each class.
    """
    return np.array([ssim(image, class_means[c]) for image, c in zip(images, classes, strict=True)])


def class_means(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, H, W, C)`` mean image of each class (zeros for a class with no image)."""
    means = np.zeros((n_classes, *images.shape[1:]), dtype=np.float64)
    for c in range(n_classes):
        chosen = images[labels == c]
        if len(chosen):
            means[c] = chosen.mean(axis=0)
    return means


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def transferability(judge_logits: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """The judge model's softmax probability of each image's intended class.

    A visualization that an independently trained model (another architecture,
    another seed) also reads as the class transfers: it shows the class, not an
    adversarial pattern peculiar to the visualized model. For a unit there is no
    intended class, so the measure is not defined there.

    Args:
        judge_logits: ``(N, K)`` the judge's logits (or scores) for each image.
        classes: the intended class of each image.
    """
    probabilities = softmax(judge_logits)
    return probabilities[np.arange(len(probabilities)), np.asarray(classes, dtype=np.int64)]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def plausibility(
    embeddings: np.ndarray,
    classes: Sequence[int],
    real_embeddings: np.ndarray,
    real_labels: np.ndarray,
) -> np.ndarray:
    """How much closer each visualization is to real images of its class than to the others.

    In the model's own penultimate-layer embedding: the mean cosine similarity
    to the real test images of the intended class minus the mean cosine
    similarity to the real test images of every other class (MACO's
    plausibility, measured in the visualized model's space rather than a large
    pretrained network's). Positive: the model places the visualization among
    its class's real images.

    Args:
        embeddings: ``(N, D)`` embeddings of the visualizations.
        classes: the intended class of each.
        real_embeddings: ``(M, D)`` embeddings of real test images.
        real_labels: ``(M,)`` their labels.
    """
    cosine = _unit_rows(embeddings) @ _unit_rows(real_embeddings).T
    labels = np.asarray(real_labels)
    out = np.empty(len(cosine))
    for i, c in enumerate(classes):
        same, other = labels == c, labels != c
        out[i] = cosine[i, same].mean() - cosine[i, other].mean()
    return out


def diversity(images: np.ndarray) -> float:
    """Mean pairwise ``1 - SSIM`` over the restarts of one objective (NaN for fewer than two).

    Zero when every restart lands on the same image; higher when the objective
    admits several different images, as a unit that responds to several
    features does.
    """
    n = len(images)
    if n < 2:
        return float("nan")
    return float(np.mean([1.0 - ssim(images[i], images[j]) for i in range(n) for j in range(i)]))


@dataclass(frozen=True)
class Exemplars:
    """Natural test images of a unit, by rank of its activation.

    Attributes:
        top: the ``k`` most activating images (indices into the split), strongest first.
        bottom: the ``k`` least activating, weakest first.
        strong: the next ``queries`` most activating: the strong queries.
        weak: the next ``queries`` least activating: the weak queries.
    """

    top: np.ndarray
    bottom: np.ndarray
    strong: np.ndarray
    weak: np.ndarray


def exemplars(
    activation: np.ndarray, references: int = REFERENCES, queries: int = QUERIES
) -> Exemplars:
    """Rank a unit's natural images by its ``activation`` (one value per image).

    The ``references`` most and ``references`` least activating images are held out as the
    natural references; the queries of the two-alternative task come from the
    ranks just after them, so references and queries never share an image.

    Raises:
        ValueError: fewer than ``2 (references + queries)`` images.
    """
    activation = np.asarray(activation)
    if len(activation) < 2 * (references + queries):
        raise ValueError(
            f"Ranking a unit's exemplars needs at least {2 * (references + queries)} images "
            f"({references} references and {queries} queries at each end), got {len(activation)}."
        )
    order = np.argsort(-activation, kind="stable")
    return Exemplars(
        top=order[:references],
        bottom=order[::-1][:references],
        strong=order[references : references + queries],
        weak=order[::-1][references : references + queries],
    )


def two_afc(
    max_references: np.ndarray,
    min_references: np.ndarray,
    strong: np.ndarray,
    weak: np.ndarray,
) -> float:
    """Share of (strong, weak) query pairs a simulated observer sorts right (chance: 0.5).

    The machine two-alternative task in the spirit of the Machine
    Interpretability Score (Zimmermann, Klindt and Brendel 2024) and of
    Borowski et al. (2021): the observer sees references of what maximizes a
    unit and of what minimizes it, and must tell which of two natural images
    drives the unit more. Here a query's *closeness* is its mean cosine
    similarity to the max references minus that to the min references, in an
    embedding given by the caller (the judge model's penultimate layer); for
    every pair of a strong and a weak query the observer calls the closer one
    "strong", and a tie counts half.

    It differs from the published MIS in the similarity (a small judge model's
    embedding, where MIS uses DreamSim, whose weights cannot be fetched here),
    in the decision (a hard comparison of mean similarities, where MIS averages
    a sigmoid of the difference), and in the queries (every strong-weak pair of
    the ranks after the references, with no sampling).

    Args:
        max_references: ``(R, D)`` embeddings of the maximizing references
            (restarts of the maximizing visualization, or the top natural images).
        min_references: ``(R', D)`` embeddings of the minimizing references.
        strong: ``(Q, D)`` embeddings of the strongly activating queries.
        weak: ``(Q', D)`` embeddings of the weakly activating queries.

    Returns:
        The share of correct picks over all ``Q x Q'`` pairs.
    """

    def closeness(queries: np.ndarray) -> np.ndarray:
        q = _unit_rows(queries)
        return (q @ _unit_rows(max_references).T).mean(axis=1) - (
            q @ _unit_rows(min_references).T
        ).mean(axis=1)

    s, w = closeness(strong)[:, None], closeness(weak)[None, :]
    return float(np.mean((s > w) + 0.5 * (s == w)))


def unit_two_afc(
    natural: np.ndarray,
    activation: np.ndarray,
    max_references: np.ndarray,
    min_references: np.ndarray,
    references: int = REFERENCES,
    queries: int = QUERIES,
) -> tuple[float, float]:
    """A unit's :func:`two_afc` score with visualizations as references, and its ceiling
    with natural exemplars as references, on the same queries.

    Args:
        natural: ``(N, D)`` embeddings of the split's images.
        activation: ``(N,)`` the unit's score on each of them (ranks the exemplars).
        max_references: embeddings of the unit's maximizing visualizations.
        min_references: embeddings of its minimizing visualizations.
        references: natural exemplars per end, as in :func:`exemplars`.
        queries: natural queries per end, as in :func:`exemplars`.

    Returns:
        ``(score with the visualizations, score with the natural exemplars)``.
    """
    ex = exemplars(activation, references, queries)
    strong, weak = natural[ex.strong], natural[ex.weak]
    return (
        two_afc(max_references, min_references, strong, weak),
        two_afc(natural[ex.top], natural[ex.bottom], strong, weak),
    )


#: A unit is *live* when it is active (its score above zero) on at least this share of
#: the test images; below it, the redundancy study calls it near-dead.
LIVE_SHARE = 0.01


def active_share(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    """Each unit's share of images it is active on (score above zero); the images run
    along ``axis`` of ``scores``."""
    return (np.asarray(scores) > 0).mean(axis=axis)


def live(active_share: np.ndarray, share: float = LIVE_SHARE) -> np.ndarray:
    """Which units are live, from each unit's share of test images it is active on."""
    return np.asarray(active_share, dtype=np.float64) >= share


def reach(
    values: np.ndarray,
    start_values: np.ndarray,
    best_test: np.ndarray,
    active_share: np.ndarray,
    share: float = LIVE_SHARE,
) -> dict[str, int]:
    """How many live units a rendering reached, per layer.

    Args:
        values: ``(U,)`` each unit's final objective (its shown image's).
        start_values: ``(U,)`` the objective on that image's start.
        best_test: ``(U,)`` the unit's score on its best test image.
        active_share: ``(U,)`` the share of test images the unit is active on.

    Returns:
        ``live``; ``stuck``: live units whose objective never rose above its start (a
        ReLU unit off on its start image has no gradient and stays at 0); ``below_best``:
        live units whose image drives them less than their best test image does.
    """
    alive = live(active_share, share)
    values, start_values = np.asarray(values), np.asarray(start_values)
    return {
        "live": int(alive.sum()),
        "stuck": int((alive & (values <= start_values)).sum()),
        "below_best": int((alive & (values < np.asarray(best_test))).sum()),
    }


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=1``; 0 for one value) ignoring NaNs."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


@dataclass(frozen=True)
class Paired:
    """Settings compared on the same targets (:func:`paired_bootstrap`).

    Attributes:
        best: the setting with the highest mean score.
        means: ``(S,)`` each setting's mean score over the targets.
        intervals: ``(S, 2)`` the interval of each setting's mean difference to the best
            (``[0, 0]`` for the best itself).
        targets: how many targets every setting was scored on.
    """

    best: int
    means: np.ndarray
    intervals: np.ndarray
    targets: int

    def tied(self) -> np.ndarray:
        """The settings whose interval reaches the best's score: not told apart from it."""
        return np.flatnonzero(self.intervals[:, 1] >= 0)


def paired_bootstrap(
    scores: np.ndarray, seed: int, resamples: int = 2000, level: float = 0.95
) -> Paired:
    """Compare settings scored on the same targets, by resampling the targets.

    Args:
        scores: ``(S, T)`` each setting's score on each target; a target with a NaN for
            any setting is left out.
        seed: seeds the resampling.
        resamples: bootstrap resamples of the targets.
        level: coverage of each interval (percentile bootstrap).

    Raises:
        ValueError: no target scored by every setting.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, np.isfinite(scores).all(axis=0)]
    if scores.shape[1] == 0:
        raise ValueError("No target was scored under every setting: nothing to compare.")
    means = scores.mean(axis=1)
    best = int(np.argmax(means))
    differences = scores - scores[best]
    picks = np.random.default_rng(seed).integers(
        0, scores.shape[1], size=(resamples, scores.shape[1])
    )
    resampled = differences[:, picks].mean(axis=2)  # (S, resamples)
    tail = 100 * (1 - level) / 2
    intervals = np.percentile(resampled, [tail, 100 - tail], axis=1).T
    return Paired(best, means, intervals, scores.shape[1])

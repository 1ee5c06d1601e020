"""Every interpretability measure on images (or embeddings) whose answer is known."""

import numpy as np
import pytest

from featviz import metrics


def checkerboard(side=28, channels=1):
    y, x = np.mgrid[:side, :side]
    return np.repeat(((x + y) % 2).astype(float)[..., None], channels, axis=-1)


def blob(side=28, channels=1, sigma=5.0):
    y, x = np.mgrid[:side, :side] - (side - 1) / 2
    return np.repeat(np.exp(-(x**2 + y**2) / (2 * sigma**2))[..., None], channels, axis=-1)


def test_high_frequency_share():
    shares = metrics.high_frequency_share(
        np.stack([checkerboard(), blob(), np.full((28, 28, 1), 0.7)])
    )
    assert shares[0] == pytest.approx(1.0)
    assert shares[1] < 0.01
    assert shares[2] == 0.0  # a uniform image has no energy to share
    colour = metrics.high_frequency_share(np.stack([checkerboard(32, 3), blob(32, 3)]))
    assert colour[0] == pytest.approx(1.0) and colour[1] < 0.01
    noise = np.random.default_rng(0).uniform(size=(4, 64, 64, 1))
    # white noise spreads evenly: the share is the area outside the radius, about 1 - pi/16
    np.testing.assert_allclose(metrics.high_frequency_share(noise), 1 - np.pi / 16, atol=0.03)


def test_ssim_and_class_similarity():
    a = blob()
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, checkerboard()) < 0.2
    means = np.stack([blob(), checkerboard()])
    sims = metrics.class_similarity(np.stack([blob(), blob()]), [0, 1], means)
    assert sims[0] == pytest.approx(1.0) and sims[1] < 0.2
    labels = np.array([0, 1, 1])
    images = np.stack([blob(), checkerboard(), 1 - checkerboard()])
    averaged = metrics.class_means(images, labels, 3)
    np.testing.assert_allclose(averaged[1], 0.5)
    assert not averaged[2].any()


def test_transferability_is_the_judges_probability_of_the_intended_class():
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    np.testing.assert_allclose(metrics.transferability(logits, [0, 0]), [0.5, 0.75])
    np.testing.assert_allclose(metrics.transferability(logits, [1, 1]), [0.5, 0.25])


def test_plausibility_prefers_the_intended_class():
    rng = np.random.default_rng(1)
    centres = np.eye(3) * 5
    real_labels = np.repeat(np.arange(3), 20)
    real = centres[real_labels] + rng.normal(size=(60, 3))
    viz = centres[[0, 2]]
    scores = metrics.plausibility(viz, [0, 2], real, real_labels)
    assert (scores > 0.5).all()
    assert (metrics.plausibility(viz, [1, 1], real, real_labels) < 0).all()


def test_diversity_of_restarts():
    same = np.stack([blob()] * 3)
    assert metrics.diversity(same) == pytest.approx(0.0, abs=1e-12)
    assert metrics.diversity(np.stack([blob(), checkerboard()])) > 0.8
    assert np.isnan(metrics.diversity(same[:1]))


def test_exemplars_hold_out_references_from_queries():
    activation = np.arange(100.0)[::-1]  # image i activates 99 - i
    ex = metrics.exemplars(activation, references=9, queries=20)
    assert ex.top.tolist() == list(range(9)) and ex.strong.tolist() == list(range(9, 29))
    assert ex.bottom.tolist() == list(range(99, 90, -1))
    assert ex.weak.tolist() == list(range(90, 70, -1))
    with pytest.raises(ValueError, match="at least 58 images"):
        metrics.exemplars(activation[:57])


def test_two_afc_from_perfect_to_chance():
    rng = np.random.default_rng(2)
    up, down = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    strong = up + 0.1 * rng.normal(size=(20, 3))
    weak = down + 0.1 * rng.normal(size=(20, 3))
    assert metrics.two_afc(up[None], down[None], strong, weak) == 1.0
    assert metrics.two_afc(down[None], up[None], strong, weak) == 0.0  # references swapped
    noise = rng.normal(size=(200, 3))
    chance = metrics.two_afc(up[None], down[None], noise[:100], noise[100:])
    assert 0.4 < chance < 0.6
    assert metrics.two_afc(up[None], up[None], strong, weak) == 0.5  # no information: ties


def test_mean_and_spread():
    assert metrics.mean_and_spread([1.0, 3.0, float("nan")]) == (2.0, pytest.approx(np.sqrt(2)))
    assert metrics.mean_and_spread([4.0]) == (4.0, 0.0)


def _units(seed: int = 0, units: int = 40, images: int = 400, dim: int = 16):
    """Natural embeddings and units that read them: each unit's activation is the images'
    projection on its own direction, so its exemplars differ in that direction."""
    rng = np.random.default_rng(seed)
    natural = rng.normal(size=(images, dim))
    directions = rng.normal(size=(units, dim))
    return rng, natural, natural @ directions.T  # (images, units)


def test_natural_exemplars_as_references_reproduce_the_ceiling():
    _, natural, acts = _units()
    for u in range(acts.shape[1]):
        ex = metrics.exemplars(acts[:, u], 9, 20)
        score, ceiling = metrics.unit_two_afc(
            natural, acts[:, u], natural[ex.top], natural[ex.bottom], 9, 20
        )
        assert score == ceiling
    assert ceiling > 0.9  # the exemplars tell strong from weak queries


#: Mean over 40 units of a score that carries no information: within this of chance.
CHANCE_TOLERANCE = 0.05


def test_noise_references_score_chance():
    rng, natural, acts = _units(1)
    scores = [
        metrics.unit_two_afc(
            natural, acts[:, u], rng.normal(size=(9, 16)), rng.normal(size=(9, 16))
        )[0]
        for u in range(acts.shape[1])
    ]
    assert abs(np.mean(scores) - 0.5) < CHANCE_TOLERANCE


def test_shuffled_unit_labels_score_chance():
    """References of the right unit, queries ranked by another's activation: chance."""
    rng, natural, acts = _units(2)
    scores = []
    for u in range(acts.shape[1]):
        ex = metrics.exemplars(acts[:, u], 9, 20)
        shuffled = rng.permutation(acts[:, u])
        scores.append(
            metrics.unit_two_afc(natural, shuffled, natural[ex.top], natural[ex.bottom])[0]
        )
    assert abs(np.mean(scores) - 0.5) < CHANCE_TOLERANCE

import numpy as np
import pytest

from featviz.engine.objectives import channel, class_logit, direction, unit


def weights_of(objective, layer, n):
    total = np.zeros(n, dtype=np.float32)
    for w, term in objective.terms:
        if term.layer == layer:
            total += w * term.weights(n)
    return total


def test_weighted_sum_is_the_sum_of_weighted_terms():
    f, g = channel("conv1", 6), channel("conv1", 9)
    combo = 0.3 * f + 0.7 * g
    expected = np.zeros(12, dtype=np.float32)
    expected[6], expected[9] = 0.3, 0.7
    np.testing.assert_allclose(weights_of(combo, "conv1", 12), expected)
    assert combo.name == "0.3·conv1:6 + 0.7·conv1:9"


def test_chained_sums_do_not_multiply_running_total():
    f, g, h = channel("c", 0), channel("c", 1), channel("c", 2)
    combo = 2 * f + 3 * g + 4 * h
    np.testing.assert_allclose(weights_of(combo, "c", 3), [2, 3, 4])


def test_subtraction_division_negation():
    f, g = unit("fc1", 0), unit("fc1", 1)
    np.testing.assert_allclose(weights_of((f - g) / 2, "fc1", 2), [0.5, -0.5])
    np.testing.assert_allclose(weights_of(-f, "fc1", 2), [-1, 0])
    assert ((f - g) / 2).name == "(fc1:0 + -1·fc1:1)/2"


def test_direction_and_names():
    d = direction("conv2", [1.0, 0.0, -1.0], label="dir0")
    np.testing.assert_allclose(weights_of(d, "conv2", 3), [1, 0, -1])
    with pytest.raises(ValueError, match="has 3 components, but the layer has 4 channels"):
        d.terms[0][1].weights(4)
    assert class_logit("fc2", 3, "three").name == "class three"
    assert (channel("conv1", 1) + unit("fc1", 2)).layers == ("conv1", "fc1")


def test_index_must_be_int():
    with pytest.raises(TypeError, match="must be an int, got 1.5"):
        channel("conv1", 1.5)

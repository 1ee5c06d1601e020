import numpy as np
import pytest

from featviz.data.synthetic import generate


@pytest.mark.parametrize(
    ("kind", "shape"), [("synthetic-digits", (28, 28, 1)), ("synthetic-house-numbers", (32, 32, 3))]
)
def test_shapes_labels_and_determinism(kind, shape):
    x, y = generate(kind, 200, seed=7)
    assert x.shape == (200, *shape) and x.dtype == np.uint8
    assert y.shape == (200,) and set(np.unique(y)) == set(range(10))
    x2, y2 = generate(kind, 200, seed=7)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = generate(kind, 200, seed=8)
    assert not np.array_equal(x, x3)


def test_digits_are_bright_on_dark_and_centred():
    x, _ = generate("synthetic-digits", 300, seed=0)
    mean = x.astype(float).mean(axis=0)[..., 0]
    assert mean[10:18, 10:18].mean() > 2 * mean[:3, :].mean()  # ink sits in the middle


def test_house_numbers_have_colour():
    x, _ = generate("synthetic-house-numbers", 50, seed=0)
    spread = x.astype(float).std(axis=-1).mean()
    assert spread > 10  # channels differ: not grey images


def test_unknown_kind():
    with pytest.raises(ValueError, match="Unknown synthetic dataset 'synthetic-cats'"):
        generate("synthetic-cats", 1, 0)

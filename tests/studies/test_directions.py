import numpy as np

from featviz.studies.base import Job
from featviz.studies.directions import STUDY, random_directions

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"count": 2, "steps": 8}


def test_random_directions_are_seeded_unit_vectors():
    d = random_directions(16, 8, seed=3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(d, random_directions(16, 8, seed=3))


def test_directions(tmp_path, tiny_model, tiny_data):
    tiny_model.save(tmp_path / "m.keras")
    settings = {"count": 3, "steps": 10, "learning_rate": 0.1, "seed": 1}
    job = Job("conv2", tmp_path / "m.keras", tmp_path, data=tiny_data)
    result, files = STUDY.execute(job, settings)
    data = np.load(tmp_path / "conv2.npz")
    assert data["directions"].shape == (3, 6) and data["images"].shape == (3, 12, 12, 1)
    np.testing.assert_array_equal(data["directions"], random_directions(6, 3, seed=1))
    assert result.numbers["count"] == 3 and result.figures[0].section == "directions"
    assert result.figures[0].caption.startswith("3 random directions in the activation space")
    # each direction starts from the training images that score highest on it
    assert "start: the training images that score highest on each objective" in (
        result.figures[0].caption
    )

import numpy as np

from featviz.results import Result
from featviz.studies.convergence import STUDY, plateau_numbers, plateau_step
from featviz.units import sample_units

#: This study's settings in the tests that run the whole DAG on a tiny model (tests.tiny):
#: a budget of seconds; each test names its own layers.
TINY = {"filters_per_layer": 2, "steps": 40, "record_every": 10}


def test_plateau_of_a_saturating_curve():
    steps = np.arange(0, 1001, 10)
    trace = 1.0 - np.exp(-steps / 50.0)  # rises by < 1 % over 100 steps from about step 230
    p = plateau_step(steps, trace, window=0.1, tolerance=0.01)
    assert p is not None and 200 <= p <= 260
    k = int(np.searchsorted(steps, p))
    assert trace[k + 10] - trace[k] <= 0.01 * trace[k]
    assert trace[k + 9] - trace[k - 1] > 0.01 * trace[k - 1]


def test_a_curve_still_rising_never_plateaus_and_flat_is_immediate():
    steps = np.arange(0, 1001, 10)
    flat = {"window": 0.1, "tolerance": 0.01}
    assert plateau_step(steps, steps * 0.01 + 1.0, **flat) is None
    assert plateau_step(steps, np.zeros(len(steps)), **flat) == 0


def test_sampling_is_seeded_sorted_and_distinct():
    live = [1, 4, 5, 9, 12, 30, 31]
    a = sample_units(live, 4, seed=1)
    assert a == sample_units(live, 4, seed=1) and a == sorted(set(a)) and len(a) == 4
    assert set(a) <= set(live)
    assert sample_units([2, 0, 1], 8, seed=0) == [0, 1, 2]


def test_units_on_skips_units_that_are_zero_everywhere(tiny_model):
    import keras

    from featviz.models.probe import units_on

    start = np.full((1, 12, 12, 1), 0.5, dtype="float32")
    probe = keras.Model(tiny_model.inputs[0], tiny_model.get_layer("conv2").output)
    peak = np.asarray(probe(start))[0].reshape(-1, 6).max(axis=0)
    assert units_on(tiny_model, "conv2", start) == [i for i in range(6) if peak[i] > 0]


def result(dataset, layer, plateaus, steps):
    numbers = plateau_numbers(layer, plateaus, steps, on_at_start=len(plateaus), units=8)
    return Result("convergence", layer, numbers=numbers, labels={"dataset": dataset, "model": "m"})


def test_report_verdicts():
    short = result("d", "conv1", [300, 500], 2000)
    summary = STUDY.summarize([short])
    row = summary["rows"][0]
    assert row["median"] == 400 and row["latest"] == 500 and row["dataset"] == "d"
    assert "plateaued within the 2,000-step run, by step 500 at the latest" in summary["verdict"]
    assert "the seed's choice is confirmed" in summary["verdict"]
    rising = result("d", "conv2", [None, 300], 2000)
    verdict = STUDY.summarize([short, rising])["verdict"]
    assert "1 of 4 objectives were still rising" in verdict and "shorter than the seed's" in verdict
    late = result("e", "conv1", [30000], 40000)
    assert "later than the seed's 20,000 steps" in STUDY.summarize([late])["verdict"]
    assert STUDY.summarize([]) is None

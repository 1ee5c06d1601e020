"""The core-bound benchmark's counts and medians (its timings are not tested)."""

import keras
import pytest

from benchmarks.core_bound import summarize, training_flops_per_image


def test_training_flops_count_forward_weight_and_input_gradients():
    """A 3x3 conv of 2 to 4 channels on 5x5 (same padding), then a dense 100 -> 3: the forward
    pass, the weight gradients of both, and the input gradient of the dense layer only (the
    image's gradient is not needed to train)."""
    inputs = keras.Input((5, 5, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    conv, dense = 25 * 4 * 3 * 3 * 2, 100 * 3
    assert training_flops_per_image(model) == 2 * (2 * (conv + dense) + dense)


def _run(threads, peak, ms):
    step = {"ms_per_step": ms, "gflops": 1000 / ms, "share_of_peak": 1000 / ms / peak}
    return {"threads": threads, "peak_gflops": peak, "train": {"s": step}, "render": {}}


def test_summary_takes_each_thread_counts_medians_and_range():
    runs = [_run(1, 100, 50), _run(2, 180, 30), _run(1, 120, 40), _run(1, 90, 70)]
    summary = summarize(runs)
    assert set(summary) == {"1", "2"}
    one = summary["1"]
    assert one["peak_gflops"] == 100
    assert one["train"]["s"]["ms_per_step"] == 50
    assert one["train"]["s"]["ms_range"] == [40, 70]
    assert one["train"]["s"]["share_of_peak"] == pytest.approx(1000 / 50 / 100)
    assert summary["2"]["train"]["s"]["ms_per_step"] == 30

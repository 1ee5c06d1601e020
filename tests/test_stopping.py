"""A stopping signal is not lost where Python drops the exception its handler raises."""

import gc
import os
import signal
import sys

import pytest

from featviz import stopping
from featviz.progress import bar


def terminate_inside_a_gc_callback(monkeypatch: pytest.MonkeyPatch) -> list:
    """SIGTERM to this process while a garbage-collection callback runs (as JAX's does): the
    handler runs there, and Python drops the exception it raises. Returns what it dropped."""
    dropped: list = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between these bytecodes
                pass

    gc.callbacks.append(callback)
    try:
        gc.collect(0)  # the youngest generation: quick however large the heap
    finally:
        gc.callbacks.remove(callback)
    return [d.exc_value for d in dropped]


def test_a_dropped_stop_is_raised_at_the_next_progress_update(monkeypatch):
    with stopping.handled(stopping.stop):
        dropped = terminate_inside_a_gc_callback(monkeypatch)
        assert [type(e) for e in dropped] == [stopping.Stopped]  # and yet it returned
        with pytest.raises(stopping.Stopped) as stop:
            bar(total=3, disable=True).update()
    assert stop.value.name == "SIGTERM" and stop.value.signum == signal.SIGTERM


def test_a_dropped_stop_is_forgotten_by_the_next_command(monkeypatch):
    with stopping.handled(stopping.stop):
        assert terminate_inside_a_gc_callback(monkeypatch)
    with stopping.handled(stopping.stop):
        stopping.check()  # a new command in this process: nothing arrived for it
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

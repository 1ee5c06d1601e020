"""SIGTERM and SIGINT stop a command: a cluster's time limit and Ctrl-C end a job this way.

The handler raises :class:`Stopped` wherever the command is, and the command takes back
what it wrote. Python drops an exception raised while a garbage-collection callback or a
finalizer runs (JAX registers one), and a signal handler may run there too; so the signal is
also noted, and :func:`check` raises it again at the next progress update or before the
command's records are written, instead of letting a stopped job finish as if nothing came.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

#: The signals that stop a command (SIGKILL cannot be caught: the next write of a target
#: removes what it left).
STOPPING = (signal.SIGTERM, signal.SIGINT)

_received: list[int] = []


class Stopped(BaseException):
    """A stopping signal arrived: the command stops and takes back what it wrote, as it does
    when it fails."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def stop(signum: int, frame: Any) -> None:
    """The handler: note the signal, and stop here."""
    _received.append(signum)
    raise Stopped(signum)


def check() -> None:
    """Stop now if a stopping signal arrived whose exception was dropped."""
    if _received:
        raise Stopped(_received[0])


@contextlib.contextmanager
def handled(handler: Any) -> Iterator[None]:
    """Handle SIGTERM and SIGINT with ``handler`` while the block runs: :func:`stop` to stop
    the command (forgetting any signal of an earlier command in this process), ``SIG_IGN`` so
    that a second signal does not cut the taking back of the first one's files short."""
    if handler is stop:
        _received.clear()
    before = {s: signal.signal(s, handler) for s in STOPPING}
    try:
        yield
    finally:
        for s, previous in before.items():
            signal.signal(s, previous)

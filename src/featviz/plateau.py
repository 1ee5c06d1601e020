"""When has an objective stopped rising? One criterion for the whole package.

The convergence study reports where each objective plateaus; the render loop
stops there when a study asks for ``steps: auto``. Both use :func:`plateau_step`:
the first recorded step after which the objective rises by at most
``tolerance`` (relative to its value at that step) over the next ``window``
steps. Deciding it at a step needs the trace only up to that step plus the
window, so an objective can stop as soon as it has plateaued: it has seen
exactly what a longer run would have used to say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: ``steps`` of a study that asks the render loop to stop at the plateau.
AUTO = "auto"


def plateau_step(
    steps: np.ndarray, trace: np.ndarray, *, window: float, tolerance: float
) -> int | None:
    """First recorded step after which ``trace`` rises by at most ``tolerance`` over ``window``.

    Args:
        steps: increasing recorded steps, starting at 0.
        trace: the objective at those steps.
        window: steps to look ahead.
        tolerance: largest relative rise (of the value at the step) still called flat.

    Returns:
        The plateau step, or None when the objective still rises in every window
        the record covers.
    """
    steps = np.asarray(steps)
    trace = np.asarray(trace, dtype=np.float64)
    for i, step in enumerate(steps):
        if step + window > steps[-1]:
            return None
        j = int(np.searchsorted(steps, step + window))
        rise = trace[i : j + 1].max() - trace[i]
        if rise <= tolerance * abs(trace[i]) + 1e-12:
            return int(step)
    return None


@dataclass(frozen=True)
class Plateau:
    """Stop an objective once it has plateaued (:func:`plateau_step`); :meth:`reached` says
    whether all of a batch have (objectives tied across images stop together).

    Attributes:
        window: steps looked ahead.
        tolerance: largest relative rise within the window still called flat.
        every: steps between checks (each is one evaluation of the batch).
    """

    window: int
    tolerance: float
    every: int

    def flat(self, steps: np.ndarray, traces: np.ndarray) -> np.ndarray:
        """Per objective (a row of ``traces``), whether it has plateaued by ``steps[-1]``."""
        return np.array(
            [
                plateau_step(steps, t, window=self.window, tolerance=self.tolerance) is not None
                for t in traces
            ],
            dtype=bool,
        )

    def reached(self, steps: np.ndarray, traces: np.ndarray) -> bool:
        """Whether every objective (a row of ``traces``) has plateaued by ``steps[-1]``."""
        return bool(self.flat(steps, traces).all())


def budget(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The render loop's ``steps`` and ``until`` for a study's settings: a fixed number of
    steps, or (``steps: auto``) the ceiling ``max_steps`` with a :class:`Plateau` whose
    window is the share ``plateau_window`` of the ceiling, checked four times a window."""
    if settings["steps"] != AUTO:
        return {"steps": int(settings["steps"]), "until": None}
    ceiling = int(settings["max_steps"])
    window = max(1, round(settings["plateau_window"] * ceiling))
    return {
        "steps": ceiling,
        "until": Plateau(window, float(settings["plateau_tolerance"]), max(1, window // 4)),
    }


def describe_steps(settings: Mapping[str, Any], stopped: np.ndarray | None = None) -> str:
    """A caption fragment: ``512 Adam steps``, or for ``auto`` the steps the objectives ran
    (median and most) and the ceiling and criterion that stopped them."""
    if settings["steps"] != AUTO:
        return f"{int(settings['steps'])} Adam steps"
    ceiling = int(settings["max_steps"])
    criterion = (
        f"until each objective rose by at most "
        f"{100 * settings['plateau_tolerance']:g} % over {100 * settings['plateau_window']:g} % "
        f"of the {ceiling:,}-step ceiling"
    )
    if stopped is None or not len(stopped):
        return f"Adam steps {criterion}"
    return (
        f"Adam steps {criterion} (median {int(np.median(stopped)):,}, "
        f"most {int(np.max(stopped)):,})"
    )

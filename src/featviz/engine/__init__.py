"""Activation maximization for any Keras 3 model.

Objectives say what to maximize (:mod:`featviz.engine.objectives`); the
render loop (:mod:`featviz.engine.render`) optimizes a whole batch of them at
once inside one compiled step.
"""

from featviz.engine.objectives import Objective, channel, class_logit, direction, unit
from featviz.engine.render import RenderResult, render

__all__ = ["Objective", "RenderResult", "channel", "class_logit", "direction", "render", "unit"]

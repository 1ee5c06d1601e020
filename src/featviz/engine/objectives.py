"""Objectives: what an image should make the model do, as one scalar per image.

An objective maps a layer's activations to one number per image. It is a
weighted sum of *terms*, and each term is one of four read-outs of a layer:

- ``mean``: ``vector · mean over positions(activations)``: a filter (channel),
  a dense unit, a class logit, or a direction in activation space;
- ``neuron``: ``vector · activations[y, x]``, one spatial position;
- ``probability``: ``vector · softmax(activations)``, a class probability;
- ``diversity``: minus the mean cosine similarity between the Gram matrices
  of this image's activations and those of the other images of the batch
  that carry the same objective (Lucid's diversity term), so restarts of
  one objective spread out.

Keeping objectives in this form lets the render loop evaluate a whole batch
of *different* objectives as one weighted sum per layer and read-out kind,
and tells it exactly which channels the batch reads.

Arithmetic builds new objectives and their names, which captions reuse::

    0.3 * channel("conv1", 6) + 0.7 * channel("conv1", 9)
    # name: "0.3·conv1:6 + 0.7·conv1:9"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from featviz.models.layers import LayerTable

KINDS = ("mean", "neuron", "probability", "diversity")


@dataclass(frozen=True)
class Term:
    """One read-out of one layer (see the module docstring for the kinds).

    ``index`` is set for a single channel, unit or class (the read-out vector
    is one-hot); ``vector`` for a direction; ``position`` for a neuron.
    """

    layer: str
    kind: str = "mean"
    index: int | None = None
    vector: tuple[float, ...] | None = None
    position: tuple[int, int] | None = None
    label: str = ""

    def weights(self, n_channels: int) -> np.ndarray:
        """This term's read-out vector over the layer's ``n_channels``."""
        if self.kind == "diversity":
            return np.zeros(n_channels, dtype=np.float32)
        if self.index is not None:
            w = np.zeros(n_channels, dtype=np.float32)
            w[self.index] = 1.0
            return w
        vec = np.asarray(self.vector, dtype=np.float32)
        if vec.shape != (n_channels,):
            raise ValueError(
                f"Direction for layer '{self.layer}' has {vec.size} components, "
                f"but the layer has {n_channels} channels."
            )
        return vec


@dataclass(frozen=True)
class Objective:
    """A weighted sum of terms with a readable name (used in titles and captions)."""

    terms: tuple[tuple[float, Term], ...]
    name: str

    @property
    def layers(self) -> tuple[str, ...]:
        """Layers this objective reads, in first-use order."""
        return tuple(dict.fromkeys(term.layer for _, term in self.terms))

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms, f"{self.name} + {other.name}")

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-1.0) * other

    def __neg__(self) -> Objective:
        return (-1.0) * self

    def __mul__(self, scale: float) -> Objective:
        if not isinstance(scale, int | float | np.number) or isinstance(scale, bool):
            return NotImplemented
        scale = float(scale)
        return Objective(
            tuple((scale * w, t) for w, t in self.terms), f"{_fmt(scale)}·{_group(self.name)}"
        )

    __rmul__ = __mul__

    def __radd__(self, other: object) -> Objective:
        # sum() starts from 0: sum([a, b]) is a + b.
        if isinstance(other, int | float) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __truediv__(self, scale: float) -> Objective:
        if not isinstance(scale, int | float | np.number) or isinstance(scale, bool):
            return NotImplemented
        return Objective(
            tuple((w / float(scale), t) for w, t in self.terms),
            f"{_group(self.name)}/{_fmt(float(scale))}",
        )


def channel(layer: str, index: int) -> Objective:
    """Mean activation of channel ``index`` of ``layer``: a conv filter, or a dense unit.

    For a spatial layer the mean is over positions; a dense layer has one
    position, so the same objective is that unit's activation. ``unit`` is
    another name for it.
    """
    return _single(layer, index, f"{layer}:{index}")


unit = channel


def neuron(layer: str, index: int, y: int | None = None, x: int | None = None) -> Objective:
    """Activation of channel ``index`` of ``layer`` at one position (default: the centre)."""
    _check_index(layer, index)
    term = Term(layer, kind="neuron", index=int(index), position=(y, x) if y is not None else None)
    where = f"@{y},{x}" if y is not None else "@centre"
    return Objective(((1.0, term),), f"{layer}:{index}{where}")


def class_logit(layer: str, index: int, class_name: str | None = None) -> Objective:
    """Logit of class ``index`` at the logits ``layer``."""
    return _single(layer, index, f"class {class_name if class_name is not None else index}")


def class_probability(layer: str, index: int, class_name: str | None = None) -> Objective:
    """Softmax probability of class ``index``, computed from the logits ``layer``."""
    _check_index(layer, index)
    label = f"P(class {class_name if class_name is not None else index})"
    term = Term(layer, kind="probability", index=int(index), label=label)
    return Objective(((1.0, term),), label)


def direction(layer: str, vector: Sequence[float], label: str = "direction") -> Objective:
    """Projection of ``layer``'s mean activation vector onto ``vector``."""
    term = Term(layer, vector=tuple(float(v) for v in vector), label=label)
    return Objective(((1.0, term),), f"{layer}:{label}")


def diversity(layer: str) -> Objective:
    """Dissimilarity of this image's ``layer`` style (Gram matrix) from its batch mates'.

    Add it to an objective rendered several times (``[obj] * 4``) so the
    restarts differ: ``channel("conv2", 3) + 0.5 * diversity("conv2")``.
    """
    return Objective(
        ((1.0, Term(layer, kind="diversity", label="diversity")),), f"diversity({layer})"
    )


def for_units(
    table: LayerTable,
    layer: str,
    indices: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[list[int], list[Objective]]:
    """The natural objective of each unit of ``layer``: its class logit at the logits layer
    (named by ``class_names`` when given), its mean activation elsewhere.

    Args:
        table: the model's layers (:class:`~featviz.models.layers.LayerTable`).
        layer: the layer's name.
        indices: the units (all of the layer's if None).
        class_names: names of the classes, for the logits layer's objectives.

    Returns:
        The indices used and one objective per index.

    Raises:
        ValueError: an unknown layer, or an index out of range (naming both).
    """
    n = table.get(layer).units
    indices = list(range(n)) if indices is None else [int(i) for i in indices]
    table.check_units(layer, indices)
    if layer == table.logits:
        names = class_names if class_names is not None else [None] * (max(indices, default=0) + 1)
        return indices, [class_logit(layer, i, names[i]) for i in indices]
    return indices, [channel(layer, i) for i in indices]


def _check_index(layer: str, index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"Index for layer '{layer}' must be an int, got {index!r}.")


def _single(layer: str, index: int, name: str) -> Objective:
    _check_index(layer, index)
    return Objective(((1.0, Term(layer, index=int(index), label=name)),), name)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _group(name: str) -> str:
    return f"({name})" if (" + " in name or " - " in name) else name

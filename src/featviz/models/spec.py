"""CNN architectures as a small spec: depth and widths are configuration.

``cnn3`` of the seed study is ``conv1 32x5x5 -> pool1 -> conv2 64x5x5 -> pool2
-> conv3 128x5x5 -> pool3 -> fc1 1024 -> dropout -> fc2 10`` with ReLU and
``same`` padding; ``cnn2`` drops conv3, and narrower variants scale the
widths. The last dense layer outputs logits (no softmax), so class logits
can be maximized directly. Layer names follow the seed's (``conv1``...,
``pool1``..., ``fc1``..., the logits layer being the last ``fc``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Architecture:
    """Widths and sizes of a plain conv-pool stack followed by dense layers."""

    conv_filters: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 5
    pool_size: int = 2
    dense_units: tuple[int, ...] = (1024,)
    dropout: float = 0.5

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> Architecture:
        """Build from a ``models.<name>`` configuration entry."""
        fields = {k: entry[k] for k in cls.__dataclass_fields__ if k in entry}
        for key in ("conv_filters", "dense_units"):
            if key in fields:
                fields[key] = tuple(int(v) for v in fields[key])
        arch = cls(**fields)
        if not arch.conv_filters or min(arch.conv_filters) < 1:
            raise ValueError(
                "conv_filters must be a non-empty list of positive ints, "
                f"got {list(arch.conv_filters)}."
            )
        if not 0.0 <= arch.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {arch.dropout}.")
        return arch

    @property
    def logits_layer(self) -> str:
        return f"fc{len(self.dense_units) + 1}"

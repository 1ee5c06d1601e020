"""CNN architectures as a small spec: depth and widths are configuration.

``cnn3`` of the seed study is ``conv1 32x5x5 -> pool1 -> conv2 64x5x5 -> pool2
-> conv3 128x5x5 -> pool3 -> fc1 1024 -> dropout -> fc2 10`` with ReLU and
``same`` padding; ``cnn2`` drops conv3, and narrower variants scale the
widths. The last dense layer outputs logits (no softmax), so class logits
can be maximized directly. Layer names follow the seed's (``conv1``...,
``pool1``..., ``fc1``..., the logits layer being the last ``fc``). With
``batch_norm`` each convolution's ReLU output is batch-normalized
(``conv1 -> bn1 -> pool1``), as in the judge model that scores visualizations.

The dataclass's defaults are the schema's (``$defs/architecture`` of
``config/schema.yaml``; a test keeps them equal); :meth:`Architecture.from_config`
fills a config entry from the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from featviz.settings import validate_definition


@dataclass(frozen=True)
class Architecture:
    """Widths and sizes of a plain conv-pool stack followed by dense layers."""

    conv_filters: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 5
    pool_size: int = 2
    dense_units: tuple[int, ...] = (1024,)
    dropout: float = 0.5
    batch_norm: bool = False

    @classmethod
    def from_config(cls, entry: Mapping[str, Any], where: str = "architecture") -> Architecture:
        """Build from a ``models.<name>`` configuration entry (defaults from the schema).

        Raises:
            SettingsError: a key or value the schema does not accept.
        """
        entry = validate_definition("architecture", entry, where)
        fields = {k: entry[k] for k in cls.__dataclass_fields__ if k in entry}
        for key in ("conv_filters", "dense_units"):
            if key in fields:
                fields[key] = tuple(int(v) for v in fields[key])
        return cls(**fields)

    @property
    def logits_layer(self) -> str:
        return f"fc{len(self.dense_units) + 1}"

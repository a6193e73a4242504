"""The attention's settings, one frozen object: what the paper and the authors' code fix, and what
the ablations vary."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

Kind = Literal["smic", "mic"]
Projection = Literal["xavier", "gaussian"]
AUTHORS_SEED = -3566


@dataclass(frozen=True)
class AttentionSettings:
    """``kind``: "smic" (K random projections per stage) or "mic" (the Table II ablation: one MIC
    of the channel means); ``k`` projections drawn as ``projection`` from ``seed``; ``patch`` x
    ``patch`` windows at ``stride``; minepy's ``alpha`` and ``c``."""

    kind: Kind = "smic"
    k: int = 32
    patch: int = 7
    stride: int = 7
    projection: Projection = "xavier"
    seed: int = AUTHORS_SEED
    alpha: float = 0.5
    c: float = 10

    def __post_init__(self) -> None:
        if self.kind not in ("smic", "mic"):
            raise ValueError(f"attention must be 'smic' or 'mic', got {self.kind!r}")
        if self.projection not in ("xavier", "gaussian"):
            raise ValueError(f"projection must be 'xavier' or 'gaussian', got {self.projection!r}")
        if self.k < 1:
            raise ValueError(f"the number of projections must be >= 1, got {self.k}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

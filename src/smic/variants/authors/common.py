"""What the authors' five SMIC metrics share: their preparation, VGG16 and attention maps."""

from __future__ import annotations

from typing import ClassVar

import torch

from smic.attention import Attention, Kind, attention_from_features
from smic.variants.authors.preprocess import prepare
from smic.backbone import VGG16, Pooling
from smic.metrics.base import Metric


class AuthorsMetric(Metric):
    """Base of the ``variant="reference"`` metrics: the authors' code, number for number.

    ``attention="smic"`` is theirs; ``"mic"`` swaps in the Table II ablation. Inputs are prepared
    as their ``prepare_image`` does (shorter side to max(int(short/48)*32, 128)), except DeepWSD.
    """

    pooling: ClassVar[Pooling] = "l2"
    patch: ClassVar[int] = 7
    stride: ClassVar[int] = 7

    def __init__(self, attention: Kind = "smic") -> None:
        super().__init__()
        if attention not in ("smic", "mic"):
            raise ValueError(f"attention must be 'smic' or 'mic', got {attention!r}")
        self.attention_kind = attention
        self.net = VGG16(self.pooling, channels_last=False)  # the authors' layout and rounding
        # the stride-7 patches of stage 4 (1/8 of the prepared image) need 7 rows and columns
        self.min_size = 8 * self.patch

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return prepare(images)

    def attention(self, feats_ref: list[torch.Tensor], feats_dist: list[torch.Tensor]) -> Attention:
        """A = 1 - SMIC of stages 3 and 4 on the metric's patch grid (kept for ``explain``)."""
        self._last_attention = attention_from_features(
            {3: feats_ref[2], 4: feats_ref[3]}, {3: feats_dist[2], 4: feats_dist[3]},
            kind=self.attention_kind, patch=self.patch, stride=self.stride,
        )
        return self._last_attention

    def explain(self, ref: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, Attention]:
        """Scores and the attention maps (per stage, on the metric's patch grid) they used."""
        return self(ref, dist), self._last_attention

    def score(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False) -> torch.Tensor:
        if return_maps:
            raise ValueError("the reference variant gives scores only; use variant='paper' for maps")
        ref, dist = self.prepare(ref), self.prepare(dist)
        with torch.inference_mode():
            return self.score_prepared(ref, dist)

    def score_prepared(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

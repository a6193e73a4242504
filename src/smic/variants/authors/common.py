"""What the authors' five SMIC metrics share: their preparation, VGG16 and attention maps, and the
metric contract (scores, the local maps they pool, the attention) in one stateless pass."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch

from smic.attention import Attention, AttentionSettings, Kind, attention_from_features
from smic.backbone import VGG16, Pooling
from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool, Stages
from smic.variants.authors.preprocess import prepare


class Explained(NamedTuple):
    """One pass of an authors' metric: scores (N,), the local maps the attention pools (one
    (N, 1, h, w) tensor per entry of ``map_stages``), and that attention."""

    scores: torch.Tensor
    maps: list[torch.Tensor]
    attention: Attention


def patch_grid(features: torch.Tensor, patch: int, stride: int) -> tuple[int, int]:
    """Rows and columns of patch x patch windows at ``stride`` over (N, C, H, W) features."""
    return (features.shape[-2] - patch) // stride + 1, (features.shape[-1] - patch) // stride + 1


class AuthorsMetric(Metric):
    """Base of the ``variant="authors"`` metrics: the authors' code, number for number.

    ``attention="smic"`` is theirs; ``"mic"`` swaps in the Table II ablation. Inputs are prepared
    as their ``prepare_image`` does (shorter side to max(int(short/48)*32, 128)), except DeepWSD.
    The attention is the metric's own, so ``score`` takes no pool.
    """

    pooling: ClassVar[Pooling] = "l2"
    patch: ClassVar[int] = 7
    stride: ClassVar[int] = 7

    def __init__(self, attention: Kind = "smic") -> None:
        super().__init__()
        self.settings = AttentionSettings(attention, patch=self.patch, stride=self.stride)
        self.net = VGG16(self.pooling, channels_last=False)  # the authors' layout and rounding
        # the stride-7 patches of stage 4 (1/8 of the prepared image) need 7 rows and columns
        self.min_size = 8 * self.patch

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        # their code, number for number: run without autograd, resized in 8 bits as their PIL pipeline
        return (
            f"{self.name} with variant='authors' is the authors' code, run under "
            "torch.inference_mode (and resized in 8 bits), so it has no gradient; use variant='paper' "
            "(the default) for gradients: the same attention, a constant weight on the official maps"
        )

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return prepare(images)

    def attention(self, feats_ref: Stages, feats_dist: Stages) -> Attention:
        """A = 1 - SMIC of stages 3 and 4 on the metric's patch grid."""
        return attention_from_features(feats_ref, feats_dist, self.settings)

    def evaluate(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        """Scores, maps and attention of a validated pair; scores and maps in the input's dtype
        (the authors' code computes some of them in float64)."""
        with torch.inference_mode():
            result = self.compute(self.prepare(ref), self.prepare(dist))
        return result._replace(scores=result.scores.to(ref.dtype), maps=[m.to(ref.dtype) for m in result.maps])

    def compute(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        raise NotImplementedError

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        result = self.evaluate(ref, dist)
        return (result.scores, result.maps) if return_maps else result.scores

    def explain(self, ref: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, Attention]:
        """Scores and the attention maps (per stage, on the metric's patch grid) they used."""
        self.check(ref, dist)
        self.check_gradient(ref, dist)
        result = self.evaluate(ref, dist)
        return result.scores, result.attention

"""``variant="paper"``: the paper's Eq. (7) and (8) applied to the official metrics.

Every official metric takes an :class:`~smic.attention.AttentionPool` that replaces the spatial
means it attends by attention-weighted means, sum(A M) / sum(A), with A resized bilinearly to M's
grid:
- PSNR, SSIM (Eq. 7): the MSE, or the mean SSIM, over the full-resolution map weighted by the
  mean of A_3 and A_4, from the L2-pooled VGG16 of the [0, 1] images;
- LPIPS, DISTS, DeepWSD (Eq. 8): their stage-3 and stage-4 terms weighted by A_3 and A_4 computed
  from the metric's own stage-3/4 features (one VGG16 pass serves both, as in the authors' code):
  LPIPS's relu3_3/relu4_3 map means, DISTS's means, variances and covariance (weighted moments),
  DeepWSD's per-position distances.
Everything else stays official, so constant attention gives the official score.
"""

from __future__ import annotations

from typing import Any

import torch

from smic.attention import AUTHORS_SEED, AttentionPool, Kind, Projection
from smic.backbone import VGG16
from smic.metrics.base import Metric, ScoreAndMaps


class PaperSMIC(Metric):
    """An official metric with its local maps pooled by SMIC (or MIC) attention."""

    def __init__(self, base: Metric, attention: Kind = "smic", projection: Projection = "xavier",
                 k: int = 32, seed: int = AUTHORS_SEED) -> None:
        super().__init__()
        self.base = base
        self.name, self.lower_better, self.score_range = base.name, base.lower_better, base.score_range
        self.map_stages = base.map_stages
        # stage-4 patches need 7 positions at 1/8 of the image
        self.min_size = max(base.min_size, 56)
        self.kind = attention
        self.options: dict[str, Any] = dict(projection=projection, k=k, seed=seed)
        self.net = VGG16("l2") if base.attention_source == "images" else None

    def pool(self) -> AttentionPool:
        return AttentionPool(self.kind, **self.options)

    def score(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False,
              pool: AttentionPool | None = None) -> torch.Tensor | ScoreAndMaps:
        pool = pool or self.pool()
        if self.net is not None:
            pool.from_images(ref, dist, self.net)
        return self.base.score(ref, dist, return_maps=return_maps, pool=pool)


def paper_metric(base_cls: type[Metric], attention: Kind = "smic", **options: Any) -> PaperSMIC:
    """Build ``base_cls(**options)`` and wrap it in the paper's attention pooling."""
    attention_options = {key: options.pop(key) for key in ("projection", "k", "seed") if key in options}
    return PaperSMIC(base_cls(**options), attention, **attention_options)

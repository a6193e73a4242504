"""``variant="paper"``: the paper's Eq. (7) and (8) applied to the official metrics.

Every official metric takes a pool (``smic.pooling``); here it is an
:class:`~smic.attention.AttentionPool`, which replaces the spatial means the metric attends by
attention-weighted means, sum(A M) / sum(A), with A resized bilinearly to M's grid:
- PSNR, SSIM (Eq. 7): the MSE, or the mean SSIM, over the full-resolution map weighted by the
  mean of A_3 and A_4, from the L2-pooled VGG16 of the [0, 1] images;
- LPIPS, DISTS, DeepWSD (Eq. 8): their stage-3 and stage-4 terms weighted by A_3 and A_4 computed
  from the metric's own stage-3/4 features (one VGG16 pass serves both, as in the authors' code):
  LPIPS's relu3_3/relu4_3 map means, DISTS's means, variances and covariance (weighted moments),
  DeepWSD's per-position distances.
Everything else stays official, so constant attention gives the official score.

Gradients: MIC ranks and counts, so the attention has no gradient; it is computed from detached
inputs (smic.kernels.mic detaches) and weighs the maps as a constant. The gradient flows through
the official metric's local maps, so a paper form is differentiable where its base metric is.
"""

from __future__ import annotations

from typing import Any

import torch

from smic.attention import Attention, AttentionPool, AttentionSettings, Kind
from smic.backbone import VGG16
from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import Pool

# options of the attention, not of the metric, that a paper form accepts -> AttentionSettings fields
# (the number of projections is not "k": SSIM and MS-SSIM have their own k)
ATTENTION_OPTIONS = {"projection": "projection", "projections": "k", "seed": "seed"}


class PaperSMIC(Metric):
    """An official metric with its local maps pooled by SMIC (or MIC) attention."""

    def __init__(self, base: Metric, settings: AttentionSettings | None = None) -> None:
        super().__init__()
        self.base = base
        self.name, self.lower_better, self.score_range = base.name, base.lower_better, base.score_range
        self.map_stages = base.map_stages
        # stage-4 patches need 7 positions at 1/8 of the image
        self.min_size = max(base.min_size, 56)
        self.settings = settings or AttentionSettings()
        self.net = VGG16("l2") if base.attention_source == "images" else None

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        return self.base.no_gradient(size)  # the attention is a constant weight: the maps decide

    def pool(self) -> AttentionPool:
        """A fresh pool for one call: stage 0 (Eq. 7) for the pixel metrics, else stages 3, 4 (Eq. 8)."""
        return AttentionPool(self.settings, stages=(0,) if self.net is not None else (3, 4))

    def _pooled(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool) -> tuple[Any, Attention]:
        pool = self.pool()
        if self.net is not None:
            pool.from_images(ref, dist, self.net)
        result = self.base.score(ref, dist, return_maps=return_maps, pool=pool)
        assert pool.attention is not None  # every metric hands its pool the features it attends
        return result, pool.attention

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool | None = None
    ) -> torch.Tensor | ScoreAndMaps:
        return self._pooled(ref, dist, return_maps)[0]

    def explain(self, ref: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, Attention]:
        """Scores and the attention maps (per stage) they were pooled with (validated like forward)."""
        self.check(ref, dist)
        self.check_gradient(ref, dist)
        return self._pooled(ref, dist, False)


def paper_metric(base_cls: type[Metric], attention: Kind = "smic", **options: Any) -> PaperSMIC:
    """Build ``base_cls(**options)`` and wrap it in the paper's attention pooling (the options
    named in ATTENTION_OPTIONS go to the attention)."""
    attention_options = {field: options.pop(key) for key, field in ATTENTION_OPTIONS.items() if key in options}
    return PaperSMIC(base_cls(**options), AttentionSettings(attention, **attention_options))

"""``variant="paper"``: the paper's Eq. (7) and (8) applied to the official metrics.

Each official metric exposes its local distortion maps M_i and how its score is assembled from
their spatial means (``Metric.from_pooled``). The paper's form replaces the spatial mean of the
attended maps by the attention-weighted mean

    pool(M, A) = sum_xy A(x, y) M(x, y) / sum_xy A(x, y),   A resized bilinearly to M's grid,

with A the SMIC attention of the L2-pooled VGG16 on the [0, 1] images: the stage-3/4 maps of
LPIPS use A_3 and A_4 (Eq. 8); full-resolution maps (PSNR, SSIM) use the mean of A_3 and A_4
(Eq. 7). Everything else stays official, so constant attention gives the official score.
"""

from __future__ import annotations

from typing import Any

import torch

from smic.attention import Attention, Kind, Projection, attend, attention_from_features, AUTHORS_SEED
from smic.backbone import VGG16
from smic.metrics.base import Metric, ScoreAndMaps


class PaperSMIC(Metric):
    """An official metric with its local maps pooled by SMIC (or MIC) attention."""

    def __init__(self, base: Metric, attention: Kind = "smic", projection: Projection = "xavier",
                 k: int = 32, seed: int = AUTHORS_SEED) -> None:
        super().__init__()
        if not base.attended_maps:
            raise ValueError(f"metric {base.name!r} has no paper variant (no local maps to attend)")
        self.base = base
        self.name, self.lower_better, self.score_range = base.name, base.lower_better, base.score_range
        self.min_size = max(base.min_size, 56)
        self.options = dict(kind=attention, projection=projection, k=k, seed=seed)
        self.net = VGG16("l2")

    def attention(self, ref: torch.Tensor, dist: torch.Tensor) -> Attention:
        with torch.inference_mode():
            f_ref, f_dist = self.net(ref, 4), self.net(dist, 4)
        return attention_from_features({3: f_ref[2], 4: f_ref[3]}, {3: f_dist[2], 4: f_dist[3]}, **self.options)

    def score(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False) -> torch.Tensor | ScoreAndMaps:
        _, maps = self.base.score(ref, dist, return_maps=True)
        attention = self.attention(ref, dist)
        pooled = []
        for index, local in enumerate(maps):
            stage = self.base.attended_maps.get(index, -1)
            if stage == -1:
                pooled.append(local.double().mean(dim=(1, 2, 3)))
            else:
                weights = attention.combined() if stage == 0 else attention.stages[stage]
                pooled.append(attend(local, weights))
        score = self.base.from_pooled(pooled).to(ref.dtype)
        return (score, maps) if return_maps else score


def paper_metric(base_cls: type[Metric], attention: Kind = "smic", **options: Any) -> PaperSMIC:
    """Build ``base_cls(**options)`` and wrap it in the paper's attention pooling."""
    attention_options = {key: options.pop(key) for key in ("projection", "k", "seed") if key in options}
    return PaperSMIC(base_cls(**options), attention, **attention_options)

"""LPIPS_SMIC as the authors compute it (max-pool VGG16 on the prepared [0, 1] image, no
scaling layer, no channel normalisation):

    LPIPS_SMIC = sum_{s in 1,2,5} mean_xy(w_s . (f_s^ref - f_s^dist)^2)
               + sum_{s in 3,4} (1/P) sum_p A_p sum_{c, xy in patch p} (f_s^ref - f_s^dist)^2

with w_s the LPIPS v0.1 lin weights and p the 7x7 stride-7 patches; values run to 1e2-1e4.
Maps: the per-patch sums of stages 3 and 4, (N, 1, h_s, w_s) on the patch grids.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from smic.attention import Kind
from smic.registry import register
from smic.variants.authors.common import AuthorsMetric, Explained
from smic.weights import LPIPS_VGG_LIN, load_packaged

LIN_STAGES = (1, 2, 5)  # relu1_2, relu2_2, relu5_3 keep LPIPS's learned weighting


def patch_sums(values: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """Sum of (N, C, H, W) over the channels and each patch: (N, h, w)."""
    return F.avg_pool2d(values.sum(dim=1, keepdim=True), patch, stride=stride)[:, 0] * patch * patch


@register(variant="authors")
class LPIPSSMIC(AuthorsMetric):
    name = "lpips"
    lower_better = True
    score_range = (0.0, float("inf"))
    pooling = "max"
    map_stages = (3, 4)

    def __init__(self, attention: Kind = "smic") -> None:
        super().__init__(attention)
        lins = load_packaged(LPIPS_VGG_LIN)
        for stage in LIN_STAGES:  # the packaged file numbers the stages from 0
            self.register_buffer(f"lin{stage}", lins[f"lin{stage - 1}.model.1.weight"])

    def compute(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        feats_ref, feats_dist = self.net(ref), self.net(dist)
        total = sum(
            F.conv2d((feats_ref[s] - feats_dist[s]) ** 2, getattr(self, f"lin{s}")).mean(dim=(1, 2, 3)).double()
            for s in LIN_STAGES
        )
        attention = self.attention(feats_ref, feats_dist)
        maps = []
        for stage in (3, 4):
            error = patch_sums((feats_ref[stage] - feats_dist[stage]) ** 2, self.patch, self.stride)
            total = total + (attention.stages[stage] * error.double()).mean(dim=(1, 2))
            maps.append(error[:, None])
        assert isinstance(total, torch.Tensor)
        return Explained(total, maps, attention)

"""DISTS_SMIC as the authors compute it (L2-pool VGG16 on the prepared [0, 1] image without
DISTS's ImageNet normalisation; stage 0 is the image itself):

    DISTS_SMIC = 1 - sum_{s in 0,1,2,5} sum_c (a_sc S1_sc + b_sc S2_sc)
               + sum_{s in 3,4} (1/P) sum_p A_p (2 - mean_c S1_pc - mean_c S2_pc)

S1 = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1), S2 = (2 cov_xy + c2) / (var_x + var_y + c2),
c1 = c2 = 1e-6, global per channel for the first sum and per 7x7 patch (stride 6) in the second;
a, b are DISTS's weights divided by their total over all six stages, so DISTS_SMIC(x, x) = 0.432.
"""

from __future__ import annotations

import torch

from smic.attention import patches
from smic.variants.authors.common import AuthorsMetric
from smic.registry import register
from smic.weights import DISTS_ALPHA_BETA, load_packaged

C1 = C2 = 1e-6
CHANNELS = (3, 64, 128, 256, 512, 512)
GLOBAL_STAGES = (0, 1, 2, 5)


def similarities(x: torch.Tensor, y: torch.Tensor, dim: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """DISTS's S1 (means) and S2 (variances and covariance) over ``dim``."""
    mx, my = x.mean(dim, keepdim=True), y.mean(dim, keepdim=True)
    s1 = (2 * mx * my + C1) / (mx**2 + my**2 + C1)
    vx, vy = ((x - mx) ** 2).mean(dim, keepdim=True), ((y - my) ** 2).mean(dim, keepdim=True)
    cov = (x * y).mean(dim, keepdim=True) - mx * my
    return s1, (2 * cov + C2) / (vx + vy + C2)


@register(variant="reference")
class DISTSSMIC(AuthorsMetric):
    name = "dists"
    lower_better = True
    score_range = (0.0, float("inf"))
    stride = 6

    def __init__(self, attention: str = "smic") -> None:
        super().__init__(attention)
        weights = load_packaged(DISTS_ALPHA_BETA)
        total = weights["alpha"].sum() + weights["beta"].sum()
        self.register_buffer("alpha", (weights["alpha"] / total).flatten())
        self.register_buffer("beta", (weights["beta"] / total).flatten())

    def score_prepared(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        feats_ref, feats_dist = [ref, *self.net(ref)], [dist, *self.net(dist)]
        alphas, betas = self.alpha.split(CHANNELS), self.beta.split(CHANNELS)
        similarity = 0
        for s in GLOBAL_STAGES:
            s1, s2 = similarities(feats_ref[s], feats_dist[s], (2, 3))
            similarity = similarity + (alphas[s] * s1.flatten(1)).sum(1) + (betas[s] * s2.flatten(1)).sum(1)
        total = (1 - similarity).double()
        attention = self.attention(feats_ref[1:], feats_dist[1:])
        for stage in (3, 4):
            s1, s2 = similarities(patches(feats_ref[stage], self.patch, self.stride),
                                  patches(feats_dist[stage], self.patch, self.stride), (3,))
            local = 2 - s1.mean(dim=(2, 3)) - s2.mean(dim=(2, 3))  # (N, P)
            total = total + (attention.stages[stage].flatten(1) * local.double()).mean(dim=1)
        return total

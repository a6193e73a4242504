"""DISTS_SMIC as the authors compute it (L2-pool VGG16 on the prepared [0, 1] image without
DISTS's ImageNet normalisation; stage 0 is the image itself):

    DISTS_SMIC = 1 - sum_{s in 0,1,2,5} sum_c (a_sc S1_sc + b_sc S2_sc)
               + sum_{s in 3,4} (1/P) sum_p A_p (2 - mean_c S1_pc - mean_c S2_pc)

S1, S2 are DISTS's terms (``smic.metrics.dists.similarities``), c1 = c2 = 1e-6, global per
channel for the first sum and per 7x7 patch (stride 6) in the second; a, b are DISTS's weights
divided by their total over all six stages, so DISTS_SMIC(x, x) = 0.432.
Maps: the patch terms 2 - mean_c S1 - mean_c S2 of stages 3 and 4, (N, 1, h_s, w_s).
"""

from __future__ import annotations

import torch

from smic.attention import Kind, patches
from smic.metrics.dists import CHANNELS, similarities
from smic.registry import register
from smic.variants.authors.common import AuthorsMetric, Explained, patch_grid
from smic.weights import DISTS_ALPHA_BETA, load_packaged

GLOBAL_STAGES = (0, 1, 2, 5)


def moments(x: torch.Tensor, y: torch.Tensor, dim: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    """Means, variances and covariance over ``dim``, in the authors' order of operations."""
    mx, my = x.mean(dim, keepdim=True), y.mean(dim, keepdim=True)
    vx, vy = ((x - mx) ** 2).mean(dim, keepdim=True), ((y - my) ** 2).mean(dim, keepdim=True)
    return mx, my, vx, vy, (x * y).mean(dim, keepdim=True) - mx * my


@register(variant="authors")
class DISTSSMIC(AuthorsMetric):
    name = "dists"
    lower_better = True
    score_range = (0.0, float("inf"))
    stride = 6
    map_stages = (3, 4)
    alpha: torch.Tensor
    beta: torch.Tensor

    def __init__(self, attention: Kind = "smic") -> None:
        super().__init__(attention)
        weights = load_packaged(DISTS_ALPHA_BETA)
        total = weights["alpha"].sum() + weights["beta"].sum()
        self.register_buffer("alpha", (weights["alpha"] / total).flatten())
        self.register_buffer("beta", (weights["beta"] / total).flatten())

    def compute(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        feats_ref, feats_dist = {0: ref, **self.net(ref)}, {0: dist, **self.net(dist)}
        alphas, betas = self.alpha.split(CHANNELS), self.beta.split(CHANNELS)
        similarity = torch.zeros(ref.shape[0], dtype=ref.dtype, device=ref.device)
        for s in GLOBAL_STAGES:
            s1, s2 = similarities(*moments(feats_ref[s], feats_dist[s], (2, 3)))
            similarity = similarity + (alphas[s] * s1.flatten(1)).sum(1) + (betas[s] * s2.flatten(1)).sum(1)
        total = (1 - similarity).double()
        attention = self.attention(feats_ref, feats_dist)
        maps = []
        for stage in (3, 4):
            s1, s2 = similarities(
                *moments(
                    patches(feats_ref[stage], self.patch, self.stride),
                    patches(feats_dist[stage], self.patch, self.stride),
                    (3,),
                )
            )
            local = 2 - s1.mean(dim=(2, 3)) - s2.mean(dim=(2, 3))  # (N, P)
            total = total + (attention.stages[stage].flatten(1) * local.double()).mean(dim=1)
            maps.append(local.view(-1, 1, *patch_grid(feats_ref[stage], self.patch, self.stride)))
        return Explained(total, maps, attention)

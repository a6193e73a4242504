"""DeepWSD_SMIC as the authors compute it (DeepWSD's preparation, downsampling by f and padded
stages; 4x4 patches at stride 4 on the padded relu3_3 / relu4_3 maps):

    s = ( sum_{k in 0,1,2,5} log(1 + D_k) + sum_{k in 3,4} sum_p A_p D_kp ) / 6
    DeepWSD_SMIC = log(s + 1), squared when f > 1

D_k is DeepWSD's stage distance (sum over its columns) and D_kp the same distance restricted to
patch p (its 4x4xC block read in memory order, the stage totals kept for the weights).
"""

from __future__ import annotations

import torch

from smic.attention import patches
from smic.variants.authors.common import AuthorsMetric
from smic.kernels.wsd import column_distances
from smic.metrics.deepwsd import STAGES, _window_distances, finish, min_side, padded_stages, prepare_input
from smic.registry import register

GLOBAL_STAGES = (0, 1, 2, 5)


@register(variant="reference")
class DeepWSDSMIC(AuthorsMetric):
    name = "deepwsd"
    lower_better = True
    score_range = (0.0, float("inf"))
    patch = 4
    stride = 4

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        needed = min_side(*images.shape[-2:])
        if min(images.shape[-2:]) < needed:
            raise ValueError(f"image of {images.shape[-2]}x{images.shape[-1]} is too small for DeepWSD "
                             f"(needs a shorter side of at least {needed})")
        return images  # prepare_input does DeepWSD's own preparation

    def score_prepared(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        n = ref.shape[0]
        pair, factor, window = prepare_input(torch.cat([ref, dist]))
        stages = padded_stages(pair, self.net, window)
        total = sum(torch.log(_window_distances(stages[k][:n], stages[k][n:], window).sum(dim=1) + 1).double()
                    for k in GLOBAL_STAGES)
        attention = self.attention([s[:n] for s in stages[1:]], [s[n:] for s in stages[1:]])
        for stage in (3, 4):
            f_ref, f_dist = stages[stage][:n], stages[stage][n:]
            totals = [f.sum(dim=(1, 2, 3)).view(n, 1) for f in (f_ref, f_dist)]
            # each patch (C, 4, 4) read in memory order as C columns of 16 samples, as the official reshape
            columns = [patches(f, self.patch, self.stride).reshape(n, -1, self.patch**2, f.shape[1])
                       for f in (f_ref, f_dist)]
            per_patch = column_distances(*columns, *totals).sum(dim=-1)  # (N, P)
            total = total + (attention.stages[stage].flatten(1) * per_patch.double()).sum(dim=1)
        return finish(total / STAGES, factor, as_loss=False)

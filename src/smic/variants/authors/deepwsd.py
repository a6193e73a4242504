"""DeepWSD_SMIC as the authors compute it (DeepWSD's preparation, downsampling by f and padded
stages; 4x4 patches at stride 4 on the padded relu3_3 / relu4_3 maps):

    s = ( sum_{k in 0,1,2,5} log(1 + D_k) + sum_{k in 3,4} sum_p A_p D_kp ) / 6
    DeepWSD_SMIC = log(s + 1), squared when f > 1

D_k is DeepWSD's stage distance (sum over its columns) and D_kp the same distance restricted to
patch p (its 4x4xC block read in memory order, the stage totals kept for the weights).
Maps: the per-patch distances D_kp of stages 3 and 4, (N, 1, h_k, w_k) on the patch grids.
"""

from __future__ import annotations

import torch

from smic.attention import Kind, patches
from smic.io import check_pair
from smic.kernels.wsd import column_distances
from smic.metrics.deepwsd import STAGES, finish, min_side, padded_stages, prepare_input, window_distances
from smic.pooling import join_pair, split_pair
from smic.registry import register
from smic.variants.authors.common import AuthorsMetric, Explained, patch_grid

GLOBAL_STAGES = (0, 1, 2, 5)


@register(variant="authors")
class DeepWSDSMIC(AuthorsMetric):
    name = "deepwsd"
    lower_better = True
    score_range = (0.0, float("inf"))
    patch = 4
    stride = 4
    map_stages = (3, 4)

    def __init__(self, attention: Kind = "smic") -> None:
        super().__init__(attention)
        self.min_size = 33  # the smallest square: relu5_3 is 3x3, one 4x4 window after padding

    def check(self, ref: torch.Tensor, dist: torch.Tensor) -> None:
        check_pair(ref, dist)  # the size DeepWSD needs depends on the aspect (min_side)
        check_pair(ref, dist, min_side(ref.shape[-2], ref.shape[-1]))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return images  # prepare_input does DeepWSD's own preparation

    def compute(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        n = ref.shape[0]
        pair, factor, window = prepare_input(join_pair(ref, dist))
        stages = padded_stages(pair, self.net, window)
        total = sum(
            torch.log(window_distances(stages[k][:n], stages[k][n:], window).sum(dim=1) + 1).double()
            for k in GLOBAL_STAGES
        )
        attention = self.attention(*split_pair(stages, n))
        maps = []
        for stage in (3, 4):
            f_ref, f_dist = stages[stage][:n], stages[stage][n:]
            totals = [f.sum(dim=(1, 2, 3)).view(n, 1) for f in (f_ref, f_dist)]
            # each patch (C, 4, 4) read in memory order as C columns of 16 samples, as the official reshape
            columns = [
                patches(f, self.patch, self.stride).reshape(n, -1, self.patch**2, f.shape[1]) for f in (f_ref, f_dist)
            ]
            per_patch = column_distances(*columns, *totals).sum(dim=-1)  # (N, P)
            total = total + (attention.stages[stage].flatten(1) * per_patch.double()).sum(dim=1)
            maps.append(per_patch.view(n, 1, *patch_grid(f_ref, self.patch, self.stride)))
        assert isinstance(total, torch.Tensor)
        return Explained(finish(total / STAGES, factor, as_loss=False), maps, attention)

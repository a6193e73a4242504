"""PSNR_SMIC as the authors compute it.

    MSE_p = mean over RGB and the 7x7 window at p of (ref - dist)^2     ((H-6) x (W-6), stride 1)
    A = zoom((A_3 + zoom(A_4, grid of A_3)) / 2, (H-6) x (W-6))        (bilinear, corners aligned)
    PSNR_SMIC = 10 log10(1 / (mean(A * MSE) + 1e-10))                 (not normalised by sum A)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from smic.attention import zoom_linear
from smic.variants.authors.common import AuthorsMetric
from smic.registry import register

WINDOW = 7


def local_mse(ref: torch.Tensor, dist: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """Mean squared error over the channels and each window x window block, stride 1: (N, h, w)."""
    return F.avg_pool2d((ref - dist).pow(2).mean(dim=1, keepdim=True), window, stride=1)[:, 0]


@register(variant="reference")
class PSNRSMIC(AuthorsMetric):
    name = "psnr"
    lower_better = False
    score_range = (0.0, 100.0)

    def score_prepared(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        error = local_mse(ref, dist)
        attention = self.attention(self.net(ref, 4), self.net(dist, 4)).combined(tuple(error.shape[-2:]), zoom_linear)
        pooled = (attention * error.double()).mean(dim=(1, 2))
        return 10 * torch.log10(1 / (pooled + 1e-10))

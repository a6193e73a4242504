"""PSNR_SMIC as the authors compute it.

    MSE_p = mean over RGB and the 7x7 window at p of (ref - dist)^2     ((H-6) x (W-6), stride 1)
    A = zoom((A_3 + zoom(A_4, grid of A_3)) / 2, (H-6) x (W-6))        (bilinear, corners aligned)
    PSNR_SMIC = 10 log10(1 / (mean(A * MSE) + 1e-10))                 (not normalised by sum A)

Maps: the local MSE (N, 1, H-6, W-6) of the prepared pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from smic.registry import register
from smic.variants.authors.common import AuthorsMetric, Explained
from smic.variants.authors.zoom import zoom_linear

WINDOW = 7


def local_mse(ref: torch.Tensor, dist: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """Mean squared error over the channels and each window x window block, stride 1: (N, h, w)."""
    return F.avg_pool2d((ref - dist).pow(2).mean(dim=1, keepdim=True), window, stride=1)[:, 0]


@register(variant="authors")
class PSNRSMIC(AuthorsMetric):
    name = "psnr"
    lower_better = False
    score_range = (0.0, 100.0)

    def compute(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        error = local_mse(ref, dist)
        attention = self.attention(self.net(ref, 4), self.net(dist, 4))
        weights = attention.combined((error.shape[-2], error.shape[-1]), zoom_linear)
        pooled = (weights * error.double()).mean(dim=(1, 2))
        return Explained(10 * torch.log10(1 / (pooled + 1e-10)), [error[:, None]], attention)

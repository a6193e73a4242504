"""SSIM_SMIC as the authors compute it (their ``__main__``: window 7, data range 1):

    SSIM_SMIC = mean(A * (1 - SSIM_map))    lower is better; SSIM_map averaged over RGB, 'valid'
with A the two-stage attention zoomed to the SSIM map's grid, as in PSNR_SMIC.
"""

from __future__ import annotations

import torch

from smic.attention import zoom_linear
from smic.variants.authors.common import AuthorsMetric
from smic.metrics.ssim import ssim
from smic.registry import register


@register(variant="reference")
class SSIMSMIC(AuthorsMetric):
    name = "ssim"
    lower_better = True
    score_range = (0.0, 2.0)

    def __init__(self, attention: str = "smic", win_size: int = 7) -> None:
        super().__init__(attention)
        self.win_size = win_size

    def score_prepared(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        _, (ssim_map,) = ssim(ref, dist, "rgb", win_size=self.win_size, return_maps=True)
        distortion = 1 - ssim_map[:, 0]
        attention = self.attention(self.net(ref, 4), self.net(dist, 4)).combined(tuple(distortion.shape[-2:]), zoom_linear)
        return (attention * distortion.double()).mean(dim=(1, 2))

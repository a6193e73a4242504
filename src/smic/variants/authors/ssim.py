"""SSIM_SMIC as the authors compute it (their ``__main__``: window 7, data range 1):

    SSIM_SMIC = mean(A * (1 - SSIM_map))    lower is better; SSIM_map averaged over RGB, 'valid'
with A the two-stage attention zoomed to the SSIM map's grid, as in PSNR_SMIC.

Maps: 1 - SSIM_map (N, 1, h, w) of the prepared pair.
"""

from __future__ import annotations

import torch

from smic.attention import Kind
from smic.metrics.ssim import ssim
from smic.registry import register
from smic.variants.authors.common import AuthorsMetric, Explained
from smic.variants.authors.zoom import zoom_linear


@register(variant="authors")
class SSIMSMIC(AuthorsMetric):
    name = "ssim"
    lower_better = True
    score_range = (0.0, 2.0)

    def __init__(self, attention: Kind = "smic", win_size: int = 7) -> None:
        super().__init__(attention)
        self.win_size = win_size

    def compute(self, ref: torch.Tensor, dist: torch.Tensor) -> Explained:
        _, (ssim_map,) = ssim(ref, dist, "rgb", win_size=self.win_size, return_maps=True)
        distortion = 1 - ssim_map[:, 0]
        attention = self.attention(self.net(ref, 4), self.net(dist, 4))
        weights = attention.combined((distortion.shape[-2], distortion.shape[-1]), zoom_linear)
        return Explained((weights * distortion.double()).mean(dim=(1, 2)), [distortion[:, None]], attention)

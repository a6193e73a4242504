"""PSNR: 10 log10(data_range^2 / MSE), the MSE over every RGB value of the image."""

from __future__ import annotations

import torch

from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool
from smic.registry import register


def psnr(
    ref: torch.Tensor,
    dist: torch.Tensor,
    data_range: float = 1.0,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """PSNR = 10 log10(data_range^2 / MSE) per image, the MSE in float64 over all RGB values.

    Identical images give +inf. With ``pool`` the MSE is its attention-weighted mean. The local
    map is the squared error averaged over channels, (N, 1, H, W) at full resolution; its spatial
    mean is the MSE.
    """
    error_map = (ref.double() - dist.double()).pow(2).mean(dim=1, keepdim=True)
    mse = pool.mean(0, error_map)[:, 0]
    score = (10.0 * torch.log10(data_range**2 / mse)).to(ref.dtype)
    return (score, [error_map.to(ref.dtype)]) if return_maps else score


@register
class PSNR(Metric):
    """Peak signal-to-noise ratio in dB (data range 1 for images in [0, 1])."""

    name = "psnr"
    lower_better = False
    score_range = (0.0, float("inf"))

    def __init__(self, data_range: float = 1.0) -> None:
        super().__init__()
        self.data_range = data_range

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return psnr(ref, dist, self.data_range, return_maps, pool)

"""MS-SSIM (Wang, Simoncelli and Bovik 2003): SSIM's contrast-structure term at five scales

    MS-SSIM(x, y) = [l_M(x, y)]^a_M * prod_{j=1..M} [cs_j(x, y)]^b_j,
    cs_j = mean over scale j of (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2),
    l_M cs_M = mean SSIM at the coarsest scale M = 5,

with the published exponents b = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) (a_M = b_M), SSIM's
Gaussian window (11 taps, sigma 1.5), K = (0.01, 0.03), 'valid' filtering, and a 2x2 average
downsampling between scales.

Two conventions:
- ``"matlab"`` (default): the official ``msssim.m`` on MATLAB's ``rgb2gray`` rounded to uint8
  (L = 255), no initial downsampling, in float64. Its downsampling is ``imfilter(im, ones(2)/4,
  'symmetric', 'same')`` and then every other sample from the first: the mean of each 2x2 block,
  an odd last row or column averaged with itself (ceil(H/2) x ceil(W/2)).
- ``"rgb"``: pytorch-msssim's ``ms_ssim`` (1.0.0, reproduced to float precision) on each RGB channel
  in [0, 1] (L = 1): its downsampling is ``avg_pool2d(kernel 2, padding H % 2, W % 2)`` (zero
  padding counted in the mean), the five-scale product is taken per channel and then averaged over the channels.

Two ways to combine the scales, msssim.m's ``method`` argument:
- ``"product"`` (default): the formula above, as published and as every toolbox computes it.
- ``"wtd_sum"``: msssim.m's alternative, the weighted sum with the weights normalised to sum 1,
  sum_{j<M} w_j cs_j + w_M SSIM_M. The official TID2013 values of the calibration set (pyiqa's run
  of msssim.m on rgb2gray input) are this form: ``convention="matlab", method="wtd_sum"`` gives all
  five (0.6733, 0.9996, 0.9998, 0.9566, 0.8462) to the four printed digits, while the product gives
  0.6700 and 0.8418 for I03 and I19.

Negative means: a negative mean cs (or mean SSIM at scale 5) raised to a fractional power is
complex in MATLAB and NaN in torch; the product clamps those means at 0 first, as
pytorch-msssim does (``relu``), so such a pair scores 0. The five TID2013 pairs have none.

Sizes: MS-SSIM needs the 11-tap window to fit the fifth scale, at 1/16 of the image. ``msssim.m``
rejects images with min(H, W) / 16 < 11, i.e. it needs >= 176 px per side; pytorch-msssim asserts
min(H, W) > (11 - 1) * 16, i.e. >= 161 px. ``MSSSIM.min_size`` follows the convention.

Local maps (one per scale, (N, 1, h_j, w_j)): the cs maps of scales 1-4 and the SSIM map of scale 5
(averaged over the RGB channels for ``"rgb"``). Scale j's grid is the 'valid' part of the image
downsampled j - 1 times: h_1 = H - 10, h_j = d^(j-1)(H) - 10 with d(H) = ceil(H / 2) ("matlab")
or floor(H / 2) + 1 for odd H ("rgb"); for 384x512 images: 374x502, 182x246, 86x118, 38x54, 14x22.
With ``pool`` (the paper variant) each scale's mean is the attention-weighted mean
``pool.mean(0, map)`` (the combined attention resized to that scale's grid); constant attention
gives the plain score.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from smic.metrics.base import Metric, ScoreAndMaps
from smic.metrics.grey import matlab_rgb2gray, rounding_note
from smic.metrics.ssim import (
    Convention,
    check_options,
    gaussian_window,
    local_statistics,
    ssim_map,
)
from smic.pooling import PLAIN, Pool
from smic.registry import register

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
LEVELS = len(WEIGHTS)
Method = Literal["product", "wtd_sum"]


def cs_map(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float, k: tuple[float, float]
) -> torch.Tensor:
    """Per-channel contrast-structure map (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2), 'valid' size."""
    c2 = (k[1] * data_range) ** 2
    _, _, var_x, var_y, cov = local_statistics(x, y, window)
    return (2 * cov + c2) / (var_x + var_y + c2)


def downsample(x: torch.Tensor, convention: Convention) -> torch.Tensor:
    """The 2x2 average downsampling between scales (see the module docstring)."""
    h, w = x.shape[-2:]
    if convention == "matlab":  # imfilter(ones(2)/4, 'symmetric', 'same') then (1:2:end, 1:2:end)
        return F.avg_pool2d(F.pad(x, (0, w % 2, 0, h % 2), mode="replicate"), 2)
    return F.avg_pool2d(x, 2, padding=(h % 2, w % 2))  # pytorch-msssim


def check_method(method: str) -> None:
    """ValueError unless ``method`` is one of msssim.m's two ways to combine the scales."""
    if method not in ("product", "wtd_sum"):
        raise ValueError(f"method must be 'product' or 'wtd_sum', got {method!r}")


def min_size_for(convention: Convention, win_size: int = 11, levels: int = LEVELS) -> int:
    """The smallest side each convention's official code accepts."""
    if convention == "matlab":
        return win_size * 2 ** (levels - 1)
    return (win_size - 1) * 2 ** (levels - 1) + 1


def multiscale(
    x: torch.Tensor,
    y: torch.Tensor,
    window: torch.Tensor,
    data_range: float,
    k: tuple[float, float],
    weights: tuple[float, ...] = WEIGHTS,
    downsampling: Convention = "matlab",
    pool: Pool = PLAIN,
    method: Method = "product",
) -> ScoreAndMaps:
    """MS-SSIM of images already in the working colour space (N, C, H, W): the per-channel
    five-scale product (or weighted sum) averaged over the channels, and the per-scale maps averaged over the
    channels (cs at scales 1..M-1, SSIM at scale M)."""
    means, maps = [], []
    for level in range(len(weights)):
        if level < len(weights) - 1:
            local = cs_map(x, y, window, data_range, k)
            x, y = downsample(x, downsampling), downsample(y, downsampling)
        else:
            local = ssim_map(x, y, window, data_range, k)
        means.append(pool.mean(0, local))  # (N, C)
        maps.append(local.mean(dim=1, keepdim=True))
    stacked = torch.stack(means)  # (levels, N, C)
    w = torch.tensor(weights, dtype=stacked.dtype, device=stacked.device).view(-1, 1, 1)
    if method == "wtd_sum":
        return (stacked * (w / w.sum())).sum(dim=0).mean(dim=1), maps
    return torch.prod(stacked.clamp(min=0) ** w, dim=0).mean(dim=1), maps  # negative means count as 0


def ms_ssim(
    ref: torch.Tensor,
    dist: torch.Tensor,
    convention: Convention = "matlab",
    win_size: int = 11,
    sigma: float = 1.5,
    k: tuple[float, float] = (0.01, 0.03),
    weights: tuple[float, ...] = WEIGHTS,
    return_maps: bool = False,
    pool: Pool = PLAIN,
    method: Method = "product",
) -> torch.Tensor | ScoreAndMaps:
    """MS-SSIM per image (higher is better, 1 for identical images); with ``pool`` each scale's
    spatial mean is attention-weighted. Images must have min(H, W) >= ``min_size_for(convention)``."""
    if convention == "rgb":
        x, y, data_range = ref, dist, 1.0
        window = gaussian_window(win_size, sigma, ref.dtype)
    elif convention == "matlab":
        x, y, data_range = matlab_rgb2gray(ref), matlab_rgb2gray(dist), 255.0
        window = gaussian_window(win_size, sigma)
    else:
        raise ValueError(f"convention must be 'rgb' or 'matlab', got {convention!r}")
    check_method(method)
    if min(x.shape[-2:]) < min_size_for(convention, win_size, len(weights)):
        raise ValueError(
            f"MS-SSIM at {len(weights)} scales needs images of at least "
            f"{min_size_for(convention, win_size, len(weights))} px per side, got {x.shape[-2]}x{x.shape[-1]}"
        )
    score, maps = multiscale(x, y, window, data_range, k, weights, convention, pool, method)
    score, maps = score.to(ref.dtype), [m.to(ref.dtype) for m in maps]
    return (score, maps) if return_maps else score


@register
class MSSSIM(Metric):
    """Multi-scale structural similarity; ``convention="matlab"`` is the official msssim.m."""

    name = "ms_ssim"
    lower_better = False
    score_range = (0.0, 1.0)
    map_stages = (0,) * LEVELS

    def __init__(
        self,
        convention: Convention = "matlab",
        win_size: int = 11,
        sigma: float = 1.5,
        k: tuple[float, float] = (0.01, 0.03),
        method: Method = "product",
    ) -> None:
        super().__init__()
        check_options(convention, win_size)
        check_method(method)
        self.convention, self.win_size, self.sigma, self.k, self.method = convention, win_size, sigma, k, method
        self.min_size = min_size_for(convention, win_size)

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        if self.convention != "matlab":
            return None
        matlab = "convention='matlab' (the default, msssim.m)"
        return rounding_note("ms_ssim", matlab, "convention='rgb' for a differentiable MS-SSIM")

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return ms_ssim(
            ref, dist, self.convention, self.win_size, self.sigma, self.k, WEIGHTS, return_maps, pool, self.method
        )

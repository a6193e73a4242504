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
  an odd last row or column averaged with itself (ceil(H/2) x ceil(W/2)). Against the official
  TID2013 values (pyiqa's run of msssim.m on rgb2gray input) it matches I04, I06 and I08 to the
  four printed digits; I03 and I19 come out 0.6700 and 0.8418 against 0.6733 and 0.8462 (pyiqa's
  own port gives 0.6698 and 0.8418 too). The same pipeline on the Y channel of YCbCr reproduces
  pyiqa's earlier MATLAB run of msssim.m (0.6981, 0.9998, 0.9999, 0.9570, 0.8547) to every digit,
  so the gap lies in how that rgb2gray run prepared its input, which no tried variant explains
  (unrounded grey, uint8 rounding after each downsampling, imresize, 'same' filtering).
- ``"rgb"``: pytorch-msssim's ``ms_ssim`` (1.0.0, reproduced to float precision) on each RGB channel in [0, 1] (L = 1): its downsampling
  is ``avg_pool2d(kernel 2, padding H % 2, W % 2)`` (zero padding counted in the mean), the
  five-scale product is taken per channel and then averaged over the channels.

Negative means: a negative mean cs (or mean SSIM at scale 5) raised to a fractional power is
complex in MATLAB and NaN in torch; both conventions clamp those means at 0 first, as
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

import torch
import torch.nn.functional as F

from smic.attention import AttentionPool, spatial_mean
from smic.metrics.base import Metric, ScoreAndMaps
from smic.metrics.ssim import (
    Convention,
    _filter_valid,
    check_options,
    gaussian_window,
    matlab_rgb2gray,
    ssim_map,
)
from smic.registry import register

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
LEVELS = len(WEIGHTS)


def cs_map(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float, k: tuple[float, float]) -> torch.Tensor:
    """Per-channel contrast-structure map (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2), 'valid' size."""
    c2 = (k[1] * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov = _filter_valid(x * y, window) - mu_x * mu_y
    return (2 * cov + c2) / (var_x + var_y + c2)


def downsample(x: torch.Tensor, convention: Convention) -> torch.Tensor:
    """The 2x2 average downsampling between scales (see the module docstring)."""
    h, w = x.shape[-2:]
    if convention == "matlab":  # imfilter(ones(2)/4, 'symmetric', 'same') then (1:2:end, 1:2:end)
        return F.avg_pool2d(F.pad(x, (0, w % 2, 0, h % 2), mode="replicate"), 2)
    return F.avg_pool2d(x, 2, padding=(h % 2, w % 2))  # pytorch-msssim


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
    pool: AttentionPool | None = None,
) -> ScoreAndMaps:
    """MS-SSIM of images already in the working colour space (N, C, H, W): the per-channel
    five-scale product averaged over the channels, and the per-scale maps averaged over the
    channels (cs at scales 1..M-1, SSIM at scale M)."""
    means, maps = [], []
    for level in range(len(weights)):
        if level < len(weights) - 1:
            local = cs_map(x, y, window, data_range, k)
            x, y = downsample(x, downsampling), downsample(y, downsampling)
        else:
            local = ssim_map(x, y, window, data_range, k)
        means.append(pool.mean(0, local) if pool else spatial_mean(local))  # (N, C)
        maps.append(local.mean(dim=1, keepdim=True))
    stacked = torch.stack(means).clamp(min=0)  # (levels, N, C): negative means count as 0
    exponents = torch.tensor(weights, dtype=stacked.dtype, device=stacked.device).view(-1, 1, 1)
    return torch.prod(stacked**exponents, dim=0).mean(dim=1), maps


def ms_ssim(
    ref: torch.Tensor,
    dist: torch.Tensor,
    convention: Convention = "matlab",
    win_size: int = 11,
    sigma: float = 1.5,
    k: tuple[float, float] = (0.01, 0.03),
    weights: tuple[float, ...] = WEIGHTS,
    return_maps: bool = False,
    pool: AttentionPool | None = None,
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
    if min(x.shape[-2:]) < min_size_for(convention, win_size, len(weights)):
        raise ValueError(
            f"MS-SSIM at {len(weights)} scales needs images of at least "
            f"{min_size_for(convention, win_size, len(weights))} px per side, got {x.shape[-2]}x{x.shape[-1]}"
        )
    score, maps = multiscale(x, y, window, data_range, k, weights, convention, pool)
    score, maps = score.to(ref.dtype), [m.to(ref.dtype) for m in maps]
    return (score, maps) if return_maps else score


@register
class MSSSIM(Metric):
    """Multi-scale structural similarity; ``convention="matlab"`` is the official msssim.m."""

    name = "ms_ssim"
    lower_better = False
    score_range = (0.0, 1.0)
    map_stages = (0,) * LEVELS

    def __init__(self, convention: Convention = "matlab", win_size: int = 11, sigma: float = 1.5,
                 k: tuple[float, float] = (0.01, 0.03)) -> None:
        super().__init__()
        check_options(convention, win_size)
        self.convention, self.win_size, self.sigma, self.k = convention, win_size, sigma, k
        self.min_size = min_size_for(convention, win_size)

    def score(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False,
              pool: AttentionPool | None = None) -> torch.Tensor | ScoreAndMaps:
        return ms_ssim(ref, dist, self.convention, self.win_size, self.sigma, self.k, WEIGHTS, return_maps, pool)

"""SSIM (Wang et al. 2004): the mean of the local map

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),
    C1 = (K1 L)^2, C2 = (K2 L)^2,

with Gaussian-weighted local statistics (window 11, sigma 1.5) and 'valid' filtering.

Two conventions:
- ``"rgb"`` (default): each RGB channel in [0, 1] (L = 1), the map averaged over channels, no
  downsampling: the pytorch-msssim package's ``ssim``, from which the SMIC authors' SSIM derives.
- ``"matlab"``: the original ``ssim_index.m`` on MATLAB's ``rgb2gray`` rounded to uint8 (L = 255),
  no downsampling; this reproduces the official values published for TID2013.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from smic.metrics.base import Metric, ScoreAndMaps
from smic.metrics.grey import matlab_rgb2gray, rounding_note
from smic.pooling import PLAIN, Pool
from smic.registry import register

Convention = Literal["rgb", "matlab"]


def gaussian_window(size: int, sigma: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred on the middle tap, computed in ``dtype``
    (pytorch-msssim computes it in float32, and so do we for float32 images)."""
    coords = torch.arange(size, dtype=dtype) - size // 2
    window = torch.exp(-(coords**2) / (2 * sigma**2))
    return window / window.sum()


def _filter_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of every channel of x (N, C, H, W)."""
    channels = x.shape[1]
    kernel = window.to(x)
    x = F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)  # rows first,
    return F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)  # as pytorch-msssim


def local_statistics(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gaussian-weighted local mu_x, mu_y, sigma_x^2, sigma_y^2, sigma_xy, 'valid' size."""
    # the five filtered maps in one depthwise pass (each channel on its own: the same numbers)
    filtered = _filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), window)
    mu_x, mu_y, xx, yy, xy = filtered.split(x.shape[1], dim=1)
    return mu_x, mu_y, xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y


def ssim_map(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float, k: tuple[float, float]
) -> torch.Tensor:
    """Per-channel local SSIM map, 'valid' size (N, C, H - w + 1, W - w + 1)."""
    c1, c2 = (k[0] * data_range) ** 2, (k[1] * data_range) ** 2
    mu_x, mu_y, var_x, var_y, cov = local_statistics(x, y, window)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * ((2 * cov + c2) / (var_x + var_y + c2))


def check_options(convention: str, win_size: int) -> None:
    """ValueError unless ``convention`` is 'rgb' or 'matlab' and ``win_size`` a positive odd number."""
    if convention not in ("rgb", "matlab"):
        raise ValueError(f"convention must be 'rgb' or 'matlab', got {convention!r}")
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd number, got {win_size}")


def ssim(
    ref: torch.Tensor,
    dist: torch.Tensor,
    convention: Convention = "rgb",
    win_size: int = 11,
    sigma: float = 1.5,
    k: tuple[float, float] = (0.01, 0.03),
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """Mean SSIM per image (higher is better, 1 for identical images); with ``pool`` the
    attention-weighted mean.

    The local map (N, 1, H - win_size + 1, W - win_size + 1) is the SSIM map averaged over the
    RGB channels (``"rgb"``) or of the grey image (``"matlab"``); its spatial mean is the score.
    """
    if convention == "rgb":
        window = gaussian_window(win_size, sigma, ref.dtype)
        local = ssim_map(ref, dist, window, 1.0, k).mean(dim=1, keepdim=True)
    elif convention == "matlab":
        window = gaussian_window(win_size, sigma)
        local = ssim_map(matlab_rgb2gray(ref), matlab_rgb2gray(dist), window, 255.0, k).to(ref.dtype)
    else:
        raise ValueError(f"convention must be 'rgb' or 'matlab', got {convention!r}")
    score = pool.mean(0, local)[:, 0]
    return (score, [local]) if return_maps else score


@register
class SSIM(Metric):
    """Structural similarity; ``convention="matlab"`` reproduces the official MATLAB values."""

    name = "ssim"
    lower_better = False
    score_range = (-1.0, 1.0)

    def __init__(
        self,
        convention: Convention = "rgb",
        win_size: int = 11,
        sigma: float = 1.5,
        k: tuple[float, float] = (0.01, 0.03),
    ) -> None:
        super().__init__()
        check_options(convention, win_size)
        self.convention, self.win_size, self.sigma, self.k = convention, win_size, sigma, k
        self.min_size = win_size

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        if self.convention != "matlab":
            return None
        return rounding_note("ssim", "convention='matlab'", "convention='rgb' (the default) for a differentiable SSIM")

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return ssim(ref, dist, self.convention, self.win_size, self.sigma, self.k, return_maps, pool)

"""MATLAB's grey conversion, which the official MATLAB code of SSIM, MS-SSIM, VIF, NLPD and MAD
apply to colour input before anything else."""

from __future__ import annotations

import torch

# MATLAB's rgb2gray weights (the rounded inverse of its YIQ matrix's first row)
RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def matlab_rgb2gray(image: torch.Tensor) -> torch.Tensor:
    """MATLAB's ``rgb2gray`` on 8-bit data: (N, 3, H, W) in [0, 1] -> (N, 1, H, W) grey levels 0..255."""
    levels = torch.round(image.double() * 255)
    weights = torch.tensor(RGB2GRAY, dtype=torch.float64, device=image.device).view(1, 3, 1, 1)
    # MATLAB rounds half away from zero; the values are non-negative, so floor(v + 0.5) does that
    return torch.floor((levels * weights).sum(dim=1, keepdim=True) + 0.5)


def to_grey(image: torch.Tensor, metric: str, scale: float = 255.0) -> torch.Tensor:
    """The grey input of a MATLAB metric in float64: ``rgb2gray`` levels of (N, 3, H, W) in [0, 1],
    divided by 255 / ``scale`` (``scale=1``: grey in [0, 1]); a (N, 1, H, W) image is taken as grey
    on that scale already."""
    if image.shape[1] == 1:
        return image.double()
    if image.shape[1] == 3:
        levels = matlab_rgb2gray(image)
        return levels if scale == 255.0 else levels / (255.0 / scale)
    raise ValueError(f"{metric} needs 1 (grey) or 3 (RGB) channels, got {image.shape[1]}")


def rounding_note(metric: str, matlab: str, instead: str) -> str:
    """Why a metric under MATLAB's convention ``matlab`` has no gradient, and ``instead``: what to use."""
    return f"{metric}: {matlab} rounds to 8 bits (MATLAB's rgb2gray on uint8), so it has no gradient; use {instead}"

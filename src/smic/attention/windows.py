"""Square windows of feature maps, in one copy: the samples of each MIC, and the patches the
authors' metrics pool."""

from __future__ import annotations

import torch


def windows(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w, size*size): the values of each patch, row-major, in one copy
    (F.unfold's order; unfolding the two spatial dims as views leaves only the final copy)."""
    return x.unfold(2, size, stride).unfold(3, size, stride).flatten(-2)


def patches(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, L, C, size*size): the values of each patch, patches row-major."""
    return windows(x, size, stride).flatten(2, 3).transpose(1, 2)

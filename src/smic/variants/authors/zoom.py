"""The authors' resize of attention maps: ``scipy.ndimage.zoom(map, size / shape, order=1)``,
quirk included (an output row or column whose coordinate lands a rounding error past the input's
last sample is zeroed, mode 'constant')."""

from __future__ import annotations

import torch


def _zoom_matrix(length: int, out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(out, length) weights of scipy's order-1 zoom along one axis, in its own float64 arithmetic:
    output k samples the input at k * (length - 1) / (out - 1); a sample that rounding puts past
    the last input (k * f > length - 1) is outside, and mode 'constant' makes it 0."""
    factor = (length - 1) / (out - 1) if out > 1 else 1.0
    coords = torch.arange(out, dtype=torch.float64) * factor
    start = coords.floor().clamp(max=length - 1)
    frac = coords - start
    weights = torch.zeros(out, length + 1, dtype=torch.float64)
    rows = torch.arange(out)
    weights[rows, start.long()] = 1 - frac
    weights[rows, start.long() + 1] += frac
    weights[coords > length - 1] = 0
    return weights[:, :length].to(device, dtype)


def zoom_linear(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``scipy.ndimage.zoom(map, size / shape, order=1)`` for a batch (N, h, w): the authors' resize.

    Unlike ``resize_linear`` it keeps scipy's quirk of zeroing an output row or column whose
    coordinate lands a rounding error past the input's last sample.
    """
    out_h, out_w = size
    rows = _zoom_matrix(maps.shape[-2], _zoom_length(maps.shape[-2], out_h), maps.dtype, maps.device)
    cols = _zoom_matrix(maps.shape[-1], _zoom_length(maps.shape[-1], out_w), maps.dtype, maps.device)
    return rows @ maps @ cols.T


def _zoom_length(length: int, target: int) -> int:
    """scipy's output length for the zoom factor target / length: round(length * factor)."""
    return round(length * (target / length))

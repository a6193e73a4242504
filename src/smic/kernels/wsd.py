"""DeepWSD's per-column distance: the engine choice, and the torch form it falls back to.

The compiled pass (smic.kernels.wsd_cpu on the CPU, smic.kernels.wsd_cuda on CUDA) runs wherever it
can; the torch form runs where a gradient is needed, on other devices, and on CUDA without
numba-cuda (or from a failed launch on). This is the only place that chooses.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from smic.kernels import cuda_launch

__all__ = ["column_distances", "wasserstein_1d"]

TORCH_FALLBACK = "DeepWSD's column distances on the GPU use slower torch operations"


def wasserstein_1d(
    u_values: torch.Tensor,
    v_values: torch.Tensor,
    u_weights: torch.Tensor,
    v_weights: torch.Tensor,
    p: int = 1,
    require_sort: bool = True,
) -> torch.Tensor:
    """1-D optimal transport cost between weighted samples along the last dimension, batched.

    Same result as POT's ``ot.wasserstein_1d`` (which works along the first dimension): the
    integral over q of |F_u^-1(q) - F_v^-1(q)|^p, the quantile functions built from the
    cumulative weights *as given* (not normalised; a quantile beyond a distribution's total
    weight maps to its last sample). For probability weights this is W_p^p (no p-th root).
    All leading dimensions are batch dimensions; values may be broadcast views.
    """
    if require_sort:
        u_order = u_values.argsort(dim=-1)
        v_order = v_values.argsort(dim=-1)
        u_values, u_weights = u_values.gather(-1, u_order), u_weights.gather(-1, u_order)
        v_values, v_weights = v_values.gather(-1, v_order), v_weights.gather(-1, v_order)
    u_cumulative = u_weights.cumsum(dim=-1)
    v_cumulative = v_weights.cumsum(dim=-1)
    levels = torch.cat([u_cumulative, v_cumulative], dim=-1).sort(dim=-1).values
    u_index = torch.searchsorted(u_cumulative.contiguous(), levels).clamp_(max=u_values.shape[-1] - 1)
    v_index = torch.searchsorted(v_cumulative.contiguous(), levels).clamp_(max=v_values.shape[-1] - 1)
    u_quantiles = u_values.expand(*levels.shape[:-1], u_values.shape[-1]).gather(-1, u_index)
    v_quantiles = v_values.expand(*levels.shape[:-1], v_values.shape[-1]).gather(-1, v_index)
    steps = torch.diff(levels, dim=-1, prepend=torch.zeros_like(levels[..., :1]))
    return (steps * (u_quantiles - v_quantiles).abs().pow(p)).sum(dim=-1)


def column_distances(x: Tensor, y: Tensor, x_total: Tensor, y_total: Tensor) -> Tensor:
    """DeepWSD's distance of every column of x, y (..., w^2, cols): W + L2 / (sqrt(exp(-1/(W+10)))
    (W+10)^2) with the weights p = x^2 / (x_total + 1e-6) on the positions 0 .. w^2 - 1; the
    totals broadcast to (...). Returns (..., cols) in x's dtype.

    The compiled kernel (sums in float64): smic.kernels.wsd_cpu on the CPU and, with numba-cuda,
    smic.kernels.wsd_cuda on CUDA; the same formula in torch operations (sums in x's dtype) where
    a gradient is needed and on other devices (with a warning on CUDA, once)."""
    lead, (samples, cols) = x.shape[:-2], x.shape[-2:]
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (x, y, x_total, y_total))
    if not needs_grad and x.device.type in ("cpu", "cuda"):
        from smic.kernels import wsd_cpu  # numba loads only when DeepWSD runs

        totals = [t.expand(lead).reshape(-1) for t in (x_total, y_total)]
        work = [v.reshape(math.prod(lead), samples, cols) for v in (x, y)]
        if work[0].dtype not in (torch.float32, torch.float64):
            work = [v.float() for v in work]
        if x.device.type == "cpu":
            distances: Tensor | None = wsd_cpu.distances(*work, *totals)
        else:
            distances = cuda_launch.attempt(
                wsd_cpu.CUDA_KERNEL, TORCH_FALLBACK, lambda: _cuda_distances(*work, *totals)
            )
        if distances is not None:
            return distances.to(x.dtype).reshape(*lead, cols)
    return _torch_column_distances(
        x.transpose(-1, -2), y.transpose(-1, -2), x_total[..., None, None], y_total[..., None, None]
    ).to(x.dtype)


def _cuda_distances(x: Tensor, y: Tensor, x_total: Tensor, y_total: Tensor) -> Tensor:
    """smic.kernels.wsd_cuda.distances, imported on first use (numba's CUDA target takes a second)."""
    from smic.kernels import wsd_cuda

    return wsd_cuda.distances(x, y, x_total, y_total)


def _torch_column_distances(x: Tensor, y: Tensor, x_total: Tensor, y_total: Tensor) -> Tensor:
    """column_distances in torch operations on columns along the last dimension (..., cols, w^2)."""
    positions = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)
    wsd = wasserstein_1d(
        positions, positions, x * (x / (x_total + 1e-6)), y * (y / (y_total + 1e-6)), p=2, require_sort=False
    )
    l2 = ((x - y) ** 2).sum(dim=-1)
    shifted = wsd + 10
    return wsd + l2 * (1 / (torch.sqrt(torch.exp(-1 / shifted)) * shifted**2))

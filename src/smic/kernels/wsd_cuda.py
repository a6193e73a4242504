"""DeepWSD's column distances on CUDA: smic.kernels.wsd_cpu's column pass, one GPU thread per column.

Consecutive threads take consecutive columns, so each of their reads is one coalesced load.
The pass keeps everything in registers (42 for sm_90, no local memory). Needs numba-cuda, as
smic.kernels.mic_cuda does; smic.kernels.wsd falls back to torch operations without it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from smic.kernels.cuda_launch import launch, numba_cuda
from smic.kernels.wsd_cpu import CUDA_KERNEL, column_distance, weight_scales

cuda = numba_cuda()

__all__ = ["distances", "kernel"]

THREADS_PER_BLOCK = 256


@cuda.jit
def kernel(x: Any, y: Any, x_scale: Any, y_scale: Any, out: Any) -> None:
    """out[b, j] = column_distance of column j of block b (x, y: (B, m, cols); out: (B, cols))."""
    i = cuda.grid(1)
    cols = out.shape[1]
    if i < out.shape[0] * cols:
        b = i // cols
        j = i - b * cols
        out[b, j] = column_distance(x, y, b, j, x_scale[b], y_scale[b])


def distances(x: Tensor, y: Tensor, x_total: Tensor, y_total: Tensor) -> Tensor:
    """smic.kernels.wsd_cpu.distances for CUDA tensors: (B, cols) float64 on their device, one
    launch on torch's current stream. Raises smic.kernels.cuda_launch.KernelUnavailable where the
    kernel cannot run."""
    x, y = x.contiguous(), y.contiguous()
    x_scale, y_scale = weight_scales(x_total, y_total)
    out = torch.empty(x.shape[0], x.shape[2], dtype=torch.float64, device=x.device)
    launch(
        CUDA_KERNEL,
        kernel,
        out.shape[0] * out.shape[1],
        THREADS_PER_BLOCK,
        x,
        y,
        x_scale,
        y_scale,
        out,
        device=x.device,
    )
    return out

"""DeepWSD's column distances on CUDA: smic.kernels.wsd_cpu's column pass, one GPU thread per column.

Consecutive threads take consecutive columns, so each of their reads is one coalesced load.
The pass keeps everything in registers (42 for sm_90, no local memory). Needs numba-cuda, as
smic.kernels.mic_cuda does; smic.metrics.deepwsd falls back to torch operations without it.
"""

from __future__ import annotations

from typing import Any

import torch

from smic.kernels.cuda_launch import launch, numba_cuda
from smic.kernels.wsd_cpu import CUDA_KERNEL, column_distance

cuda = numba_cuda()

__all__ = ["kernel", "run"]

THREADS_PER_BLOCK = 256


@cuda.jit
def kernel(x, y, x_scale, y_scale, out):  # noqa: ANN001
    """out[b, j] = column_distance of column j of block b (x, y: (B, m, cols); out: (B, cols))."""
    i = cuda.grid(1)
    cols = out.shape[1]
    if i < out.shape[0] * cols:
        b = i // cols
        j = i - b * cols
        out[b, j] = column_distance(x, y, b, j, x_scale[b], y_scale[b])


def run(x: Any, y: Any, x_scale: Any, y_scale: Any, out: Any, device: torch.device | None = None) -> None:
    """Launch the kernel over every column of out; torch tensors on ``device`` (see
    smic.kernels.cuda_launch.launch) or numba arrays. Raises KernelUnavailable."""
    launch(CUDA_KERNEL, kernel, out.shape[0] * out.shape[1], THREADS_PER_BLOCK, x, y, x_scale, y_scale, out,
           device=device)

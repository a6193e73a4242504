"""DeepWSD's column distances, compiled by numba: one pass per column, on the CPU (all cores, blocks
of columns taken in turn: smic.kernels.cpu_run).
``smic.kernels.wsd_cuda`` compiles the same pass (``column_distance``) for CUDA, one thread per
column; ``smic.kernels.wsd`` chooses between them and the torch form.

A column is m = w^2 values x_0 .. x_{m-1} of the reference stage and y_0 .. y_{m-1} of the
distorted one, read down axis 1 of (B, m, cols) arrays (the layout of smic.metrics.deepwsd).
Its distance is W + L2 / (sqrt(exp(-1 / (W + 10))) (W + 10)^2), with L2 = sum_k (x_k - y_k)^2 and
W the 1-D optimal transport cost, ground cost |i - j|^2, between the unnormalised weights
p_k = x_k^2 / (T_x + 1e-6) and q_k = y_k^2 / (T_y + 1e-6) on the positions 0 .. m - 1 (POT's
``wasserstein_1d(..., p=2)``; T is the stage total of the image).

W without a sort: POT sorts the levels P_k, Q_k (the cumulative weights, each already sorted)
and reads both quantile functions at each. Here the two sorted lists are merged with two
pointers; over a step from level l' to l > l' the quantiles are the numbers of P's and of Q's
below l (capped at m - 1), which are the counts merged before l; equal levels add nothing.
That is 2m steps per column, reading each value once, where the torch form sorts, searches and
gathers through a dozen intermediate tensors. Everything is summed in float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from torch import Tensor

from smic.kernels.cpu_run import run_threads, take_next

__all__ = ["CUDA_KERNEL", "column_distance", "distances", "weight_scales"]

# smic.kernels.wsd_cuda's name in smic.kernels.cuda_launch (failures, warnings), known here so that
# smic.kernels.wsd can ask for it without importing numba's CUDA target
CUDA_KERNEL = "DeepWSD"
# Columns per block taken by a thread (smic.kernels.cpu_run): at least BLOCK_COLUMNS (consecutive
# columns share the cache lines they read), at most about BLOCK_VALUES values (blocks balance over
# cores of unequal speed).
BLOCK_COLUMNS = 256
BLOCK_VALUES = 2**17
# The first compile's announcement (seconds measured on two cores of an AMD EPYC), once per input
# dtype used: float32 inputs are not copied into float64 (a stage's features, tens of MB).
COMPILE_SECONDS = 2


@numba.njit(cache=True, nogil=True, inline="always")
def column_distance(x: np.ndarray, y: np.ndarray, b: int, j: int, x_scale: float, y_scale: float) -> float:
    """DeepWSD's distance of column j of block b of x, y (B, m, cols); the weights are
    x_k^2 * x_scale and y_k^2 * y_scale (scale = 1 / (T + 1e-6))."""
    m = x.shape[1]
    l2 = 0.0
    for k in range(m):
        d = float(x[b, k, j]) - float(y[b, k, j])
        l2 += d * d
    last = m - 1
    a = 0  # P's merged so far
    c = 0  # Q's merged so far
    xa, yc = float(x[b, 0, j]), float(y[b, 0, j])
    u = xa * (xa * x_scale)  # P_a
    v = yc * (yc * y_scale)  # Q_c
    level = 0.0
    wsd = 0.0
    for _ in range(2 * m):
        gap = float(min(a, last) - min(c, last))
        from_p = c == m or (a < m and u <= v)  # the next level: P_a, else Q_c
        following = u if from_p else v
        wsd += (following - level) * gap * gap
        level = following
        if from_p:
            a += 1
            if a < m:
                xa = float(x[b, a, j])
                u += xa * (xa * x_scale)
        else:
            c += 1
            if c < m:
                yc = float(y[b, c, j])
                v += yc * (yc * y_scale)
    shifted = wsd + 10.0
    return wsd + l2 / (math.sqrt(math.exp(-1.0 / shifted)) * shifted * shifted)


@numba.njit(cache=True, nogil=True)
def _distances_blocks(
    x: np.ndarray,
    y: np.ndarray,
    x_scale: np.ndarray,
    y_scale: np.ndarray,
    out: np.ndarray,
    per_block: int,
    taken: np.ndarray,
) -> None:
    """One thread's share of distances: blocks of ``per_block`` columns of out (B, cols), counted
    row after row, the next one taken from the counter ``taken`` each time, until none is left."""
    batch, cols = out.shape
    while True:
        first = take_next(taken) * per_block
        if first >= batch * cols:
            return
        for index in range(first, min(batch * cols, first + per_block)):
            b, j = index // cols, index % cols
            out[b, j] = column_distance(x, y, b, j, x_scale[b], y_scale[b])


def weight_scales(x_total: Tensor, y_total: Tensor) -> tuple[Tensor, Tensor]:
    """The factors 1 / (T + 1e-6) of the weights, float64, from the stage totals T of x and y."""
    return 1 / (x_total.double() + 1e-6), 1 / (y_total.double() + 1e-6)


def distances(x: Tensor, y: Tensor, x_total: Tensor, y_total: Tensor) -> Tensor:
    """DeepWSD's distance of every column of the CPU tensors x, y (B, m, cols), float32 or float64,
    with the stage totals (B,) of each block's image: (B, cols) float64."""
    x, y = x.contiguous(), y.contiguous()
    x_scale, y_scale = weight_scales(x_total, y_total)
    out = torch.empty(x.shape[0], x.shape[2], dtype=torch.float64)
    arrays = x.numpy(), y.numpy(), x_scale.numpy(), y_scale.numpy(), out.numpy()
    columns, threads = out.numel(), torch.get_num_threads()
    # at least BLOCK_COLUMNS columns a block, at most about BLOCK_VALUES values, a few blocks a thread
    per_block = max(BLOCK_COLUMNS, min(BLOCK_VALUES // max(x.shape[1], 1), -(-columns // (4 * threads))))
    taken = np.zeros(1, dtype=np.int64)  # blocks taken so far, by all threads
    run_threads(
        min(threads, -(-columns // per_block)),
        lambda: _distances_blocks(*arrays, per_block, taken),
        _distances_blocks,
        "smic's DeepWSD kernel",
        COMPILE_SECONDS,
    )
    return out

"""Batched maximal information coefficient (MIC), equal to minepy 1.2.6's ApproxMaxMI.

``mic(x, y)`` returns what ``minepy.MINE(alpha, c, est="mic_approx")`` gives for every pair of
rows of ``x`` and ``y``, for the whole batch in one call. This module checks the arguments and
chooses the engine; the rules, and why they are exact, are in ``smic.kernels.mic_plan``.

Three engines, one set of rules. On a CPU, ``smic.kernels.mic_cpu`` runs the rules pair by pair in
one compiled pass (numba) whose working set stays in the L1 cache, on torch's number of threads,
each taking the next block of pairs when it is free (compiled once per machine, announced).
On a CUDA GPU, ``smic.kernels.mic_cuda`` compiles the same functions into a kernel with one thread
per pair (it needs numba's CUDA target, ``numba-cuda``). Elsewhere (or without numba-cuda, or for
vectors too long for a thread) the tensor engine, ``smic.kernels.mic_tensor``, runs every pair of
a chunk in lockstep in torch operations.

Precision. The two kernels always sum in float64 (within about 1e-15 of minepy) and return the
requested dtype. The tensor engine computes in that dtype: float64 by default; with
``dtype=torch.float32`` it keeps the same decisions with float32 weights, within 1e-6 of minepy
(at most 2.3e-7 on the 1,800 golden cases, n <= 150).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from smic.kernels.mic_plan import (
    CUDA_KERNEL,
    GridJob,
    KernelPlan,
    check_parameters,
    grid_plan,
    kernel_plan,
)
from smic.kernels.mic_tensor import tensor_mic

__all__ = ["GridJob", "grid_plan", "kernel_plan", "mic"]

CUDA_FALLBACK = "smic.mic: MICs on the GPU use the slower tensor engine"


def mic(
    x: Tensor,
    y: Tensor,
    alpha: float = 0.5,
    c: float = 10,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """MIC of each pair of rows, as minepy 1.2.6 ``MINE(alpha, c, est="mic_approx").mic()``.

    Args:
        x, y: tensors of shape (..., n), n >= 2, real floating dtype, on one device; leading
            dimensions broadcast. Each pair (x[i], y[i]) of length-n vectors gives one MIC.
        alpha: grids have at most B = max(n**alpha, 4) cells when alpha is in (0, 1];
            B = min(alpha, n) when alpha >= 4 (minepy's rule).
        c: at most c * X clumps are kept when looking for X columns (c > 0).
        dtype: result dtype (and the tensor engine's computing dtype, see Precision above):
            torch.float64 (default; within about 1e-15 of minepy) or torch.float32.

    Returns:
        Tensor of shape (...) in the computing dtype, on the inputs' device.

    Raises:
        ValueError: bad shapes, n < 2, alpha or c outside minepy's limits, non-floating inputs,
            an unsupported dtype, or NaN in x or y.
    """
    check_parameters(alpha, c)
    dtype = torch.float64 if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    for name, v in (("x", x), ("y", y)):
        if not isinstance(v, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
        if not v.is_floating_point():
            raise ValueError(f"{name} must have a real floating dtype, got {v.dtype}")
        if v.dim() < 1:
            raise ValueError(f"{name} must have shape (..., n), got a 0-d tensor")
    if x.device != y.device:
        raise ValueError(f"x and y must be on one device, got {x.device} and {y.device}")
    n = x.shape[-1]
    if y.shape[-1] != n:
        raise ValueError(f"x and y must have the same n (last dim), got {n} and {y.shape[-1]}")
    try:
        batch = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except RuntimeError as err:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} do not broadcast") from err
    if n < 2:
        raise ValueError(f"MIC needs n >= 2 samples per vector, got n = {n}")
    for name, v in (("x", x), ("y", y)):
        if _has_nan(v):
            raise ValueError(f"{name} contains NaN")

    x = x.detach().expand(*batch, n).reshape(-1, n)
    y = y.detach().expand(*batch, n).reshape(-1, n)
    if x.dtype != y.dtype:
        common = torch.promote_types(x.dtype, y.dtype)
        x, y = x.to(common), y.to(common)
    jobs = grid_plan(n, float(alpha), float(c))
    if not jobs or x.shape[0] == 0:
        return torch.zeros(batch, dtype=dtype, device=x.device)
    table = kernel_plan(jobs)
    if x.dtype not in (torch.float32, torch.float64):  # half types: float32 holds them exactly
        x, y = x.float(), y.float()
    if x.device.type == "cpu":
        from smic.kernels.mic_cpu import mic_pairs  # numba loads only for a CPU MIC

        values = mic_pairs(x.numpy(), y.numpy(), table, torch.get_num_threads())
        return torch.from_numpy(values).to(dtype).reshape(batch)
    if x.device.type == "cuda":
        from smic.kernels import cuda_launch

        on_gpu = cuda_launch.attempt(CUDA_KERNEL, CUDA_FALLBACK, lambda: _cuda_kernel(x, y, n, table))
        if on_gpu is not None:
            return on_gpu.to(dtype).reshape(batch)
    return tensor_mic(x, y, jobs, dtype).reshape(batch)


def _has_nan(v: Tensor) -> bool:
    """Whether v holds a NaN: a sum first (NaN when v holds a NaN, or both infinities), then the
    full test. float32 and float64 CPU tensors are read by numpy: a torch reduction would wake
    torch's OpenMP threads, which then spin for milliseconds on the cores the MIC kernel uses."""
    if v.device.type == "cpu" and v.dtype in (torch.float32, torch.float64):
        values = v.detach().numpy()
        with np.errstate(invalid="ignore"):  # inf + -inf: a NaN sum, not a warning
            return bool(np.isnan(values.sum())) and bool(np.isnan(values).any())
    return bool(torch.isnan(v.sum())) and bool(torch.isnan(v).any())


def _cuda_kernel(x: Tensor, y: Tensor, n: int, table: KernelPlan) -> Tensor | None:
    """smic.kernels.mic_cuda's MICs, or None where a thread's work arrays do not fit (the tensor
    engine then runs them, without a warning)."""
    from smic.kernels import mic_cuda

    return mic_cuda.mic_pairs(x, y, table) if mic_cuda.fits(n, table) else None

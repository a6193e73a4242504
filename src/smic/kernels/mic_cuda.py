"""The MIC engine's CUDA kernel: the CPU kernel's pass, one GPU thread per pair.

numba compiles the functions of ``smic.kernels.mic_cpu`` for CUDA as well (functions under
``numba.njit`` are callable from CUDA kernels), so the rules are written once. Each thread copies
its pair into local memory and keeps all its work arrays there. Compared with the tensor engine,
which runs every pair in lockstep through sorts, scans and padded intermediate tensors, a thread
does only its own pair's work, and the whole batch is one launch on torch's current stream,
reading the inputs in place through the CUDA array interface.

Local arrays need compile-time shapes, so a kernel is built (on first use, about 10 s) for each
n and grid plan; knowing n, the compiler also unrolls and keeps everything in registers. The
work arrays are int32 here (int64 in the CPU kernel; numba compiles one version per array type),
which halves the local memory; every count is below n. Sums run in float64 as on the CPU, so
both kernels give the same numbers.

Needs numba-cuda (``pip install "smic[cuda13]"`` or ``[cuda12]``, after the CUDA of your torch:
numba-cuda with NVVM). ``smic.mic()`` (``smic.kernels.mic``) warns and uses the tensor engine
(``smic.kernels.mic_tensor``) where it is missing, and from the first launch that fails (a
numba-cuda that cannot build it, too little memory).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numba
import numpy as np
import torch
from numba import float64, int32
from torch import Tensor

from smic.kernels.cuda_launch import device_index, launch, numba_cuda
from smic.kernels.mic_cpu import PER_SAMPLE, pair_mic_core, plan_tables, work_views
from smic.kernels.mic_plan import CUDA_KERNEL, KernelPlan

cuda = numba_cuda()

__all__ = ["block_size", "fits", "kernel_arrays", "mic_pairs", "pair_mic", "run", "work_shapes"]

THREADS_PER_BLOCK = 128
# Register cap per thread (None: the compiler's choice, 221 for n = 49 on sm_90). On an H200 a cap
# of 64 took 1.6x the time for 180,000 pairs (n = 49) and 0.7-0.9x for batches of 4,224 and 50,000
# (n = 16): the large batches of an attention map decide.
MAX_REGISTERS: int | None = None
# Most local memory per thread a kernel is built with: the driver reserves local memory for as
# many threads as the GPU can hold (2,048 per multiprocessor), so 6.6 KiB (n = 49, alpha 0.5) may
# take 1.8 GB on an H200 (bench_mic.py prints it). Longer vectors (n > 189 at alpha 0.5) are
# left to the tensor engine.
LOCAL_BYTES_LIMIT = 32 * 1024


def work_shapes(n: int, jobs: KernelPlan) -> tuple[tuple[int, int], tuple[int, int]]:
    """Shapes of a thread's two work arrays for n and the grid plan: int32 (smic.kernels.mic_cpu's
    work_views) and float64 (the pair, then work_views' rows)."""
    rows, cols = max(j[0] for j in jobs), max(j[1] for j in jobs)
    return (PER_SAMPLE + rows + 2, n + 1), (2 + cols + 2, n + 1)


def fits(n: int, jobs: KernelPlan) -> bool:
    """Whether a kernel is built for this n and grid plan (see LOCAL_BYTES_LIMIT)."""
    ints, floats = work_shapes(n, jobs)
    return 4 * ints[0] * ints[1] + 8 * floats[0] * floats[1] <= LOCAL_BYTES_LIMIT


@numba.njit(cache=True, nogil=True, inline="always")
def pair_mic(i: int, n: int, x: np.ndarray, y: np.ndarray, plan: tuple, ints: np.ndarray, floats: np.ndarray) -> float:
    """MIC of pair i of x, y (pairs, n) with one thread's work arrays (shapes from work_shapes)
    and the read-only ``plan`` from kernel_arrays: what each thread of the kernel runs."""
    for k in range(n):
        floats[0, k] = x[i, k]
        floats[1, k] = y[i, k]
    jobs, untied_rows, untied_q, g, pair_table, log = plan
    return pair_mic_core(
        floats[0, :n], floats[1, :n], jobs, untied_rows, untied_q, (g, pair_table, log), work_views(ints, floats[2:])
    )


@lru_cache(maxsize=32)
def _kernel(n: int, ints: tuple[int, int], floats: tuple[int, int], max_registers: int | None) -> Any:
    """The kernel (a numba CUDA dispatcher) for n samples: n and the local arrays' shapes are
    compile-time constants. Built per n, the code is much better than one built for any n (at
    n = 49 for sm_90: 221 registers and no spills, against 255 registers and 2.5 KB of spills)."""

    @cuda.jit(max_registers=max_registers)
    def kernel(x: Any, y: Any, plan: Any, out: Any) -> None:
        i = cuda.grid(1)
        if i < out.shape[0]:
            out[i] = pair_mic(i, n, x, y, plan, cuda.local.array(ints, int32), cuda.local.array(floats, float64))

    return kernel


def kernel_arrays(n: int, jobs: KernelPlan, to: Callable[[np.ndarray], Any]) -> tuple:
    """The kernel's read-only arguments for this n and grid plan, each passed through ``to``
    (a copy to the GPU): the plan, the untied rows (int32, as the work arrays) and their counts,
    g, the packed two-row table (empty past PACKED_MAX_N: such n do not fit) and the logarithms
    (see smic.kernels.mic_cpu.plan_tables)."""
    (g, pair_table, log), untied_rows, untied_q = plan_tables(n, jobs)
    return tuple(
        to(np.ascontiguousarray(a))
        for a in (np.array(jobs, dtype=np.int64), untied_rows.astype(np.int32), untied_q, g, pair_table, log)
    )


def block_size(pairs: int, processors: int) -> int:
    """Threads per block: THREADS_PER_BLOCK, or fewer (down to one warp) where that many would
    leave multiprocessors idle (4,224 pairs on 132 of them: 33 blocks of 128, or 132 of 32)."""
    warps_per_processor = max(1, pairs // (32 * processors))  # rounded down: blocks >= processors
    return min(THREADS_PER_BLOCK, 32 * warps_per_processor)


def run(
    x: Any, y: Any, jobs: KernelPlan, arrays: tuple, out: Any, threads: int, device: torch.device | None = None
) -> None:
    """Launch the kernel, ``threads`` per block: x, y (pairs, n) float32 or float64, ``arrays``
    from kernel_arrays, out (pairs,) float64; torch tensors on ``device`` (see cuda_launch.launch)."""
    kernel = _kernel(x.shape[1], *work_shapes(x.shape[1], jobs), MAX_REGISTERS)
    launch(CUDA_KERNEL, kernel, out.shape[0], threads, x, y, arrays, out, device=device)


@lru_cache(maxsize=16)
def _device_arrays(n: int, jobs: KernelPlan, device: torch.device) -> tuple:
    return kernel_arrays(n, jobs, lambda a: cuda.as_cuda_array(torch.from_numpy(a).to(device)))


def mic_pairs(x: Tensor, y: Tensor, jobs: KernelPlan) -> Tensor:
    """MIC of each row pair of the CUDA tensors x, y (pairs, n), float32 or float64, for the grid
    families ``jobs``; float64 result on their device. Raises KernelUnavailable."""
    x, y = x.contiguous(), y.contiguous()
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    index = device_index(x.device)
    with cuda.gpus[index]:
        arrays = _device_arrays(x.shape[1], jobs, torch.device("cuda", index))
    threads = block_size(x.shape[0], torch.cuda.get_device_properties(index).multi_processor_count)
    run(x, y, jobs, arrays, out, threads, device=x.device)
    return out

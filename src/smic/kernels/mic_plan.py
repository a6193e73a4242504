"""The MIC rules every engine follows, and the grid families they explore (minepy 1.2.6's ApproxMaxMI).

Reshef et al. (Science 2011, supplement SOM, Algorithms 2-5) as minepy's ``libmine/mine.c``
implements them; the engines (smic.kernels.mic_cpu, mic_cuda, mic_tensor) are written from
scratch from these rules:

* B = max(n^alpha, 4) for alpha in (0, 1], B = min(alpha, n) for alpha >= 4. For each number of
  rows Y = 2 .. max(floor(B/2), 2) the columns go up to X = floor(B/Y) (so X*Y <= B).
* One axis is equipartitioned into Y rows (EquipartitionYAxis): sorted samples are taken tie group
  by tie group, and a row is closed before a group when adding the group would move the row's
  size further from its target (n - i)/(Y - k) than it is; q <= Y rows result.
* Along the other axis the sorted samples form clumps: maximal runs in one row, a tie group whose
  samples lie in several rows being a clump of its own (GetClumpsPartition). With more than
  k_hat = max(int(c*X), 1) clumps, the clumps are equipartitioned into k_hat superclumps by the
  same rule (GetSuperclumpsPartition).
* OptimizeXAxis: a dynamic programme over the superclump boundaries finds, for each number of
  columns l <= X, the columns that maximise the mutual information I; the score is
  I / log(min(l, q)). Both orientations are done, and MIC is the largest score (0 when one of the
  vectors is constant: minepy's scores are then 0 or NaN, and NaN never wins its maximum).

Exactness. Every decision (rows, clumps, superclumps) is taken in integer arithmetic and is the
one minepy takes: its test |h + s - r| >= |h - r| with r = m/d is, exactly, (2h + s) d >= 2m. The
dynamic programme works on W_l(t) = c_t (I[t][l] - H(Q)), for which minepy's recursion reads
W_l(t) = max_s W_{l-1}(s) + E(s, t), E(s, t) = sum_rows g(row count) - g(count) over the points
between boundaries s and t, g(k) = k log k (minepy's HP2Q term is -E(s, t) / (c_t - c_s)). The
results differ from minepy's only by rounding: about 1e-15 in float64.

This module holds what the engines share: the checks of alpha and c, the grid families (the
first rule) and the CUDA kernel's name, known here so that the engine choice can ask for it
without importing numba's CUDA target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CUDA_KERNEL", "GridJob", "KernelPlan", "check_parameters", "grid_plan", "kernel_plan"]

CUDA_KERNEL = "MIC"  # smic.kernels.mic_cuda's name in smic.kernels.cuda_launch (failures, warnings)

KernelPlan = tuple[tuple[int, int, int], ...]  # (rows, max_cols, k_hat) per grid family


@dataclass(frozen=True)
class GridJob:
    """One family of grids: Y rows, up to X columns, at most k_hat superclumps."""

    rows: int
    max_cols: int
    k_hat: int
    width: int  # candidate column boundaries, 0 and n included: min(k_hat, n) + 1


def kernel_plan(jobs: tuple[GridJob, ...]) -> KernelPlan:
    """The grid families as the compiled kernels take them: (rows, max_cols, k_hat) each."""
    return tuple((job.rows, job.max_cols, job.k_hat) for job in jobs)


def check_parameters(alpha: float, c: float) -> None:
    """Raise ValueError unless alpha and c are within minepy's limits."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or math.isnan(alpha):
        raise ValueError(f"alpha must be a number, got {alpha!r}")
    if not (0.0 < alpha <= 1.0 or alpha >= 4.0):
        # minepy's own rule (mine_check_parameter)
        raise ValueError(f"alpha must be in (0, 1] or >= 4 (as in minepy), got {alpha}")
    if isinstance(c, bool) or not isinstance(c, (int, float)) or math.isnan(c):
        raise ValueError(f"c must be a number, got {c!r}")
    if not c > 0.0 or math.isinf(c):
        raise ValueError(f"c must be a finite number > 0 (as in minepy), got {c}")


@lru_cache(maxsize=64)
def grid_plan(n: int, alpha: float = 0.5, c: float = 10) -> tuple[GridJob, ...]:
    """The grid families minepy explores for n samples (its init_score and mine_compute_score).

    B is a C double, pow(n, alpha) or min(alpha, n), and every rule below uses it as minepy does.
    """
    check_parameters(alpha, c)
    bound = max(math.pow(n, alpha), 4.0) if alpha <= 1.0 else min(float(alpha), float(n))
    jobs = []
    for rows in range(2, max(math.floor(bound / 2.0), 2) + 1):
        max_cols = math.floor(bound / rows)
        if max_cols < 2:  # only when B < 4 (alpha >= 4 and n < 4): minepy has no score there
            continue
        k_hat = max(int(c * max_cols), 1)
        jobs.append(GridJob(rows, max_cols, k_hat, min(k_hat, n) + 1))
    return tuple(jobs)

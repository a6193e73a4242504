"""The MIC engine's CPU kernel: ApproxMaxMI for one pair at a time, compiled by numba.

The tensor engine (``smic.kernels.mic_tensor``) runs every pair of a chunk in lockstep. On a CPU
that engine spends its time streaming intermediate tensors through memory; here each pair is done in
one compiled pass whose working set (a few hundred bytes for n = 49) stays in the L1 cache, and
numba spreads blocks of pairs over the cores (``prange``: compiled and parallel, no Python loop).
The helpers are inlined into one function (numba's ``inline="always"``): called, each would
copy and reference-count its array arguments, which costs more than its work for small n.

The rules are those of ``smic.kernels.mic_plan`` (minepy 1.2.6's ``libmine/mine.c``), in the
same exact integer form:

* equipartition of a sorted axis into ``parts`` rows, tie groups kept together: a row started at
  position ``i0`` with ``d`` rows left is closed before a group of ``s`` samples, after ``h > 0``
  samples, when (2h + s) d >= 2 (n - i0);
* clumps: maximal runs of one row along the sorted column variable, a tie group whose samples lie
  in several rows being a clump of its own; past ``k_hat`` clumps, the clumps are equipartitioned
  into ``k_hat`` superclumps by the same rule;
* the dynamic programme over the p + 1 clump boundaries b_0 = 0 < ... < b_p = n:
  V_1(t) = E(0, t), V_l(t) = max(V_{l-1}(t), max_{s<t} V_{l-1}(s) + E(s, t)), with
  E(s, t) = sum_rows g(row count in [b_s, b_t)) - g(b_t - b_s) and g(k) = k log k; the score of l
  columns is (V_l(p) - E(0, p)) / n / log(min(l, q)).

MIC is the largest score over both orientations and all grids, 0 when a vector is constant.
Every sum runs in float64; results equal minepy's to about 1e-15.

Shortcuts, each exact: without ties the rows of the equipartition depend only on n (computed
once); with q = 2 rows a segment is named by one packed code (points, points in row 0), so
E(s, t) is one lookup of code_t - code_s in a table of (n + 1)^2 weights.

``smic.kernels.mic_cuda`` compiles the same pass (``pair_mic_core``, with ``work_views`` and the
tables of ``plan_tables``) into its CUDA kernel.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from smic.kernels.mic_plan import KernelPlan

# Up to this n, samples are ordered by counting comparisons (n^2 of them, no branches), faster
# than numba's sorts on such short vectors.
RANK_BY_COUNTING = 128
# Beyond it, a merge sort whose first runs of this length are sorted by insertion.
MERGE_RUN = 16
# Largest n for which the packed two-row weight table ((n + 1)^2 float64) is built.
PACKED_MAX_N = 1023
# Arrays of n + 1 integers in a pair's work: orders, ranks, tie groups and group sizes of both
# axes, row groups by column, rows of groups and of samples, clumps, clump sizes, superclumps,
# running counts (the first element of pair_mic_core's work).
PER_SAMPLE = 15
# Pairs per parallel task: large enough that allocating the work buffers does not show, small
# enough that the blocks balance over the cores.
BLOCK_PAIRS = 64


@numba.njit(cache=True, nogil=True, inline="always")
def _merge_order(v: np.ndarray, order: np.ndarray, scratch: np.ndarray) -> None:
    """order = the stable argsort of v, by a bottom-up merge sort (numpy's sorts do not compile
    for CUDA, and this kernel is compiled for both)."""
    n = v.shape[0]
    for lo in range(0, n, MERGE_RUN):  # runs of MERGE_RUN by insertion, then merged pairwise
        for i in range(lo, min(lo + MERGE_RUN, n)):
            value = v[i]
            k = i
            while k > lo and v[order[k - 1]] > value:
                order[k] = order[k - 1]
                k -= 1
            order[k] = i
    source, target = order, scratch
    in_order = True  # the sorted runs are in `order`
    width = MERGE_RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            a, b = lo, mid
            for k in range(lo, hi):
                if b == hi or (a < mid and v[source[a]] <= v[source[b]]):
                    target[k] = source[a]
                    a += 1
                else:
                    target[k] = source[b]
                    b += 1
        source, target = target, source
        in_order = not in_order
        width *= 2
    if not in_order:
        for i in range(n):
            order[i] = scratch[i]


@numba.njit(cache=True, nogil=True, inline="always")
def _sort_axis(v: np.ndarray, order: np.ndarray, rank: np.ndarray, group: np.ndarray, sizes: np.ndarray) -> int:
    """Sort one variable: ``order`` sorts v (ties in index order), ``rank`` is its inverse,
    ``group[k]`` is the tie group (0, 1, ...) of sorted position k and ``sizes`` the groups'
    sizes. Returns the number of tie groups."""
    n = v.shape[0]
    if n > RANK_BY_COUNTING:
        _merge_order(v, order, rank)  # rank: free until written below
    else:  # rank = samples below, then tied samples slotted in index order
        sizes[:] = 0  # here: tied samples already slotted at each rank
        for i in range(n):
            vi = v[i]
            below = 0
            for j in range(n):
                below += v[j] < vi
            order[below + sizes[below]] = i
            sizes[below] += 1
    groups = 0
    for k in range(n):
        rank[order[k]] = k
        if k == 0 or v[order[k]] != v[order[k - 1]]:
            sizes[groups] = 0
            groups += 1
        group[k] = groups - 1
        sizes[groups - 1] += 1
    return groups


@numba.njit(cache=True, nogil=True, inline="always")
def _equipartition(sizes: np.ndarray, groups: int, n: int, parts: int, out: np.ndarray) -> int:
    """Row (0..q-1) of each of ``groups`` consecutive groups of the given sizes (n samples in
    all), never splitting a group. Returns q."""
    row = 0
    row_start = 0
    filled = 0
    for group in range(groups):
        size = sizes[group]
        if filled != 0 and (2 * filled + size) * (parts - row) >= 2 * (n - row_start):
            row += 1
            row_start += filled
            filled = 0
        out[group] = row
        filled += size
    return row + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _clumps(col_sizes: np.ndarray, col_groups: int, row: np.ndarray, n: int, out: np.ndarray) -> int:
    """Clump (0..p-1) of each sample in column order, the column variable having ties. Returns p."""
    clump = 0
    previous = -1  # label of the previous sample: its row, or -1 - start of a mixed tie group
    i = 0
    for group in range(col_groups):
        j = i + col_sizes[group]
        mixed = False
        for k in range(i + 1, j):
            mixed |= row[k] != row[i]
        for k in range(i, j):
            label = -1 - i if mixed else row[k]
            if k > 0 and label != previous:
                clump += 1
            out[k] = clump
            previous = label
        i = j
    return clump + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _row_weights(t: int, last: int, q: int, cum: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out[s] = E(s, t) for s = 0..last (last <= t; E(t, t) = 0), summed row by row."""
    total = cum[q, t]
    for s in range(last + 1):
        out[s] = -g[np.uint64(total - cum[q, s])]  # unsigned indices: no negative-index test
    for r in range(q):
        count = cum[r, t]
        for s in range(last + 1):
            out[s] += g[np.uint64(count - cum[r, s])]


@numba.njit(cache=True, nogil=True, inline="always")
def _packed_weights(t: int, last: int, code: np.ndarray, pair_table: np.ndarray, out: np.ndarray) -> None:
    """out[s] = E(s, t) for s = 0..last, two rows: one lookup of the packed code difference."""
    top = code[t]
    for s in range(last + 1):
        out[s] = pair_table[np.uint64(top - code[s])]


@numba.njit(cache=True, nogil=True, inline="always")
def _start_counts(cum: np.ndarray, q: int, running: np.ndarray) -> None:
    """Zero counts at boundary 0 (element loops: numba's slice assignment is slower here)."""
    for r in range(q):
        running[r] = 0
        cum[r, 0] = 0
    cum[q, 0] = 0


@numba.njit(cache=True, nogil=True, inline="always")
def _boundary_counts(rows: np.ndarray, parts: np.ndarray, n: int, q: int, cum: np.ndarray, running: np.ndarray) -> None:
    """cum[r, t]: samples of row r before boundary t (the end of part t - 1), cum[q, t]: all."""
    _start_counts(cum, q, running)
    for k in range(n):  # the last sample of a part writes its boundary's counts
        running[rows[k]] += 1
        for r in range(q):
            cum[r, parts[k] + 1] = running[r]
        cum[q, parts[k] + 1] = k + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _untied_boundary_counts(
    table: np.ndarray, row_of: np.ndarray, n: int, q: int, cum: np.ndarray, running: np.ndarray
) -> int:
    """Without ties in the column variable the clumps are the runs of one row: clumps and the
    counts of _boundary_counts in one pass (row of the k-th sample: table[row_of[k]]). Returns p.
    The accumulation is written out here rather than shared: a call in this loop, even inlined,
    costs 20% of the whole MIC at n = 49."""
    _start_counts(cum, q, running)
    clump = 0
    previous = table[row_of[0]]
    if q == 2:  # the same with the row-0 count in a register
        first = 0
        for k in range(n):
            row = table[row_of[k]]
            clump += row != previous
            previous = row
            first += row == 0
            cum[0, clump + 1] = first
            cum[1, clump + 1] = k + 1 - first
            cum[2, clump + 1] = k + 1
        return clump + 1
    for k in range(n):  # no branches: rows change at random
        row = table[row_of[k]]
        clump += row != previous
        previous = row
        running[row] += 1
        for r in range(q):  # the last sample of a clump writes its end's counts
            cum[r, clump + 1] = running[r]
        cum[q, clump + 1] = k + 1
    return clump + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _merge_into_superclumps(
    cum: np.ndarray, q: int, p: int, n: int, k_hat: int, sizes: np.ndarray, superclump: np.ndarray
) -> int:
    """Equipartition the p clumps into k_hat superclumps; keep the boundary counts of their
    ends only (in place: a superclump never ends after its last clump). Returns their number."""
    for c in range(p):
        sizes[c] = cum[q, c + 1] - cum[q, c]
    count = _equipartition(sizes, p, n, k_hat, superclump)
    for c in range(p):
        for r in range(q + 1):
            cum[r, superclump[c] + 1] = cum[r, c + 1]
    return count


@numba.njit(cache=True, nogil=True, inline="always")
def _best_score(n: int, q: int, p: int, max_cols: int, tables: tuple, work: tuple) -> float:
    """Best normalised score over 2..max_cols columns for q rows and p + 1 column boundaries
    whose cumulative row counts are in cum (see _boundary_counts)."""
    g, pair_table, log = tables
    cum, code, values, weights = work
    packed = q == 2 and pair_table.shape[0] > 0
    if packed:
        for t in range(p + 1):
            code[t] = cum[q, t] * (n + 1) + cum[0, t]
    if max_cols == 2:  # V_2(p) = max_t E(0, t) + E(t, p): one pass
        if packed:
            _packed_weights(p, p, code, pair_table, weights)
        else:
            _row_weights(p, p, q, cum, g, weights)
        whole = weights[0]
        best = whole
        for t in range(1, p):
            if packed:
                first = pair_table[np.uint64(code[t])]
            else:
                first = -g[cum[q, t]]
                for r in range(q):
                    first += g[cum[r, t]]
            best = max(best, first + weights[t])
        return (best - whole) / n / log[2]
    for t in range(p + 1):
        if packed and max_cols == 3 and t < p:  # V_2(t) only: weights and maximum in one loop
            top = code[t]
            values[1, t] = best = pair_table[np.uint64(top)]
            for s in range(1, t):
                best = max(best, values[1, s] + pair_table[np.uint64(top - code[s])])
            values[2, t] = best
            continue
        if packed:
            _packed_weights(t, t, code, pair_table, weights)
        else:
            _row_weights(t, t, q, cum, g, weights)
        values[1, t] = weights[0]  # V_1(t) = E(0, t)
        for level in range(2, (max_cols if t == p else max_cols - 1) + 1):
            best = values[level - 1, t]
            for s in range(1, t):
                best = max(best, values[level - 1, s] + weights[s])
            values[level, t] = best
    best = 0.0
    for level in range(2, max_cols + 1):
        best = max(best, (values[level, p] - values[1, p]) / n / log[min(level, q)])
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def pair_mic_core(
    x: np.ndarray,
    y: np.ndarray,
    jobs: np.ndarray,
    untied_rows: np.ndarray,
    untied_q: np.ndarray,
    tables: tuple,
    work: tuple,
) -> float:
    """MIC of one pair x, y (n values each) for the grid families ``jobs`` (int64, one
    (rows, max_cols, k_hat) row each), with the tables of plan_tables and the work arrays of
    work_views: the pass of the CPU kernel and of each CUDA thread."""
    n = x.shape[0]
    (
        order_x,
        order_y,
        rank_x,
        rank_y,
        group_x,
        group_y,
        sizes_x,
        sizes_y,
        row_group_by_col,
        group_rows,
        rows,
        clumps,
        clump_sizes,
        superclump,
        running,
    ) = work[0]
    cum = work[1][0]
    groups_x = _sort_axis(x, order_x, rank_x, group_x, sizes_x)
    groups_y = _sort_axis(y, order_y, rank_y, group_y, sizes_y)
    if groups_x == 1 or groups_y == 1:
        return 0.0  # a constant vector: minepy's scores are then 0 or NaN, its MIC 0
    best = 0.0
    for orientation in range(2):  # columns along x, rows along y; then the other way round
        if orientation == 0:
            col_order, col_sizes, col_groups, row_rank, row_group, row_sizes, row_groups = (
                order_x,
                sizes_x,
                groups_x,
                rank_y,
                group_y,
                sizes_y,
                groups_y,
            )
        else:
            col_order, col_sizes, col_groups, row_rank, row_group, row_sizes, row_groups = (
                order_y,
                sizes_y,
                groups_y,
                rank_x,
                group_x,
                sizes_x,
                groups_x,
            )
        for k in range(n):  # row variable's tie group of the k-th sample by column
            row_group_by_col[k] = row_group[row_rank[col_order[k]]]
        for job in range(jobs.shape[0]):
            row_parts, max_cols, k_hat = jobs[job, 0], jobs[job, 1], jobs[job, 2]
            if row_groups < n:
                q = _equipartition(row_sizes, row_groups, n, row_parts, group_rows)
                table = group_rows
            else:  # no ties: the rows of each rank are the same for every pair
                q = untied_q[job]
                table = untied_rows[job]
            if col_groups == n:
                p = _untied_boundary_counts(table, row_group_by_col, n, q, cum, running)
            else:
                for k in range(n):
                    rows[k] = table[row_group_by_col[k]]
                p = _clumps(col_sizes, col_groups, rows, n, clumps)
                _boundary_counts(rows, clumps, n, q, cum, running)
            if p > k_hat:
                p = _merge_into_superclumps(cum, q, p, n, k_hat, clump_sizes, superclump)
            best = max(best, _best_score(n, q, p, max_cols, tables, work[1]))
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def work_views(ints: np.ndarray, floats: np.ndarray) -> tuple:
    """pair_mic_core's work arrays as views of two blocks of n + 1 columns: ints with PER_SAMPLE +
    rows + 2 rows (per-sample arrays, cumulative counts by row, packed codes), floats with
    cols + 2 rows (DP values by column count, segment weights); rows, cols: the plan's largest."""
    return (
        (
            ints[0],
            ints[1],
            ints[2],
            ints[3],
            ints[4],
            ints[5],
            ints[6],
            ints[7],
            ints[8],
            ints[9],
            ints[10],
            ints[11],
            ints[12],
            ints[13],
            ints[14],
        ),
        (ints[PER_SAMPLE:-1], ints[-1], floats[:-1], floats[-1]),
    )


@numba.njit(cache=True, parallel=True)
def _mic_pairs(
    x: np.ndarray,
    y: np.ndarray,
    jobs: np.ndarray,
    untied_rows: np.ndarray,
    untied_q: np.ndarray,
    tables: tuple,
    out: np.ndarray,
) -> None:
    pairs, n = x.shape
    rows_max, cols_max = jobs[:, 0].max(), jobs[:, 1].max()
    for block in numba.prange((pairs + BLOCK_PAIRS - 1) // BLOCK_PAIRS):
        work = work_views(
            np.empty((PER_SAMPLE + rows_max + 2, n + 1), np.int64), np.empty((cols_max + 2, n + 1), np.float64)
        )
        xi, yi = np.empty(n, np.float64), np.empty(n, np.float64)
        for i in range(block * BLOCK_PAIRS, min(pairs, (block + 1) * BLOCK_PAIRS)):
            xi[:] = x[i]  # float32 inputs compared as float64: the same order and ties
            yi[:] = y[i]
            out[i] = pair_mic_core(xi, yi, jobs, untied_rows, untied_q, tables, work)


@lru_cache(maxsize=16)
def plan_tables(n: int, jobs: KernelPlan) -> tuple:
    """Per-n tables: g(k) = k log k, the packed two-row weights, log(0..), and the rows of the
    untied equipartitions of each job (with their counts q)."""
    k = np.arange(n + 1, dtype=np.float64)
    g = k * np.log(np.maximum(k, 1.0))  # 0 for k = 0
    if n <= PACKED_MAX_N:  # E of a two-row segment of `total` points, `first` of them in row 0
        total, first = np.divmod(np.arange((n + 1) ** 2), n + 1)
        pair_table = g[first] + g[np.maximum(total - first, 0)] - g[total]
    else:
        pair_table = np.empty(0)
    log = np.log(np.maximum(np.arange(max(max(job[:2]) for job in jobs) + 1), 1.0))
    untied_rows = np.empty((len(jobs), n), dtype=np.int64)
    ones = np.ones(n, dtype=np.int64)
    untied_q = np.array(
        [_equipartition(ones, n, n, job[0], untied_rows[j]) for j, job in enumerate(jobs)], dtype=np.int64
    )
    return (g, pair_table, log), untied_rows, untied_q


def mic_pairs(x: np.ndarray, y: np.ndarray, jobs: KernelPlan, threads: int) -> np.ndarray:
    """MIC of each row pair of the arrays x, y (pairs, n), float32 or float64, for the grid
    families ``jobs`` ((rows, max_cols, k_hat) each), on ``threads`` cores; float64 result."""
    tables, untied_rows, untied_q = plan_tables(x.shape[1], jobs)
    out = np.empty(x.shape[0], dtype=np.float64)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    _mic_pairs(
        np.ascontiguousarray(x),
        np.ascontiguousarray(y),
        np.array(jobs, dtype=np.int64),
        untied_rows,
        untied_q,
        tables,
        out,
    )
    return out

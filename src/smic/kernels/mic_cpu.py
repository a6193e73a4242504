"""The MIC engine's CPU kernel: ApproxMaxMI for one pair at a time, compiled by numba.

The tensor engine (``smic.kernels.mic_tensor``) runs every pair of a chunk in lockstep. On a CPU
that engine spends its time streaming intermediate tensors through memory; here each pair is done in
one compiled pass whose working set (a few hundred bytes for n = 49) stays in the L1 cache, and
blocks of pairs go to the cores as each core becomes free (a core shared with another program
takes fewer blocks instead of holding the others up).

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
Every sum runs in float64 with minepy's terms in minepy's order; results equal minepy's to about
1e-15. Some maxima are taken over two interleaved halves of their terms: no term is NaN or -0, so
the largest is the same number in any order.

Shortcuts, each exact: up to RANK_BY_COUNTING samples, the number of smaller samples of each
sample is its rank when no two are tied (checked in one pass: then each sample is a tie group of
its own); without ties the rows of the equipartition depend only on n (computed once); with q = 2
rows a segment is named by one packed code (points, points in row 0), so E(s, t) is one lookup
of code_t - code_s in a table of (n + 1)^2 weights and the row counts are not stored.

``smic.kernels.mic_cuda`` compiles the same pass (``pair_mic_core``, with ``work_views`` and the
tables of ``plan_tables``) into its CUDA kernel, every helper inlined (``inline="always"``). The
CPU kernel is that pass compiled once more as a function of its own, called by ``_mic_blocks``,
for one signature (float32 inputs are passed as float64): about 8 s of compile on two cores, once
per machine (numba's cache), announced on stderr when it happens (smic.kernels.cpu_run).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numba
import numpy as np

from smic.kernels.cpu_run import run_threads, take_next
from smic.kernels.mic_plan import KernelPlan

# Up to this n, samples are ordered by counting comparisons (n^2 of them, vectorised, no
# branches), faster than numba's sorts on such short vectors.
RANK_BY_COUNTING = 128
# Beyond it, a merge sort whose first runs of this length are sorted by insertion.
MERGE_RUN = 16
# Largest n for which the packed two-row weight table ((n + 1)^2 float64) is built.
PACKED_MAX_N = 1023
# Arrays of n + 1 integers in a pair's work (the first element of work_views' result): orders,
# tie labels and tie group sizes of both axes, row groups by column, rows of groups and of
# samples, parts (clumps or superclumps) of samples, part sizes, superclumps of clumps; three
# spare (the CUDA kernel's local memory and its tests are sized by this count).
PER_SAMPLE = 15
# Pairs per block taken by a thread (smic.kernels.cpu_run): the blocks balance over cores of
# unequal speed, and taking one costs one atomic increment.
BLOCK_PAIRS = 16
# The first compile's announcement: seconds measured on two cores of an AMD EPYC.
COMPILE_SECONDS = 10


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
def _sort_axis(v: np.ndarray, order: np.ndarray, label: np.ndarray, sizes: np.ndarray) -> int:
    """Sort one variable: ``order`` sorts v (ties in index order), ``label[i]`` is the tie group
    (0, 1, ... in sorted order) of sample i and ``sizes`` the groups' sizes. Returns the number
    of tie groups."""
    n = v.shape[0]
    if n > RANK_BY_COUNTING:
        _merge_order(v, order, label)  # label: free until written below
    else:
        i = 0
        while i + 4 <= n:  # smaller samples of each, counted without branches (vectorised), four
            v0, v1, v2, v3 = v[i], v[i + 1], v[i + 2], v[i + 3]  # samples a pass: a third faster
            b0 = b1 = b2 = b3 = 0
            for j in range(n):
                w = v[j]
                b0 += w < v0
                b1 += w < v1
                b2 += w < v2
                b3 += w < v3
            label[i], label[i + 1], label[i + 2], label[i + 3] = b0, b1, b2, b3
            i += 4
        for k in range(i, n):  # the last few one at a time
            below = 0
            for j in range(n):
                below += v[j] < v[k]
            label[k] = below
        for i in range(n):  # without ties the counts are the ranks (unsigned: no negative-index test)
            order[np.uint64(label[i])] = i
        tied = False
        for i in range(n):  # tied samples share a count: all but the last were overwritten
            tied |= order[np.uint64(label[i])] != i
        if not tied:  # each sample its own tie group, numbered by rank
            for k in range(n):
                sizes[k] = 1
            return n
        for k in range(n):
            sizes[k] = 0  # here: tied samples already slotted at each rank
        for i in range(n):  # tied samples slotted in index order
            below = label[i]
            order[below + sizes[below]] = i
            sizes[below] += 1
    groups = 0
    previous = v[order[0]]
    for k in range(n):
        i = order[k]
        if k == 0 or v[i] != previous:
            sizes[groups] = 0
            groups += 1
        previous = v[i]
        label[i] = groups - 1
        sizes[groups - 1] += 1
    return groups


@numba.njit(cache=True, nogil=True, inline="always")
def _equipartition(sizes: np.ndarray, groups: int, n: int, parts: int, out: np.ndarray) -> int:
    """Row (0..q-1) of each of ``groups`` consecutive groups of the given sizes (n samples in
    all), never splitting a group. Returns q."""
    row = 0
    row_start = 0
    filled = 0
    for group in range(groups):  # without branches: superclumps end at random
        size = sizes[group]  # the row closes before this group, or not
        close = (filled != 0) & ((2 * filled + size) * (parts - row) >= 2 * (n - row_start))
        row += close
        row_start += filled * close
        filled = filled * (1 - close) + size
        out[group] = row
    return row + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _runs(table: np.ndarray, row_of: np.ndarray, n: int, rows: np.ndarray, out: np.ndarray) -> int:
    """Row (``table[row_of[k]]``) and clump (0..p-1) of each sample in column order when the
    column variable has no ties: the clumps are the runs of one row. Returns p."""
    clump = 0
    previous = table[row_of[0]]
    for k in range(n):  # no branches: rows change at random
        row = table[np.uint64(row_of[k])]
        clump += row != previous
        previous = row
        rows[k] = row
        out[k] = clump
    return clump + 1


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
def _superclumps(part: np.ndarray, n: int, p: int, k_hat: int, sizes: np.ndarray, superclump: np.ndarray) -> int:
    """Equipartition the p clumps (``part``: the clump of each sample) into k_hat superclumps and
    relabel the samples with them. Returns their number."""
    for k in range(n):  # the end of each clump: written last by its last sample
        sizes[np.uint64(part[k])] = k + 1
    for c in range(p - 1, 0, -1):
        sizes[c] -= sizes[c - 1]
    count = _equipartition(sizes, p, n, k_hat, superclump)
    for k in range(n):
        part[k] = superclump[np.uint64(part[k])]
    return count


@numba.njit(cache=True, nogil=True, inline="always")
def _boundary_counts(
    rows: np.ndarray, part: np.ndarray, n: int, q: int, p: int, packed: bool, cum: np.ndarray, code: np.ndarray
) -> None:
    """cum[r, t]: samples of row r before boundary t (the end of part t - 1), cum[q, t]: all; or,
    packed (two rows), only code[t] = cum[2, t] (n + 1) + cum[0, t]. Counts run in registers, and
    the last sample of a part leaves its boundary's count (unsigned indices: no negative-index test)."""
    first = 0  # samples of row 0 so far
    if packed:
        code[0] = 0
        for k in range(n):
            first += rows[k] == 0
            code[np.uint64(part[k] + 1)] = (k + 1) * (n + 1) + first
        return
    for r in range(q + 1):
        cum[r, 0] = 0
    for k in range(n):
        first += rows[k] == 0
        cum[0, np.uint64(part[k] + 1)] = first
        cum[q, np.uint64(part[k] + 1)] = k + 1
    for r in range(1, q - 1):
        count = 0
        for k in range(n):
            count += rows[k] == r
            cum[r, np.uint64(part[k] + 1)] = count
    for t in range(1, p + 1):  # the last row (q >= 2: two tie groups make two rows): the rest
        cum[q - 1, t] = cum[q, t] - cum[0, t]
    for r in range(1, q - 1):
        for t in range(1, p + 1):
            cum[q - 1, t] -= cum[r, t]


@numba.njit(cache=True, nogil=True, inline="always")
def _row_weights(t: int, q: int, cum: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out[s] = E(s, t) for s = 0..t (E(t, t) = 0), summed row by row."""
    total = cum[q, t]
    for s in range(t + 1):
        out[s] = -g[np.uint64(total - cum[q, s])]  # unsigned indices: no negative-index test
    for r in range(q):
        count = cum[r, t]
        for s in range(t + 1):
            out[s] += g[np.uint64(count - cum[r, s])]


@numba.njit(cache=True, nogil=True, inline="always")
def _max_plus(best: float, values: np.ndarray, level: int, weights: np.ndarray, t: int) -> float:
    """max(best, values[level, s] + weights[s] for s = 1..t-1), in two interleaved chains (each
    maximum then waits for every other one only)."""
    other = best
    s = 1
    while s + 1 < t:
        best = max(best, values[level, s] + weights[s])
        other = max(other, values[level, s + 1] + weights[s + 1])
        s += 2
    if s < t:
        best = max(best, values[level, s] + weights[s])
    return max(best, other)


@numba.njit(cache=True, nogil=True, inline="always")
def _best_score(n: int, q: int, p: int, max_cols: int, packed: bool, tables: tuple, work: tuple) -> float:
    """Best normalised score over 2..max_cols columns for q rows and p + 1 column boundaries
    whose cumulative row counts are in cum, or, packed, whose codes are in code (see
    _boundary_counts): E(s, t) = pair_table[code[t] - code[s]]."""
    g, pair_table, log = tables
    cum, code, values, weights = work
    if max_cols == 2:  # V_2(p) = max_t E(0, t) + E(t, p): one pass
        if packed:
            top = code[p]
            for s in range(p + 1):
                weights[s] = pair_table[np.uint64(top - code[s])]
                values[1, s] = pair_table[np.uint64(code[s])]  # E(0, s)
        else:  # E(t, p) and E(0, t) in one pass over the rows (each sum's terms in _row_weights' order)
            total = cum[q, p]
            for t in range(p + 1):
                weights[t] = -g[np.uint64(total - cum[q, t])]
                values[1, t] = -g[np.uint64(cum[q, t])]
            for r in range(q):
                count = cum[r, p]
                for t in range(p + 1):
                    weights[t] += g[np.uint64(count - cum[r, t])]
                    values[1, t] += g[np.uint64(cum[r, t])]
        whole = weights[0]
        return (_max_plus(whole, values, 1, weights, p) - whole) / n / log[2]
    for t in range(p + 1):
        if packed and max_cols == 3 and t < p:  # V_2(t) only: weights and maximum in one loop
            top = code[t]
            values[1, t] = best = pair_table[np.uint64(top)]
            other = best
            s = 1
            while s + 1 < t:
                best = max(best, values[1, s] + pair_table[np.uint64(top - code[s])])
                other = max(other, values[1, s + 1] + pair_table[np.uint64(top - code[s + 1])])
                s += 2
            if s < t:
                best = max(best, values[1, s] + pair_table[np.uint64(top - code[s])])
            values[2, t] = max(best, other)
            continue
        if packed:
            top = code[t]
            for s in range(t + 1):
                weights[s] = pair_table[np.uint64(top - code[s])]
        else:
            _row_weights(t, q, cum, g, weights)
        values[1, t] = weights[0]  # V_1(t) = E(0, t)
        for level in range(2, (max_cols if t == p else max_cols - 1) + 1):
            values[level, t] = _max_plus(values[level - 1, t], values, level - 1, weights, t)
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
        label_x,
        label_y,
        sizes_x,
        sizes_y,
        row_group_by_col,
        group_rows,
        rows,
        part,
        part_sizes,
        superclump,
        _,
        _,
        _,
    ) = work[0]
    cum, code = work[1][0], work[1][1]
    pair_table = tables[1]
    groups_x = groups_y = 0
    for axis in range(2):  # one call: one copy of the sort in the compiled code
        v, order, label, sizes = (x, order_x, label_x, sizes_x) if axis == 0 else (y, order_y, label_y, sizes_y)
        groups = _sort_axis(v, order, label, sizes)
        if axis == 0:
            groups_x = groups
        else:
            groups_y = groups
    if groups_x == 1 or groups_y == 1:
        return 0.0  # a constant vector: minepy's scores are then 0 or NaN, its MIC 0
    best = 0.0
    for orientation in range(2):  # columns along x, rows along y; then the other way round
        if orientation == 0:
            col_order, col_sizes, col_groups, row_label, row_sizes, row_groups = (
                order_x,
                sizes_x,
                groups_x,
                label_y,
                sizes_y,
                groups_y,
            )
        else:
            col_order, col_sizes, col_groups, row_label, row_sizes, row_groups = (
                order_y,
                sizes_y,
                groups_y,
                label_x,
                sizes_x,
                groups_x,
            )
        for k in range(n):  # row variable's tie group of the k-th sample by column
            row_group_by_col[k] = row_label[np.uint64(col_order[k])]
        for job in range(jobs.shape[0]):
            row_parts, max_cols, k_hat = jobs[job, 0], jobs[job, 1], jobs[job, 2]
            if row_groups < n:
                q = _equipartition(row_sizes, row_groups, n, row_parts, group_rows)
                table = group_rows
            else:  # no ties: the rows of each rank are the same for every pair
                q = untied_q[job]
                table = untied_rows[job]
            if col_groups == n:
                p = _runs(table, row_group_by_col, n, rows, part)
            else:
                for k in range(n):
                    rows[k] = table[np.uint64(row_group_by_col[k])]
                p = _clumps(col_sizes, col_groups, rows, n, part)
            if p > k_hat:
                p = _superclumps(part, n, p, k_hat, part_sizes, superclump)
            packed = q == 2 and pair_table.shape[0] > 0
            _boundary_counts(rows, part, n, q, p, packed, cum, code)
            best = max(best, _best_score(n, q, p, max_cols, packed, tables, work[1]))
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


# The CPU's copy of the pass: the helpers inlined into it, and it called from _mic_blocks (inlining
# it there too cost 3 s more of compile, for no speed); without numba's reference counts (its
# "_nrt" option, which the type stubs omit), which took a tenth of the time: the kernel allocates
# nothing, and its views live no longer than the arrays mic_pairs holds.
NO_REFCOUNTS: dict[str, Any] = {"_nrt": False}
_pair_mic = numba.njit(nogil=True, **NO_REFCOUNTS)(pair_mic_core.py_func)


@numba.njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _mic_blocks(
    x: np.ndarray,
    y: np.ndarray,
    jobs: np.ndarray,
    untied_rows: np.ndarray,
    untied_q: np.ndarray,
    tables: tuple,
    ints: np.ndarray,
    floats: np.ndarray,
    out: np.ndarray,
    taken: np.ndarray,
) -> None:
    """One thread's share of mic_pairs: blocks of BLOCK_PAIRS pairs, the next one taken from the
    counter ``taken`` each time, until none is left; ``ints``, ``floats``: this thread's work."""
    pairs = x.shape[0]
    work = work_views(ints, floats)
    while True:
        start = take_next(taken) * BLOCK_PAIRS
        if start >= pairs:
            return
        for i in range(start, min(pairs, start + BLOCK_PAIRS)):
            out[i] = _pair_mic(x[i], y[i], jobs, untied_rows, untied_q, tables, work)


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
    untied_q = np.array(  # the Python function: nothing to compile for a table
        [_equipartition.py_func(ones, n, n, job[0], untied_rows[j]) for j, job in enumerate(jobs)], dtype=np.int64
    )
    return (g, pair_table, log), untied_rows, untied_q


def mic_pairs(x: np.ndarray, y: np.ndarray, jobs: KernelPlan, threads: int) -> np.ndarray:
    """MIC of each row pair of the arrays x, y (pairs, n), float32 or float64, for the grid
    families ``jobs`` ((rows, max_cols, k_hat) each), on ``threads`` cores; float64 result."""
    pairs, n = x.shape
    tables, untied_rows, untied_q = plan_tables(n, jobs)
    # one compiled signature: float32 values are float64 values (the kernel compares and counts)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    out = np.empty(pairs, dtype=np.float64)
    plan = np.array(jobs, dtype=np.int64)
    shapes = (PER_SAMPLE + int(plan[:, 0].max()) + 2, n + 1), (int(plan[:, 1].max()) + 2, n + 1)
    taken = np.zeros(1, dtype=np.int64)  # blocks taken so far, by all threads

    def worker() -> None:
        ints, floats = np.empty(shapes[0], dtype=np.int64), np.empty(shapes[1], dtype=np.float64)
        _mic_blocks(x, y, plan, untied_rows, untied_q, tables, ints, floats, out, taken)

    run_threads(min(threads, -(-pairs // BLOCK_PAIRS)), worker, _mic_blocks, "smic's MIC kernel", COMPILE_SECONDS)
    return out

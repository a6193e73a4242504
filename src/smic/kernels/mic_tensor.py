"""The MIC engine in torch operations: every pair of a chunk in lockstep, on any device.

It runs where no compiled kernel does: on CUDA without numba-cuda (or from a failed launch on),
for vectors too long for a CUDA thread's local memory, and on devices other than the CPU and
CUDA. Loops run over grid shapes and over steps of the equipartitions and of the dynamic
programme, never over pairs, and pairs are processed in chunks (as many as a third of the free
GPU memory holds). The rules and their exact integer form are those of smic.kernels.mic_plan.

It computes in the requested dtype: float64 within about 1e-15 of minepy; float32 keeps the same
decisions with float32 weights, within 1e-6 of minepy (at most 2.3e-7 on the 1,800 golden cases,
n <= 150).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from smic.kernels.mic_plan import GridJob

__all__ = ["tensor_mic"]

# Pairs per chunk of the tensor engine where the free memory cannot be asked (not CUDA); on a GPU
# a large chunk keeps the number of kernel launches low.
CHUNK_PAIRS = 2048
CUDA_CHUNK_BYTES = 8 * 2**30
# On a GPU, let a few data-dependent shortcuts read flags back (ties at all? superclumps needed
# by any pair? how wide is each pair's dynamic programme?): one synchronisation each, outside the
# loops. False gives a path without any synchronisation after the input checks.
SYNC_ON_GPU = True
# Largest lookup table (entries) of segment weights indexed by packed row counts; beyond it the
# weights are summed row by row instead.
PACKED_TABLE_LIMIT = 2**21


# ---------------------------------------------------------------------------------------------
# Small helpers of the tensor engine.


def _maybe(flag: Tensor) -> bool:
    """bool(flag) where values may be read back (SYNC_ON_GPU); otherwise True (the general path)."""
    return bool(flag) if SYNC_ON_GPU else True


def _select(mask: Tensor, a: Tensor, b: Tensor | int) -> Tensor:
    """torch.where(mask, a, b) for integer tensors, by arithmetic."""
    return b + mask.to(a.dtype) * (a - b)


@lru_cache(maxsize=16)
def _upper_ones(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.ones((n, n), dtype=dtype).triu().to(device)


def _cumsum(x: Tensor, dtype: torch.dtype = torch.int64) -> Tensor:
    """Cumulative sum along the last dim of small non-negative integers (or bools).

    It is a product with a triangular matrix of ones, exact because every partial sum is an
    integer below 2**24 (2**21 at most here), and on a GPU about 10x faster than the scan kernel
    on many short rows.
    """
    # float32 is exact too (sums < 2**24) unless matrix products may round through TF32
    exact32 = torch.get_float32_matmul_precision() == "highest" and not torch.backends.cuda.matmul.allow_tf32
    work = torch.float32 if exact32 else torch.float64
    return (x.to(work) @ _upper_ones(x.shape[-1], work, x.device)).to(dtype)


def _compact(mask: Tensor, width: int, dtype: torch.dtype = torch.int64) -> Tensor:
    """Positions of the set entries of each row, ascending, padded with the last position.

    Entries past `width` are dropped (their rows are handled by superclumps).
    """
    m, size = mask.shape
    slot = _cumsum(mask, torch.int32) - 1
    keep = mask & (slot < width)
    slot = (width + keep.to(torch.int32) * (slot - width)).long()
    out = torch.full((m, width + 1), size - 1, dtype=dtype, device=mask.device)
    out.scatter_(1, slot, torch.arange(size, dtype=dtype, device=mask.device).expand(m, size))
    return out[:, :width]


@dataclass
class _Groups:
    """Consecutive groups of sorted positions (tie groups or clumps): table[:, p] holds, for the
    group of position p (0..n-1), its first position and one past its last; position n holds
    (n, n). One gather reads both."""

    table: Tensor  # (m, n+1, 2) int32

    @property
    def start(self) -> Tensor:
        return self.table[:, :, 0]

    @property
    def end(self) -> Tensor:
        return self.table[:, :, 1]


@lru_cache(maxsize=16)
def _zero_one(device: torch.device) -> Tensor:
    return torch.arange(2, device=device)


def _group_tables(bounds: Tensor) -> _Groups:
    """_Groups from a boundary mask over positions 0..n (set at 0, at n and at each group start)."""
    m, n1 = bounds.shape
    starts = _compact(bounds, n1, torch.int32)  # group g: [starts[g], starts[g+1]), padded with n
    group = _cumsum(bounds) - 1  # group of each position; position n: past the last group
    index = (group.unsqueeze(-1) + _zero_one(bounds.device)).clamp_(max=n1 - 1)
    return _Groups(starts.unsqueeze(-1).expand(m, n1, 2).gather(1, index))


def _equipartition(groups: _Groups, parts: int) -> Tensor:
    """EquipartitionYAxis: first positions (int64, (m, parts-1)) of rows 1..parts-1; n if unused.

    Row k starts at position i and aims at r = (n - i)/d points, d = parts - k. minepy closes it
    before the first later group (s points, after h points of the row) with |h + s - r| >= |h - r|,
    i.e. (2h + s) d >= 2 (n - i), i.e. group start + group end >= T = ceil(2 (n + i (d - 1)) / d).
    No group ending before position (T - 1) // 2 qualifies, the group G holding that position
    does when start + end >= T, and otherwise the next one does: so row k+1 starts at G's start
    or end, and never at i itself (minepy requires h != 0), hence the max with the end of i's group.
    """
    m, n1 = groups.start.shape
    n = n1 - 1
    table, ends = groups.table, groups.end
    start = torch.zeros((m, 1), dtype=torch.int64, device=table.device)
    starts = []
    for k in range(parts - 1):
        d = parts - k  # T = ceil(2 (n + i (d - 1)) / d) and (T - 1) // 2 for the row's start i
        target = torch.div(start * (2 * (d - 1)) + (2 * n + d - 1), d, rounding_mode="floor")
        at = torch.div(target - 1, 2, rounding_mode="floor")
        group = table.gather(1, at.unsqueeze(-1).expand(m, 1, 2))
        nxt = torch.where(group.sum(-1) >= target, group[:, :, 0], group[:, :, 1])
        start = torch.maximum(nxt, ends.gather(1, start)).long()
        starts.append(start)
    if not starts:
        return start[:, :0]
    return torch.cat(starts, 1)


@lru_cache(maxsize=64)
def _untied_row_starts(n: int, parts: int, device: torch.device) -> Tensor:
    """Row starts of the equipartition of n distinct values (the same for every vector)."""
    return _equipartition(_group_tables(torch.ones((1, n + 1), dtype=torch.bool)), parts).to(device)


# ---------------------------------------------------------------------------------------------
# Sorted axes.


@dataclass
class _Axis:
    """Both variables of each orientation, sorted: rows m = (x, y) pairs then (y, x) pairs."""

    new_group: Tensor  # (m, n) bool, column variable in sorted order: position starts a tie group
    col_groups: _Groups | None  # tie groups of the column variable; None: no ties anywhere
    row_groups: _Groups | None  # tie groups of the row variable
    row_rank: Tensor  # (m, n) int32: row variable's rank (its tie group's start), column order


def _sorted_axes(x: Tensor, y: Tensor) -> _Axis:
    v = torch.cat([x, y], 0)
    m, n = v.shape
    half = m // 2
    values, order = torch.sort(v, dim=-1)
    new_group = torch.ones((m, n), dtype=torch.bool, device=v.device)
    new_group[:, 1:] = values[:, 1:] != values[:, :-1]
    if _maybe(~new_group.all()):
        bounds = torch.ones((m, n + 1), dtype=torch.bool, device=v.device)
        bounds[:, :n] = new_group
        groups: _Groups | None = _group_tables(bounds)
        assert groups is not None
        rank_in_order = groups.start[:, :n]
        partner = _Groups(torch.cat([groups.table[half:], groups.table[:half]], 0))
    else:
        rank_in_order = torch.arange(n, dtype=torch.int32, device=v.device).expand(m, n)
        groups = partner = None
    rank = torch.empty((m, n), dtype=torch.int32, device=v.device).scatter_(1, order, rank_in_order)
    partner_rank = torch.cat([rank[half:], rank[:half]], 0)
    row_rank = partner_rank.gather(1, order)
    return _Axis(new_group, groups, partner, row_rank)


def _rows(axis: _Axis, parts: int) -> tuple[Tensor, Tensor]:
    """Row (int32, (m, n), column order) of every sample, and the number q of rows."""
    m, n = axis.row_rank.shape
    if axis.row_groups is None:
        starts = _untied_row_starts(n, parts, axis.row_rank.device).expand(m, -1)
    else:
        starts = _equipartition(axis.row_groups, parts)
    q = 1 + (starts < n).sum(-1)
    starts = starts.to(torch.int32)
    row = (axis.row_rank >= starts[:, :1]).to(torch.int32)
    for k in range(1, parts - 1):
        row += (axis.row_rank >= starts[:, k : k + 1]).to(torch.int32)
    return row, q


def _clump_bounds(row: Tensor, axis: _Axis) -> Tensor:
    """GetClumpsPartition as a boundary mask over positions 0..n (both ends set).

    A boundary before position j lies between two tie groups of the column variable whose labels
    differ: a tie group spread over several rows has a label of its own, other groups their row.
    """
    m, n = row.shape
    change = row[:, 1:] != row[:, :-1]
    bounds = torch.ones((m, n + 1), dtype=torch.bool, device=row.device)
    groups = axis.col_groups
    if groups is None:
        bounds[:, 1:n] = change
        return bounds
    inner = torch.zeros((m, n), dtype=torch.int32, device=row.device)
    inner[:, 1:] = (change & ~axis.new_group[:, 1:]).to(torch.int32)
    inner = _cumsum(inner, torch.int32)
    mixed = inner.gather(1, groups.end[:, :n].long() - 1) > inner.gather(1, groups.start[:, :n].long())
    bounds[:, 1:n] = axis.new_group[:, 1:] & (change | mixed[:, 1:] | mixed[:, :-1])
    return bounds


def _over(bounds: Tensor, k_hat: int) -> Tensor | None:
    """Pairs with more than k_hat clumps (superclumps needed): a bool mask, or None if none."""
    if k_hat >= bounds.shape[1] - 1:
        return None
    over = bounds.sum(-1) - 1 > k_hat
    return over if _maybe(over.any()) else None


def _superclumps(bounds: Tensor, k_hat: int) -> Tensor:
    """GetSuperclumpsPartition: the clumps equipartitioned into k_hat groups, as boundaries
    (int64, (m, k_hat + 1), 0 and n included)."""
    m, n1 = bounds.shape
    inner = _equipartition(_group_tables(bounds), k_hat)
    first = torch.zeros((m, 1), dtype=torch.int64, device=bounds.device)
    last = torch.full((m, 1), n1 - 1, dtype=torch.int64, device=bounds.device)
    return torch.cat([first, inner, last], 1)


def _candidates(bounds: Tensor, k_hat: int, width: int) -> Tensor:
    """Column boundaries to optimise over (int64, (m, width)): clumps, or superclumps past k_hat."""
    cand = _compact(bounds, width)
    over = _over(bounds, k_hat)
    if over is None:
        return cand
    if SYNC_ON_GPU:
        rows = over.nonzero().view(-1)
        cand[rows] = _superclumps(bounds[rows], k_hat)
        return cand
    return _select(over.unsqueeze(1), _superclumps(bounds, k_hat), cand)


# ---------------------------------------------------------------------------------------------
# OptimizeXAxis: segment weights and the dynamic programme.


@lru_cache(maxsize=64)
def _log_table(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """log(0..size), computed on the CPU so that every device divides by the same numbers."""
    return torch.log(torch.arange(size + 1, dtype=torch.float64)).to(dtype=dtype, device=device)


@lru_cache(maxsize=64)
def _xlogx(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    k = torch.arange(n + 1, dtype=torch.float64)
    return torch.special.xlogy(k, k).to(dtype=dtype, device=device)


def _uses_packed_table(n: int, rows: int) -> bool:
    return 2 * (n + 1) ** rows <= PACKED_TABLE_LIMIT


@lru_cache(maxsize=64)
def _packed_radix(n: int, rows: int, device: torch.device) -> Tensor:
    """Code increment of a point in each row: its row's digit (rows 0..rows-2) and the total."""
    radix = [(n + 1) ** (r + 1) + 1 for r in range(rows - 1)] + [1]
    return torch.tensor(radix, dtype=torch.int32, device=device)


@lru_cache(maxsize=32)
def _segment_table(n: int, rows: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """E of every packed code difference, offset by (n+1)**rows.

    Code = sum_r u_r (n+1)**(r+1) + t for the counts u_0..u_{rows-2} of the first rows and the
    total t; the difference of two cumulative codes is the code of the points between them.
    Negative codes (boundaries in reverse order) and impossible codes are -inf, so they never win
    a maximum.
    """
    size = (n + 1) ** rows
    g = _xlogx(n, torch.float64, torch.device("cpu"))
    code = torch.arange(size, dtype=torch.int64)
    total = code % (n + 1)
    rest = code // (n + 1)
    weight = -g[total]
    last = total.clone()
    for _ in range(rows - 1):
        u = rest % (n + 1)
        rest = rest // (n + 1)
        last = last - u
        weight = weight + g[u]
    weight = torch.where(last >= 0, weight + g[last.clamp(min=0)], -math.inf)
    table = torch.cat([torch.full((size,), -math.inf, dtype=torch.float64), weight])
    return table.to(dtype=dtype, device=device)


class _Segments:
    """Segment weights E(a, b) between candidate boundaries (boundaries along `dim`).

    E(a, b) = sum over rows of g(points of the row in [a, b)) - g(points in [a, b)); -inf when
    b < a. `state` holds, per candidate boundary, either a packed code (w, m), looked up in one
    table, or the cumulative count of each row (w, m, rows), summed row by row.
    """

    def __init__(
        self, state: Tensor, table: Tensor, offset: int, packed: bool, dtype: torch.dtype, dim: int = 0
    ) -> None:
        self.state, self.table, self.packed, self.dtype, self.dim = state, table, packed, dtype, dim
        self.shifted = state + offset if packed else state

    def _weight(self, first: Tensor, second_shifted: Tensor) -> Tensor:
        if self.packed:
            code = second_shifted - first
            return self.table.index_select(0, code.view(-1)).view(code.shape)
        diff = second_shifted - first
        size = diff.sum(-1)
        w = self.table[diff.clamp(min=0)].sum(-1) - self.table[size.clamp(min=0)]
        return w.masked_fill(size < 0, -math.inf).to(self.dtype)

    def left(self) -> Tensor:
        """E(0, a) for every boundary a."""
        return self._weight(torch.zeros_like(self.state.narrow(self.dim, 0, 1)), self.shifted)

    def right(self) -> Tensor:
        """E(a, n) for every boundary a (the last boundary is n)."""
        return self._weight(self.state, self.shifted.narrow(self.dim, -1, 1))

    def before(self, b: int, lo: int) -> Tensor:
        """E(a, b) for a < b, for the pairs (columns) lo and on: (b, m - lo)."""
        return self._weight(self.state[:b, lo:], self.shifted[b : b + 1, lo:])


def _best_partitions(segments: _Segments, max_cols: int, skip: list[int]) -> Tensor:
    """V_l(n) - E(0, n) for l = 2..max_cols, shape (max_cols - 1, m): n times the information.

    V_l(t) is the best total weight of at most l column segments of [0, t):
    V_1(t) = E(0, t); V_l(t) = max_{s <= t} V_{l-1}(s) + E(s, t), which is minepy's recursion over
    I[t][l] (its s = t term and line 19 of Algorithm 2 allow empty segments); V_l(n) is
    max_s V_{l-1}(s) + E(s, n). The recursion runs as a loop over t, each step for all pairs at
    once; pairs whose boundary t is only padding (a copy of n) skip that step: skip[t] pairs, first
    in order. Their V_l(t) then stays V_{l-1}(n), a lower bound, which no maximum needs.
    """
    left, right = segments.left(), segments.right()
    width, m = left.shape
    cache: dict[int, Tensor] = {}
    best = left
    out = [(best + right).amax(0)]
    for _ in range(3, max_cols + 1):
        step = best.clone()
        for b in range(1, width):
            lo = skip[b]
            if lo >= m:
                break
            weight = cache.get(b)
            if weight is None:
                weight = segments.before(b, lo)
                if max_cols > 3:  # reused by the next levels
                    cache[b] = weight
            weight = (weight + best[:b, lo:]).amax(0)
            target = step[b, lo:]
            torch.maximum(target, weight, out=target)
        best = step
        out.append((best + right).amax(0))
    return torch.stack(out, 0) - left[-1:]


def _cumulative_state(row: Tensor, job: GridJob, dtype: torch.dtype) -> tuple[Tensor, Tensor, int, bool]:
    """Per cut position 0..n: packed code (m, n+1) or cumulative row counts (m, n+1, rows), with
    the table and offset that turn their differences into segment weights."""
    m, n = row.shape
    device = row.device
    if _uses_packed_table(n, job.rows):
        radix = _packed_radix(n, job.rows, device)
        code = torch.zeros((m, n + 1), dtype=torch.int32, device=device)
        code[:, 1:] = _cumsum(radix.index_select(0, row.view(-1)).view(m, n), torch.int32)
        return code, _segment_table(n, job.rows, dtype, device), (n + 1) ** job.rows, True
    counts = torch.zeros((m, n + 1, job.rows), dtype=torch.int32, device=device)
    counts[:, 1:].scatter_(2, row.long().unsqueeze(-1), 1)
    # g summed over rows in float64 (then rounded to dtype): exact enough for float32 at any n
    return counts.cumsum(1, dtype=torch.int32), _xlogx(n, torch.float64, device), 0, False


def _single_cut_values(bounds: Tensor, state: Tensor, seg: tuple[Tensor, int, bool, torch.dtype], k_hat: int) -> Tensor:
    """V_2(n) - E(0, n) (shape (m, 1)) for grids of at most 2 columns: one cut, at the best
    clump (or superclump) boundary. Evaluated at every position, then picked by mask or gather."""
    segments = _Segments(state, *seg, dim=1)
    left = segments.left()
    both = left + segments.right()  # E(0, a) + E(a, n) at every position a: (m, n+1)
    best = both.masked_fill(~bounds, -math.inf).amax(-1)
    over = _over(bounds, k_hat)
    if over is not None:
        if SYNC_ON_GPU:
            rows = over.nonzero().view(-1)
            picked = both[rows].gather(1, _superclumps(bounds[rows], k_hat)).amax(-1)
            best[rows] = picked
        else:
            picked = both.gather(1, _superclumps(bounds, k_hat)).amax(-1)
            best = torch.where(over, picked, best)
    return (best - left[:, -1]).unsqueeze(1)


def _job_values(row: Tensor, bounds: Tensor, job: GridJob, dtype: torch.dtype) -> Tensor:
    """V_l(n) - E(0, n) for l = 2..X (shape (m, X - 1)): n times the mutual information."""
    m, n = row.shape
    state, table, offset, packed = _cumulative_state(row, job, dtype)
    if job.max_cols == 2:
        return _single_cut_values(bounds, state, (table, offset, packed, dtype), job.k_hat)
    cand = _candidates(bounds, job.k_hat, job.width)
    if packed:
        state = state.gather(1, cand)  # (m, w)
    else:
        state = state.gather(1, cand.unsqueeze(-1).expand(m, cand.shape[1], job.rows))
    width = cand.shape[1]
    skip = [0] * width
    order = None
    if SYNC_ON_GPU:
        # pairs in order of their number of candidates, so that each step of the loop over
        # boundaries leaves out those with no boundary beyond it
        used, order = torch.sort((cand < n).sum(-1))
        state = state.index_select(0, order)
        skip = torch.searchsorted(used, torch.arange(width, device=used.device)).tolist()
    state = state.transpose(0, 1).contiguous()
    segments = _Segments(state, table, offset, packed, dtype)
    values = _best_partitions(segments, job.max_cols, skip).t()
    if order is None:
        return values
    return torch.empty_like(values).index_copy_(0, order, values)


# ---------------------------------------------------------------------------------------------
# One chunk of pairs.


def _mic_chunk(x: Tensor, y: Tensor, jobs: tuple[GridJob, ...], dtype: torch.dtype) -> Tensor:
    m, n = 2 * x.shape[0], x.shape[1]
    device = x.device
    axis = _sorted_axes(x, y)
    log = _log_table(max(job.rows for job in jobs), dtype, device)
    best = torch.zeros(m, dtype=dtype, device=device)
    for job in jobs:
        row, q = _rows(axis, job.rows)
        info = _job_values(row, _clump_bounds(row, axis), job, dtype) / n  # H(Q) - H(Q | cols)
        cols = torch.arange(2, job.max_cols + 1, device=device)
        norm = log[torch.minimum(cols.unsqueeze(0), q.unsqueeze(1))]
        score = (info / norm).amax(1)
        # q = 1 only for a constant row variable: its score is NaN in minepy, never the max
        best = torch.maximum(best, score.masked_fill(q < 2, 0.0))
    best = torch.maximum(best[: m // 2], best[m // 2 :])
    # a constant vector gives minepy 0 (its scores are then 0 or NaN)
    constant = axis.new_group[:, 1:].any(-1).logical_not()
    return best.masked_fill(constant[: m // 2] | constant[m // 2 :], 0.0)


def _chunk_pairs(n: int, jobs: tuple[GridJob, ...], dtype: torch.dtype, device: torch.device) -> int:
    """Pairs per chunk. On a GPU: as many as a third of the free memory holds (one chunk keeps
    the kernel launches few), counting the per-position tables (a few dozen int64 per sample)
    and the dynamic programme's blocks (all of them when they are cached for several levels)."""
    if device.type != "cuda":
        return CHUNK_PAIRS
    width = max(job.width for job in jobs)
    cached = any(job.max_cols > 3 for job in jobs)
    per_row = 8 * ((n + 1) * 48 + (width * width // 2 if cached else 4 * width))
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(CUDA_CHUNK_BYTES, free // 3) // (2 * per_row))


def tensor_mic(x: Tensor, y: Tensor, jobs: tuple[GridJob, ...], dtype: torch.dtype) -> Tensor:
    """MIC of each row pair of x, y (pairs, n), real floating, on their device, for the grid
    families ``jobs`` (smic.kernels.mic_plan.grid_plan), chunk by chunk; computed and returned
    in ``dtype`` (torch.float32 or torch.float64)."""
    pairs = x.shape[0]
    out = torch.zeros(pairs, dtype=dtype, device=x.device)
    step = _chunk_pairs(x.shape[1], jobs, dtype, x.device)
    for lo in range(0, pairs, step):
        hi = min(lo + step, pairs)
        out[lo:hi] = _mic_chunk(x[lo:hi], y[lo:hi], jobs, dtype)
    return out

"""smic.mic against minepy 1.2.6 (MINE(alpha, c, est="mic_approx")).

Golden values: tests/data/mic_minepy.json.gz is ../shared/fixtures/mic_minepy.json (1,800 cases
computed with minepy 1.2.6); the few numbers written below were computed with minepy 1.2.6 too
(built out of tree, Python 3.11, numpy 1.26), never with this package.
"""

from __future__ import annotations

import gzip
import importlib
import json
import math
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from functools import partial
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from smic.kernels.mic import grid_plan, mic
from smic.kernels.mic_tensor import tensor_mic

mic_module = importlib.import_module("smic.kernels.mic")
mic_cpu = importlib.import_module("smic.kernels.mic_cpu")
mic_tensor = importlib.import_module("smic.kernels.mic_tensor")
cpu_run = importlib.import_module("smic.kernels.cpu_run")

DATA = Path(__file__).resolve().parent / "data" / "mic_minepy.json.gz"
TOL = 1e-6

# MIC of a vector with itself (no ties), minepy 1.2.6; the same for both parameter sets.
IDENTICAL = {
    16: 1.0000000000000002,
    25: 0.9988455359952016,
    49: 0.9996995428565169,
    64: 0.9999999999999996,
    100: 1.0000000000000009,
    150: 1.0000000000000002,
}


@pytest.fixture(scope="module")
def fixture_cases() -> list[dict]:
    with gzip.open(DATA, "rt") as f:
        return json.load(f)["cases"]


def _batches(cases: list[dict], key=lambda c: (len(c["x"]), c["alpha"], c["c"])):
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for case in cases:
        groups[key(case)].append(case)
    for k, group in sorted(groups.items()):
        x = torch.tensor([c["x"] for c in group], dtype=torch.float64)
        y = torch.tensor([c["y"] for c in group], dtype=torch.float64)
        ref = torch.tensor([c["mic"] for c in group], dtype=torch.float64)
        yield k, group[0]["alpha"], group[0]["c"], x, y, ref


def _worst(cases: list[dict], **kwargs) -> float:
    worst = 0.0
    for _, alpha, c, x, y, ref in _batches(cases):
        got = mic(x, y, alpha, c, **kwargs).double()
        worst = max(worst, (got - ref).abs().max().item())
    return worst


def test_fixture_has_all_cases(fixture_cases: list[dict]) -> None:
    assert len(fixture_cases) == 1800


def test_fixture_float64(fixture_cases: list[dict]) -> None:
    assert _worst(fixture_cases) < 1e-12


def test_fixture_float32(fixture_cases: list[dict]) -> None:
    assert _worst(fixture_cases, dtype=torch.float32) < TOL


def test_fixture_float32_inputs(fixture_cases: list[dict]) -> None:
    # the fixture's values are float32 numbers: as float32 inputs they give the same MICs
    for _, alpha, c, x, y, ref in _batches(fixture_cases):
        got = mic(x.float(), y.float(), alpha, c)
        assert got.dtype == torch.float64
        assert (got - ref).abs().max().item() < 1e-12


def test_fixture_by_kind(fixture_cases: list[dict]) -> None:
    # batches of one kind: those without ties take the tie-free shortcuts
    for _, alpha, c, x, y, ref in _batches(fixture_cases, key=lambda c: (len(c["x"]), c["alpha"], c["c"], c["kind"])):
        assert (mic(x, y, alpha, c) - ref).abs().max().item() < 1e-12


def _tensor_engine(x: Tensor, y: Tensor, alpha: float, c: float, dtype: torch.dtype = torch.float64) -> Tensor:
    return tensor_mic(x, y, grid_plan(x.shape[-1], alpha, c), dtype)


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fixture_tensor_engine(
    fixture_cases: list[dict], monkeypatch: pytest.MonkeyPatch, sync: bool, dtype: torch.dtype
) -> None:
    # the engine a GPU runs (torch.sort, cumulative sums as products; with sync=False no value is
    # read back, so no shortcut), here on the CPU
    monkeypatch.setattr(mic_tensor, "SYNC_ON_GPU", sync)
    for _, alpha, c, x, y, ref in _batches(fixture_cases):
        got = _tensor_engine(x, y, alpha, c, dtype).double()
        assert (got - ref).abs().max().item() < (1e-12 if dtype == torch.float64 else TOL)


def test_fixture_without_the_packed_two_row_table(fixture_cases: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    # the CPU kernel's general segment weights, as for n > PACKED_MAX_N
    monkeypatch.setattr(mic_cpu, "PACKED_MAX_N", 0)
    mic_cpu.plan_tables.cache_clear()  # tables are built per n and cached
    try:
        assert mic_cpu.plan_tables(49, ((2, 3, 30),))[0][1].size == 0
        assert _worst(fixture_cases) < 1e-12
    finally:
        mic_cpu.plan_tables.cache_clear()


def test_long_vectors_agree_between_engines() -> None:
    # n past the kernel's packed table (PACKED_MAX_N): no golden value, the two engines must agree
    g = torch.Generator().manual_seed(11)
    x = torch.randn(3, 1100, generator=g, dtype=torch.float64)
    y = torch.cat(
        [
            x[:1] ** 3,
            torch.randn(1, 1100, generator=g, dtype=torch.float64),
            x[2:] + 0.5 * torch.randn(1, 1100, generator=g, dtype=torch.float64),
        ]
    )
    y[1, :500] = y[1, :500].round()  # ties in one vector
    assert torch.allclose(mic(x, y), _tensor_engine(x, y, 0.5, 10), atol=1e-12, rtol=0)


def test_chunking_changes_nothing(fixture_cases: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [c for c in fixture_cases if len(c["x"]) == 49 and c["alpha"] == 0.5]
    ((_, alpha, c, x, y, ref),) = list(_batches(cases))
    whole = _tensor_engine(x, y, alpha, c)
    monkeypatch.setattr(mic_tensor, "CHUNK_PAIRS", 7)
    chunked = _tensor_engine(x, y, alpha, c)
    assert torch.equal(whole, chunked)
    assert (chunked - ref).abs().max().item() < 1e-12


@pytest.mark.parametrize("n", [1, 2, 16, 17, 129, 150, 1000])
def test_kernel_merge_sort_is_numpys_stable_argsort(n: int) -> None:
    # the kernels' sort for n > RANK_BY_COUNTING (numpy's sorts do not compile for CUDA)
    sort = numba.njit(lambda v, order, scratch: mic_cpu._merge_order(v, order, scratch))
    rng = np.random.default_rng(n)
    for v in (rng.integers(0, 5, n).astype(np.float64), rng.standard_normal(n)):  # ties, none
        order, scratch = np.empty(n, np.int64), np.empty(n, np.int64)
        sort(v, order, scratch)
        assert np.array_equal(order, np.argsort(v, kind="stable"))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 16, 49, 128, 129, 200])
def test_kernel_sort_orders_and_groups_like_numpy(n: int) -> None:
    # ranks by counting (n <= RANK_BY_COUNTING; tied or not) or the merge sort: the stable order,
    # the tie group of each sample numbered in sorted order, the groups' sizes
    sort = numba.njit(lambda v, order, label, sizes: mic_cpu._sort_axis(v, order, label, sizes))
    rng = np.random.default_rng(n)
    signed_zeros = rng.choice(np.array([0.0, -0.0, 1.0, -np.inf, np.inf]), n)  # -0 and 0 tie
    for v in (rng.standard_normal(n), rng.integers(0, 3, n).astype(np.float64), signed_zeros):
        order, label, sizes = (np.full(n, -7, np.int64) for _ in range(3))
        groups = sort(v, order, label, sizes)
        values, group, counts = np.unique(v, return_inverse=True, return_counts=True)
        assert np.array_equal(order, np.argsort(v, kind="stable"))
        assert groups == len(values) and np.array_equal(label, group) and np.array_equal(sizes[:groups], counts)


def test_kernel_compiles_one_signature_for_float32_and_float64_inputs() -> None:
    # float32 inputs are passed as float64 (the same values): one compile serves both
    x = torch.randn(3, 49, dtype=torch.float64)
    y = x + torch.randn(3, 49, dtype=torch.float64)
    assert torch.equal(mic(x.float(), y.float()), mic(x.float().double(), y.float().double()))
    assert len(mic_cpu._mic_blocks.signatures) == 1


@numba.njit(nogil=True)
def _take_blocks(taken: np.ndarray, blocks: int, runs: np.ndarray) -> None:
    block = cpu_run.take_next(taken)
    while block < blocks:
        runs[block] += 1
        block = cpu_run.take_next(taken)


def test_blocks_are_each_taken_once_on_any_number_of_threads() -> None:
    for blocks, threads in ((0, 4), (1, 4), (5, 1), (7, 3), (10_000, 2), (10_000, 8)):
        taken, runs = np.zeros(1, np.int64), np.zeros(blocks, np.int64)
        cpu_run.run_threads(threads, partial(_take_blocks, taken, blocks, runs), _take_blocks, "a test", 0)
        assert (runs == 1).all() and taken[0] == blocks + threads  # each thread stopped at its first miss

    def failing() -> None:
        raise RuntimeError("a thread failed")

    with pytest.raises(RuntimeError, match="a thread failed"):
        cpu_run.run_threads(3, failing, _take_blocks, "a test", 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_kernel_runs_in_a_forked_child() -> None:
    # the threads of the parent's pool do not exist in a child: the child makes a pool of its own
    g = np.random.default_rng(3)
    x, y = g.standard_normal((4 * mic_cpu.BLOCK_PAIRS, 49)), g.standard_normal((4 * mic_cpu.BLOCK_PAIRS, 49))
    jobs = mic_module.kernel_plan(grid_plan(49, 0.5, 10))
    expected = mic_cpu.mic_pairs(x, y, jobs, 2)  # the parent's pool exists from here
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its MICs through the pipe, then out without cleanup
        try:
            os.write(write, mic_cpu.mic_pairs(x, y, jobs, 2).tobytes())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        got = np.frombuffer(pipe.read(), dtype=np.float64)
    os.waitpid(child, 0)
    assert np.array_equal(got, expected)


NOTICE_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from tiny_kernel import twice
    from smic.kernels.cpu_run import compile_notice

    for _ in range(2):  # a compile (or a cache load) the first time only
        with compile_notice(twice, "a tiny kernel", 1):
            assert twice(2.0) == 4.0
""")


def test_compile_notice_is_printed_on_a_compile_only(tmp_path: Path) -> None:
    # once by the process that compiles, not by one that finds the kernel in numba's cache
    (tmp_path / "tiny_kernel.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef twice(v):\n    return 2 * v\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    line = "compiling a tiny kernel, once per machine (about 1 s)...\n"
    for expected in (line, ""):
        run = subprocess.run(
            [sys.executable, "-c", NOTICE_RUN, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stderr
        assert run.stderr == expected


def test_kernel_blocks_and_threads_change_nothing(fixture_cases: list[dict]) -> None:
    cases = [c for c in fixture_cases if len(c["x"]) == 49 and c["alpha"] == 0.5]
    ((_, alpha, c, x, y, ref),) = list(_batches(cases))
    repeats = 2 * mic_cpu.BLOCK_PAIRS // len(cases) + 1  # several blocks of pairs
    x, y, ref = x.repeat(repeats, 1), y.repeat(repeats, 1), ref.repeat(repeats)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mic(x, y, alpha, c)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, mic(x, y, alpha, c))
    assert (one - ref).abs().max().item() < 1e-12


# the fixture's (n, alpha, c) groups: one CUDA kernel build each (10-20 s), so one test each,
# which pytest-xdist can spread over processes (gpu_check.sh runs them with -n)
GROUPS = [(n, alpha, c) for n in (16, 25, 49, 64, 100, 150) for alpha, c in ((0.5, 10), (0.6, 15))]


def test_fixture_groups(fixture_cases: list[dict]) -> None:
    assert sorted({(len(case["x"]), case["alpha"], case["c"]) for case in fixture_cases}) == GROUPS


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("group", GROUPS, ids=[f"n{n}-a{alpha}-c{c}" for n, alpha, c in GROUPS])
def test_fixture_cuda_kernel_matches_cpu(fixture_cases: list[dict], group: tuple[int, float, int]) -> None:
    from smic.kernels import cuda_launch

    if (reason := cuda_launch.unavailable(mic_module.CUDA_KERNEL)) is not None:
        pytest.skip(f"smic.mic uses the tensor engine here: {reason}")
    from smic.kernels import mic_cuda as kernel

    n, alpha, c = group
    if not kernel.fits(n, mic_module.kernel_plan(grid_plan(n, alpha, c))):
        assert group == (150, 0.6, 15)  # left to the tensor engine (tested below)
        return
    [(_, _, _, x, y, ref)] = _batches(
        [case for case in fixture_cases if (len(case["x"]), case["alpha"], case["c"]) == group]
    )
    for dtype in (torch.float64, torch.float32):
        # float32 inputs (the fixture's values are float32 numbers): one kernel build per n
        gpu = mic(x.float().cuda(), y.float().cuda(), alpha, c, dtype=dtype)
        assert gpu.device.type == "cuda" and gpu.dtype == dtype
        cpu = mic(x, y, alpha, c, dtype=dtype)
        # both kernels sum in float64 in the same order: the same numbers
        diff = (gpu.cpu().double() - cpu.double()).abs().max().item()
        assert diff < 1e-12, f"{group} {dtype}: GPU and CPU differ by {diff}"
        assert (gpu.cpu().double() - ref).abs().max().item() < TOL
    assert cuda_launch.unavailable(mic_module.CUDA_KERNEL) is None, "the kernel failed: see the warning"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("sync", [True, False])
def test_fixture_cuda_tensor_engine(fixture_cases: list[dict], monkeypatch: pytest.MonkeyPatch, sync: bool) -> None:
    # the engine of GPUs without numba's CUDA target
    monkeypatch.setattr(mic_tensor, "SYNC_ON_GPU", sync)
    for _, alpha, c, x, y, ref in _batches(fixture_cases):
        for dtype in (torch.float64, torch.float32):
            got = _tensor_engine(x.cuda(), y.cuda(), alpha, c, dtype).cpu().double()
            assert (got - ref).abs().max().item() < (1e-12 if dtype == torch.float64 else TOL)


# --- golden values beyond the fixture (minepy 1.2.6) ------------------------------------------

SMALL = [  # n = 2..7: minepy's B is 4 there
    ([0.0, 1.0], [1.0, 0.0], 0.5, 10, 1.0),
    ([0.0, 1.0, 2.0], [0.0, 2.0, 1.0], 0.5, 10, 0.9182958340544897),
    ([3.0, 1.0, 2.0, 0.0], [0.0, 1.0, 3.0, 2.0], 0.5, 10, 0.3112781244591329),
    ([0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 3.0, 4.0, 2.0], 0.6, 15, 0.9709505944546685),
    ([0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0], [5.0, 4.0, 4.0, 1.0, 2.0, 2.0, 0.0], 0.5, 10, 0.9852281360342512),
]

# 40 values rounded to one decimal (ties, and -0.0 beside 0.0), y = x^2 + noise, also rounded
X40 = [
    0.0,
    0.3,
    -0.3,
    -0.9,
    -0.5,
    -1.0,
    0.1,
    1.3,
    -0.5,
    -0.6,
    0.5,
    0.4,
    0.1,
    -0.9,
    -0.0,
    0.7,
    -1.3,
    -0.5,
    -1.9,
    -1.3,
    -1.8,
    -0.2,
    -1.3,
    0.3,
    0.2,
    -0.2,
    -2.5,
    -0.5,
    -0.0,
    0.1,
    -1.5,
    -0.5,
    -1.0,
    -0.8,
    1.1,
    -0.8,
    -0.0,
    0.9,
    -0.6,
    -0.1,
]
Y40 = [
    0.0,
    0.1,
    -0.3,
    0.8,
    0.7,
    0.5,
    0.3,
    1.7,
    0.1,
    1.0,
    0.5,
    -0.2,
    0.0,
    1.0,
    -0.1,
    0.7,
    1.7,
    0.5,
    4.0,
    1.5,
    3.3,
    -0.1,
    1.7,
    -0.3,
    -0.1,
    -0.0,
    6.5,
    0.6,
    -0.4,
    -0.2,
    2.4,
    -0.3,
    0.9,
    0.6,
    1.6,
    0.8,
    -0.1,
    0.7,
    0.3,
    0.5,
]
PARAMETERS40 = [  # alpha >= 4 sets B directly; small c forces superclumps
    (4, 5, 0.31374381570672244),
    (7.5, 0.7, 0.2315927693695624),
    (1.0, 1, 0.7768270547359769),
    (0.3, 2, 0.2810623467458538),
    (20, 4, 0.7768270547359766),
]


@pytest.mark.parametrize("x, y, alpha, c, expected", SMALL)
def test_small_n(x: list[float], y: list[float], alpha: float, c: float, expected: float) -> None:
    got = mic(torch.tensor(x), torch.tensor(y), alpha, c).item()
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("alpha, c, expected", PARAMETERS40)
def test_other_parameters(alpha: float, c: float, expected: float) -> None:
    got = mic(torch.tensor(X40), torch.tensor(Y40), alpha, c).item()
    assert got == pytest.approx(expected, abs=1e-12)


def test_grid_plan_follows_minepy() -> None:
    # n = 49, alpha 0.5: B = 7, grids 2x2, 2x3, 3x2; c = 10 -> at most 30 and 20 clumps
    assert [(j.rows, j.max_cols, j.k_hat) for j in grid_plan(49, 0.5, 10)] == [(2, 3, 30), (3, 2, 20)]
    assert [(j.rows, j.max_cols) for j in grid_plan(16, 0.5, 10)] == [(2, 2)]
    assert grid_plan(3, 9.0, 1.0) == ()  # B = 3 < 4: no grid, MIC 0 as in minepy


# --- properties --------------------------------------------------------------------------------

SIZES = st.sampled_from([16, 25, 49, 64])
PARAMS = st.sampled_from([(0.5, 10), (0.6, 15)])


def _vectors(n: int, ties: bool) -> st.SearchStrategy:
    # multiples of 1/64 up to 1e4: the maps of the invariance test stay strictly increasing
    # in floating point on them
    if ties:
        element = st.integers(-6, 6).map(float)
    else:
        element = st.integers(-640_000, 640_000).map(lambda k: k / 64)
    return st.lists(element, min_size=n, max_size=n)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Tensor, Tensor, float, float]:
    n = draw(SIZES)
    ties = draw(st.booleans())
    x = torch.tensor(draw(_vectors(n, ties)), dtype=torch.float64)
    y = torch.tensor(draw(_vectors(n, ties)), dtype=torch.float64)
    alpha, c = draw(PARAMS)
    return x, y, alpha, c


@settings(max_examples=60, deadline=None)
@given(pairs())
def test_symmetric_and_in_range(case) -> None:
    x, y, alpha, c = case
    both = mic(torch.stack([x, y]), torch.stack([y, x]), alpha, c)
    assert both[0].item() == pytest.approx(both[1].item(), abs=1e-12)
    assert -1e-12 <= both[0].item() <= 1 + 1e-12


@settings(max_examples=40, deadline=None)
@given(pairs())
def test_invariant_to_increasing_maps(case) -> None:
    x, y, alpha, c = case
    base = mic(x, y, alpha, c).item()
    # strictly increasing maps keep every rank and tie: the MIC cannot move
    assert mic(torch.exp(x / 1e4), y, alpha, c).item() == pytest.approx(base, abs=1e-12)
    assert mic(x, 3.0 * y**3 - 7.0, alpha, c).item() == pytest.approx(base, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(pairs(), st.floats(-1e3, 1e3, allow_nan=False))
def test_constant_vector_gives_zero(case, value: float) -> None:
    x, _, alpha, c = case
    constant = torch.full_like(x, value)
    assert mic(x, constant, alpha, c).item() == 0.0
    assert mic(constant, x, alpha, c).item() == 0.0


@settings(max_examples=30, deadline=None)
@given(
    SIZES.flatmap(lambda n: st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n, unique=True)),
    PARAMS,
)
def test_identical_vectors_give_minepy_value(values: list[float], params: tuple[float, float]) -> None:
    x = torch.tensor(values, dtype=torch.float64)
    assert mic(x, x, *params).item() == pytest.approx(IDENTICAL[len(values)], abs=1e-12)


def test_identical_vectors_n49() -> None:
    x = torch.randn(8, 49, generator=torch.Generator().manual_seed(0))
    got = mic(x, x)
    assert torch.allclose(got, torch.full((8,), 0.9996995428565169, dtype=torch.float64), atol=1e-12)


# --- shapes and dtypes ---------------------------------------------------------------------------


def test_batch_shapes_and_broadcasting() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 25, generator=g)
    y = x + torch.randn(2, 3, 5, 25, generator=g)
    got = mic(x, y)
    assert got.shape == (2, 3, 5)
    flat = mic(x.reshape(-1, 25), y.reshape(-1, 25))
    assert torch.equal(got.reshape(-1), flat)
    # leading dimensions broadcast: one y against many x
    many = mic(x, y[0, 0, 0])
    assert many.shape == (2, 3, 5)
    assert many[0, 0, 0].item() == got[0, 0, 0].item()
    # a single pair gives a 0-d tensor
    assert mic(x[0, 0, 0], y[0, 0, 0]).shape == ()
    # an empty batch gives an empty result
    assert mic(x[:0], y[:0]).shape == (0, 3, 5)


def test_dtypes_and_devices_of_the_result() -> None:
    x = torch.randn(4, 49, dtype=torch.float16)
    y = torch.randn(4, 49, dtype=torch.bfloat16)
    ref = mic(x.double(), y.double())
    assert torch.equal(mic(x, y), ref)  # half inputs are compared exactly like float64 ones
    assert mic(x, y, dtype=torch.float32).dtype == torch.float32
    assert mic(x.double(), y.double(), dtype=torch.float32).sub(ref.float()).abs().max() < TOL


def test_inputs_that_need_grad_or_are_views() -> None:
    x = torch.randn(6, 49, requires_grad=True)
    y = torch.randn(49, 6).t()  # not contiguous
    assert mic(x, y).shape == (6,)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, -0.5, 1.5, 3.99, math.nan])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        mic(torch.randn(10), torch.randn(10), alpha=alpha)


@pytest.mark.parametrize("c", [0.0, -1.0, math.nan, math.inf])
def test_bad_c(c: float) -> None:
    with pytest.raises(ValueError, match="c must"):
        mic(torch.randn(10), torch.randn(10), c=c)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n >= 2"):
        mic(torch.randn(3, 1), torch.randn(3, 1))
    with pytest.raises(ValueError, match="same n"):
        mic(torch.randn(3, 10), torch.randn(3, 11))
    with pytest.raises(ValueError, match="broadcast"):
        mic(torch.randn(3, 10), torch.randn(4, 10))
    with pytest.raises(ValueError, match="floating"):
        mic(torch.arange(10), torch.randn(10))
    with pytest.raises(ValueError, match="0-d"):
        mic(torch.tensor(1.0), torch.tensor(2.0))
    with pytest.raises(ValueError, match=r"torch\.Tensor"):
        mic(np.zeros(10), torch.randn(10))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        mic(torch.randn(10), torch.randn(10), dtype=torch.float16)


@pytest.mark.parametrize("name", ["x", "y"])
def test_nan_is_named(name: str) -> None:
    x, y = torch.randn(2, 16), torch.randn(2, 16)
    (x if name == "x" else y)[1, 3] = math.nan
    with pytest.raises(ValueError, match=f"^{name} contains NaN"):
        mic(x, y)


def test_infinities_are_ordinary_values() -> None:
    # minepy sorts +-inf like any value; so do we
    x = torch.tensor(X40)
    y = torch.tensor(Y40)
    x_inf = x.clone()
    x_inf[x == x.max()] = math.inf
    x_inf[x == x.min()] = -math.inf
    assert mic(x_inf, y).item() == mic(x, y).item()

"""DeepWSD's compiled column distances (smic.kernels.wsd_cpu) against a hand-computed column and the
torch form (POT's wasserstein_1d semantics, itself tested in test_deepwsd.py), in every layout
DeepWSD uses; the CUDA kernel compiled to PTX where numba finds NVVM, and run on a GPU."""

from __future__ import annotations

import importlib
import math

import numba
import pytest
import torch

from smic.kernels import cuda_launch, wsd_cpu
from smic.kernels.wsd import _torch_column_distances, column_distances


def _torch_form(x: torch.Tensor, y: torch.Tensor, x_total: torch.Tensor, y_total: torch.Tensor) -> torch.Tensor:
    """The torch form on (..., m, cols) columns with totals of shape (...)."""
    return _torch_column_distances(
        x.transpose(-1, -2), y.transpose(-1, -2), x_total[..., None, None], y_total[..., None, None]
    )


def _columns(seed: int, shape: tuple[int, ...], zeros: float = 0.5) -> torch.Tensor:
    """ReLU-like float64 values: many exact zeros and repeated values (tied cumulative weights)."""
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(shape, generator=g, dtype=torch.float64)
    values[torch.rand(shape, generator=g) < zeros] = 0.0
    values[torch.rand(shape, generator=g) < 0.2] = 0.5
    return values


def test_hand_computed_column() -> None:
    # totals 1 - 1e-6 make the weights x^2: p = (0.2, 0, 0.1) and q = (0, 0.3, 0.3), whose cost
    # is 0.3 (POT 0.9.7's ot.wasserstein_1d, test_deepwsd.py); L2 = sum (x - y)^2
    x = torch.tensor([0.2, 0.0, 0.1], dtype=torch.float64).sqrt().view(1, 3, 1)
    y = torch.tensor([0.0, 0.3, 0.3], dtype=torch.float64).sqrt().view(1, 3, 1)
    total = torch.tensor([1 - 1e-6], dtype=torch.float64)
    l2 = float(((x - y) ** 2).sum())
    expected = 0.3 + l2 / (math.sqrt(math.exp(-1 / 10.3)) * 10.3**2)
    assert wsd_cpu.distances(x, y, total, total).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("samples", [16, 256])  # windows of 4x4 and 16x16
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.95])
def test_kernel_equals_the_torch_form(samples: int, zeros: float) -> None:
    x, y = _columns(1, (3, samples, 70), zeros), _columns(2, (3, samples, 70), zeros)
    x_total, y_total = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    got = wsd_cpu.distances(x, y, x_total, y_total)
    assert torch.allclose(got, _torch_form(x, y, x_total, y_total), rtol=1e-12, atol=0)


def test_identical_and_all_zero_columns() -> None:
    x = _columns(3, (2, 16, 9))
    x[:, :, 0] = 0.0
    total = x.sum(dim=(1, 2))
    assert torch.equal(wsd_cpu.distances(x, x, total, total), torch.zeros(2, 9, dtype=torch.float64))


def test_float32_inputs_sum_in_float64() -> None:
    x, y = _columns(4, (2, 16, 500)), _columns(5, (2, 16, 500))
    x_total, y_total = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    exact = wsd_cpu.distances(x, y, x_total, y_total)
    got = wsd_cpu.distances(x.float(), y.float(), x_total.float(), y_total.float())
    assert got.dtype == torch.float64 and torch.allclose(got, exact, rtol=1e-6)


def test_blocks_of_columns_and_threads_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # blocks across image rows, of any size, taken by any number of threads: the same numbers
    x, y = _columns(14, (3, 16, 1000)), _columns(15, (3, 16, 1000))
    x_total, y_total = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    whole = wsd_cpu.distances(x, y, x_total, y_total)
    monkeypatch.setattr(wsd_cpu, "BLOCK_COLUMNS", 7)
    monkeypatch.setattr(wsd_cpu, "BLOCK_VALUES", 16 * 7)
    threads = torch.get_num_threads()
    try:
        for count in (1, 3):
            torch.set_num_threads(count)
            assert torch.equal(wsd_cpu.distances(x, y, x_total, y_total), whole)
    finally:
        torch.set_num_threads(threads)
    assert torch.allclose(whole, _torch_form(x, y, x_total, y_total), rtol=1e-12, atol=0)


def test_layouts_of_deepwsd() -> None:
    # stage columns (N, m, cols) with per-image totals; patch columns (N, P, m, C) with the
    # per-image totals broadcast over patches; strided inputs and float32 results
    x, y = _columns(6, (2, 16, 40)), _columns(7, (2, 16, 40))
    x_total, y_total = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    stage = _torch_form(x, y, x_total, y_total)
    assert torch.allclose(column_distances(x, y, x_total, y_total), stage, rtol=1e-12)
    patches_x, patches_y = x.view(2, 5, 16, 8), y.view(2, 5, 16, 8)
    got = column_distances(patches_x, patches_y, x_total.view(2, 1), y_total.view(2, 1))
    expected = _torch_form(patches_x, patches_y, x_total.view(2, 1).expand(2, 5), y_total.view(2, 1).expand(2, 5))
    assert got.shape == (2, 5, 8) and torch.allclose(got, expected, rtol=1e-12)
    strided = x.float().transpose(1, 2).contiguous().transpose(1, 2)
    assert not strided.is_contiguous()
    got = column_distances(strided, y.float(), x_total.float(), y_total.float())
    assert got.dtype == torch.float32 and torch.allclose(got.double(), stage, rtol=1e-6)


def test_cuda_kernel_compiles() -> None:
    cuda = pytest.importorskip("numba.cuda", reason="numba's CUDA target cannot be imported")
    from numba.cuda.cudadrv.error import CudaSupportError, NvvmSupportError

    signature = (
        numba.float32[:, :, ::1],
        numba.float32[:, :, ::1],
        numba.float64[::1],
        numba.float64[::1],
        numba.float64[:, ::1],
    )
    try:
        ptx, _ = cuda.compile_ptx(importlib.import_module("smic.kernels.wsd_cuda").kernel.py_func, signature, cc=(8, 0))
    except (CudaSupportError, NvvmSupportError) as err:  # a typing error still fails the test
        pytest.skip(
            f"numba cannot compile CUDA code here without a GPU ({type(err).__name__}; "
            "numba-cuda with NVVM and NVRTC can)"
        )
    assert ptx.count(".entry") == 1 and "__local_depot" not in ptx  # no local memory: registers only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_kernel_equals_cpu() -> None:
    if (reason := cuda_launch.unavailable(wsd_cpu.CUDA_KERNEL)) is not None:
        pytest.skip(f"DeepWSD uses torch operations on the GPU here: {reason}")
    wsd_cuda = importlib.import_module("smic.kernels.wsd_cuda")
    x, y = _columns(8, (3, 16, 1000)), _columns(9, (3, 16, 1000))
    totals = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    for dtype in (torch.float64, torch.float32):
        cpu = wsd_cpu.distances(x.to(dtype), y.to(dtype), *(t.to(dtype) for t in totals))
        gpu = wsd_cuda.distances(x.to(dtype).cuda(), y.to(dtype).cuda(), *(t.to(dtype).cuda() for t in totals))
        assert torch.allclose(gpu.cpu(), cpu, rtol=1e-12)  # both sum in float64 (FMA aside)
    assert cuda_launch.unavailable(wsd_cpu.CUDA_KERNEL) is None, "the kernel failed: see the warning"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_torch_fallback_equals_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # what runs on GPUs without numba-cuda, or after the kernel failed: torch operations, a warning
    monkeypatch.setattr(cuda_launch, "_failures", {wsd_cpu.CUDA_KERNEL: "a failure recorded by the test"})
    monkeypatch.setattr(cuda_launch, "_warned", set())
    x, y = _columns(10, (2, 16, 300)), _columns(11, (2, 16, 300))
    x_total, y_total = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    with pytest.warns(
        UserWarning, match="DeepWSD's column distances on the GPU use slower torch operations: a failure recorded"
    ):
        gpu = column_distances(x.cuda(), y.cuda(), x_total.cuda(), y_total.cuda())
    assert torch.allclose(gpu.cpu(), wsd_cpu.distances(x, y, x_total, y_total), rtol=1e-12)


def test_gradients_flow_through_the_torch_form() -> None:
    # a loss needs gradients, which the compiled kernel has not: the torch form runs; its
    # gradient matches central differences of the kernel's values
    x, y = _columns(12, (1, 16, 6), zeros=0.0), _columns(13, (1, 16, 6), zeros=0.0)
    x_total, y_total = x.sum(dim=(1, 2)), y.sum(dim=(1, 2))
    x.requires_grad_(True)
    column_distances(x, y, x_total, y_total).sum().backward()
    step = 1e-6
    for k, j in [(0, 0), (5, 2), (15, 5)]:
        up, down = x.detach().clone(), x.detach().clone()
        up[0, k, j] += step
        down[0, k, j] -= step
        numeric = (
            wsd_cpu.distances(up, y, x_total, y_total).sum() - wsd_cpu.distances(down, y, x_total, y_total).sum()
        ) / (2 * step)
        assert x.grad[0, k, j].item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-9)


def test_empty_column_sets() -> None:
    x = torch.zeros(2, 16, 0)
    assert column_distances(x, x, torch.ones(2), torch.ones(2)).shape == (2, 0)

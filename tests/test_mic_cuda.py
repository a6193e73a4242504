"""The CUDA kernel of smic.mic (smic.kernels.mic_cuda) where no GPU is needed: the pass each thread runs,
with the kernel's int32 work arrays of the kernel's shapes, against minepy 1.2.6 on the CPU (with
numba's bounds checks on, so the shapes are shown to suffice), and the kernel compiled to PTX
where numba finds NVVM. On a GPU, tests/test_mic.py and tests/test_gpu.py run it for real.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest

mic_cuda = pytest.importorskip("smic.kernels.mic_cuda", reason="numba's CUDA target cannot be imported")
from numba.cuda.cudadrv.error import CudaSupportError, NvvmSupportError  # noqa: E402

mic_module = importlib.import_module("smic.kernels.mic")
cuda_launch = importlib.import_module("smic.kernels.cuda_launch")

DATA = Path(__file__).resolve().parent / "data" / "mic_minepy.json.gz"

# Each fixture case through the thread pass, one call per pair (the kernel's grid of threads),
# reusing one pair of work arrays as a thread's local memory would be: uninitialised each time.
# Added: y alternating 0, 1 along x = 0..n-1 (minepy 1.2.6, MINE(0.5, 10): one clump per sample).
THREAD_PASS = textwrap.dedent("""
    ALTERNATING = {49: 0.023414319671026432, 150: 0.006318823663065089}
    import gzip, json, sys
    import numpy as np
    from smic.kernels import mic_cuda
    from smic.kernels.mic import grid_plan, kernel_plan

    worst = 0.0
    cases = json.load(gzip.open(sys.argv[1]))["cases"]
    for n, value in ALTERNATING.items():  # n clumps before superclumps: the largest boundary index
        cases.append({"x": list(range(n)), "y": [k % 2 for k in range(n)], "alpha": 0.5, "c": 10, "mic": value})
    for key in sorted({(len(c["x"]), c["alpha"], c["c"]) for c in cases}):
        group = [c for c in cases if (len(c["x"]), c["alpha"], c["c"]) == key]
        n, jobs = key[0], kernel_plan(grid_plan(*key))
        plan = mic_cuda.kernel_arrays(n, jobs, np.asarray)
        shape_ints, shape_floats = mic_cuda.work_shapes(n, jobs)
        x = np.array([c["x"] for c in group], dtype=np.float32)
        y = np.array([c["y"] for c in group], dtype=np.float32)
        for i, case in enumerate(group):
            ints = np.random.randint(-9, 9, shape_ints).astype(np.int32)
            floats = np.random.randn(*shape_floats)
            worst = max(worst, abs(mic_cuda.pair_mic(i, n, x, y, plan, ints, floats) - case["mic"]))
    print(worst)
""")


def test_thread_pass_matches_minepy(tmp_path: Path) -> None:
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    run = subprocess.run(
        [sys.executable, "-c", THREAD_PASS, str(DATA)], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) < 1e-12


def _plan(n: int, alpha: float, c: float) -> tuple[tuple[int, int, int], ...]:
    return mic_module.kernel_plan(mic_module.grid_plan(n, alpha, c))


def test_work_shapes_and_limit() -> None:
    plan = _plan(49, 0.5, 10)  # the attention's MICs: rows 2 and 3, up to 3 columns
    assert mic_cuda.work_shapes(49, plan) == ((15 + 3 + 2, 50), (2 + 3 + 2, 50))
    assert mic_cuda.fits(150, _plan(150, 0.5, 10))  # 25 KiB a thread
    assert not mic_cuda.fits(150, _plan(150, 0.6, 15))  # 32.4 KiB: left to the tensor engine
    beyond = importlib.import_module("smic.kernels.mic_cpu").PACKED_MAX_N + 1  # where the packed table is empty
    assert not mic_cuda.fits(beyond, _plan(beyond, 0.1, 1))  # even with the fewest rows and columns


def test_kernel_compiles_for_cuda() -> None:
    plan = _plan(49, 0.5, 10)
    arrays = mic_cuda.kernel_arrays(49, plan, lambda a: a)
    kernel = mic_cuda._kernel(49, *mic_cuda.work_shapes(49, plan), None)
    signature = (numba.float32[:, ::1], numba.float32[:, ::1], numba.typeof(arrays), numba.float64[::1])
    try:
        ptx, _ = mic_cuda.cuda.compile_ptx(kernel.py_func, signature, cc=(8, 0))
    except (CudaSupportError, NvvmSupportError) as err:  # a typing error still fails the test
        pytest.skip(
            f"numba cannot compile CUDA code here without a GPU ({type(err).__name__}; "
            "numba-cuda with NVVM and NVRTC can)"
        )
    # one kernel whose local memory is its two work arrays: (15 + 3 + 2) x 50 int32, 7 x 50 float64
    assert ptx.count(".entry") == 1 and f"__local_depot0[{4 * 20 * 50 + 8 * 7 * 50}]" in ptx


def test_block_size_fills_every_multiprocessor() -> None:
    assert mic_cuda.block_size(180_000, 132) == mic_cuda.THREADS_PER_BLOCK  # a stride-1 map
    assert mic_cuda.block_size(4_224, 132) == 32  # one image pair at stride 7: 132 blocks
    assert mic_cuda.block_size(10_000, 132) == 64  # 157 blocks (128 threads: 79 blocks)
    assert mic_cuda.block_size(5, 132) == 32


def test_launches_silence_numba_cudas_low_occupancy_warning() -> None:
    # numba-cuda warns with a class of its own, not numba's (which it does not subclass)
    errors = pytest.importorskip("numba.cuda.core.errors", reason="numba-cuda not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cuda_launch._recorded("test"):
            warnings.warn(
                "Grid size 1 will likely result in GPU under-utilization", errors.NumbaPerformanceWarning, stacklevel=2
            )


def _kernel_choice() -> object:
    """What smic.mic's CUDA branch gets: None sends it to the tensor engine."""
    return cuda_launch.attempt(mic_module.CUDA_KERNEL, mic_module.CUDA_FALLBACK, lambda: "the kernel ran")


@pytest.fixture
def fresh_kernel_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """No kernel failure recorded nor fallback announced yet, for this test only."""
    monkeypatch.setattr(cuda_launch, "_failures", {})
    monkeypatch.setattr(cuda_launch, "_warned", set())


def test_missing_cuda_target_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch, fresh_kernel_choice) -> None:
    monkeypatch.setattr(cuda_launch, "_missing_target", lambda: "numba finds no CUDA driver")
    with pytest.warns(UserWarning, match="tensor engine: numba finds no CUDA driver"):
        assert _kernel_choice() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        assert _kernel_choice() is None


def test_a_failed_launch_is_recorded_and_ends_in_the_tensor_engine(fresh_kernel_choice) -> None:
    if cuda_launch.unavailable(mic_module.CUDA_KERNEL) is None:
        pytest.skip("a working CUDA target here: the launch below would run")
    plan = _plan(16, 0.5, 10)
    x = np.zeros((3, 16), np.float32)
    with pytest.raises(cuda_launch.KernelUnavailable, match="MIC CUDA kernel failed"):
        mic_cuda.run(x, x, plan, mic_cuda.kernel_arrays(16, plan, lambda a: a), np.zeros(3), 32)
    assert cuda_launch.unavailable(mic_module.CUDA_KERNEL).startswith("the MIC CUDA kernel failed here")
    with pytest.warns(UserWarning, match="tensor engine: the MIC CUDA kernel failed here"):
        assert _kernel_choice() is None


def test_a_kernel_failing_inside_attempt_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, fresh_kernel_choice
) -> None:
    monkeypatch.setattr(cuda_launch, "_missing_target", lambda: None)  # a working CUDA target

    def failing() -> None:
        with cuda_launch._recorded(mic_module.CUDA_KERNEL):
            raise RuntimeError("out of memory")

    with pytest.warns(UserWarning, match="tensor engine: the MIC CUDA kernel failed here .RuntimeError: out of memory"):
        assert cuda_launch.attempt(mic_module.CUDA_KERNEL, mic_module.CUDA_FALLBACK, failing) is None

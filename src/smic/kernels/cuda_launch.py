"""smic's numba kernels on CUDA: whether they can run here, and their launches on torch tensors.

numba compiles njit functions into CUDA kernels where numba-cuda (numba's CUDA target, with
NVVM) is installed: extras ``cuda12`` / ``cuda13``. Each kernel has a torch fallback. Where the
target is missing, or from a kernel's first failed launch on (a numba-cuda that cannot build
it, too little memory), its caller uses that fallback and warns once, saying why.

numba.cuda is imported only when a kernel is asked for: importing it costs a second.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import torch

__all__ = ["KernelUnavailable", "attempt", "device_index", "launch", "numba_cuda", "unavailable", "usable"]

T = TypeVar("T")

INSTALL = 'pip install "smic[cuda13]", or [cuda12], after the CUDA of your torch build'

_failures: dict[str, str] = {}  # kernel name -> why its launch failed
_warned: set[str] = set()  # kernels whose fallback has been announced


class KernelUnavailable(RuntimeError):
    """A kernel could not be built or launched here (its caller then uses its fallback)."""


def numba_cuda() -> Any:
    """numba's CUDA target (``numba.cuda``), made importable under NumPy 2.5 first: numba-cuda
    (0.30 and earlier) registers an overload for ``np.row_stack`` when it first compiles, an alias
    of ``np.vstack`` that NumPy 2.5 removed; a stand-in of its own keeps that registration apart."""
    import numpy as np

    if not hasattr(np, "row_stack"):

        def row_stack(tup: Any, *, dtype: Any = None, casting: Any = "same_kind") -> Any:
            return np.vstack(tup, dtype=dtype, casting=casting)

        np.row_stack = row_stack
    from numba import cuda

    return cuda


@lru_cache(maxsize=1)
def _missing_target() -> str | None:
    try:
        cuda = numba_cuda()
        from numba.cuda.cudadrv import nvvm
    except ImportError as err:
        return f"numba's CUDA target cannot be imported ({err}; {INSTALL})"
    if getattr(cuda, "implementation", None) != "NVIDIA":
        return f"numba's built-in CUDA target (deprecated) is installed, not numba-cuda ({INSTALL})"
    if not cuda.is_available():
        return "numba finds no CUDA driver"
    if not nvvm.is_available():
        return f"numba finds no NVVM to compile with ({INSTALL})"
    return None


def unavailable(kernel: str) -> str | None:
    """Why the CUDA kernel named ``kernel`` cannot run here, or None."""
    return _failures.get(kernel) or _missing_target()


def usable(kernel: str, fallback: str, stacklevel: int = 1) -> bool:
    """Whether the CUDA kernel can run; if not, warns once: "{fallback}: {reason}" (``stacklevel``
    counted from the caller, as in warnings.warn)."""
    reason = unavailable(kernel)
    if reason is not None and kernel not in _warned:
        _warned.add(kernel)
        warnings.warn(f"{fallback}: {reason}", stacklevel=stacklevel + 1)
    return reason is None


def attempt(kernel: str, fallback: str, compute: Callable[[], T | None]) -> T | None:
    """compute() where the CUDA kernel can run; None, for the caller's fallback, where it cannot
    or its build or launch fails (warning once: "{fallback}: {reason}", at the caller's caller).
    compute may return None itself to decline (e.g. inputs the kernel is not built for)."""
    if not usable(kernel, fallback, stacklevel=3):
        return None
    try:
        return compute()
    except KernelUnavailable:
        usable(kernel, fallback, stacklevel=3)  # warns with the failure; the fallback from now on
        return None


def device_index(device: torch.device) -> int:
    """The CUDA device's index (torch's current device for a bare "cuda")."""
    return device.index if device.index is not None else torch.cuda.current_device()


@contextmanager
def _recorded(kernel_name: str) -> Iterator[None]:
    """Runs a build or launch: a failure is recorded and raised as KernelUnavailable; numba's
    warnings of grids too small to fill the GPU (small batches) are silenced."""
    from numba.core.errors import NumbaPerformanceWarning as core

    try:  # numba-cuda's own class, which does not subclass numba's
        from numba.cuda.core.errors import NumbaPerformanceWarning  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        NumbaPerformanceWarning = core
    try:
        with warnings.catch_warnings():
            for category in (NumbaPerformanceWarning, core):
                warnings.simplefilter("ignore", category)
            yield
    except Exception as err:
        _failures[kernel_name] = (
            f"the {kernel_name} CUDA kernel failed here ({type(err).__name__}: {' '.join(str(err).split())})"
        )
        raise KernelUnavailable(_failures[kernel_name]) from err


def launch(
    kernel_name: str, kernel: Any, items: int, threads: int, *args: Any, device: torch.device | None = None
) -> None:
    """Run a numba CUDA kernel over ``items`` threads, ``threads`` per block.

    With ``device`` (torch tensors in ``args``): on that GPU, on torch's current stream, the
    tensors read and written in place. Without: on numba's default stream, ``args`` as given.
    A failed build or launch is recorded (see :func:`unavailable`) and raised as
    :class:`KernelUnavailable`; a bad argument raises as it is.
    """
    cuda = numba_cuda()
    blocks = (items + threads - 1) // threads
    if device is None:
        with _recorded(kernel_name):
            kernel[blocks, threads](*args)
        return
    with cuda.gpus[device_index(device)]:
        # one stream: no wait when the tensors are handed over
        wrapped = [cuda.as_cuda_array(a, sync=False) if isinstance(a, torch.Tensor) else a for a in args]
        with _recorded(kernel_name):
            stream = cuda.external_stream(torch.cuda.current_stream(device).cuda_stream)
            kernel[blocks, threads, stream](*wrapped)

"""What every ``smic`` command shares: the device default and check, strict JSON numbers, and
one line for any error."""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch


def _available_devices() -> str:
    return ", ".join(["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))])


def device_of(name: str | None) -> torch.device:
    """``--device``: cuda when available unless named; an unknown or absent device is a ValueError
    that lists the devices this machine has."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use cpu, cuda or cuda:N (here: {_available_devices()})") from None
    if device.type == "cuda":
        why = None if torch.cuda.is_available() else "this torch build or machine has no CUDA device"
        if why is None and device.index is not None and device.index >= torch.cuda.device_count():
            why = f"there are {torch.cuda.device_count()} CUDA devices"
        if why:
            raise ValueError(f"device {name!r} is not available: {why} (here: {_available_devices()})")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r} is not supported: use cpu, cuda or cuda:N (here: {_available_devices()})")
    return device


def json_number(value: float) -> float | str:
    """A score as strict JSON: finite values as numbers, inf, -inf and nan as those strings."""
    return value if math.isfinite(value) else str(value)


def error_line(error: BaseException) -> str:
    """One line for ``error``: our own ValueErrors and missing files say it all; memory and other
    unexpected errors get their type and, for memory, the ways out."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (ValueError, FileNotFoundError)):
        return text
    if isinstance(error, torch.OutOfMemoryError) or "can't allocate" in text or "out of memory" in text:
        return f"out of memory ({text}): use a smaller --batch-size, --max-pixels, or --device cpu for large images"
    if isinstance(error, OSError):
        return text
    return f"{type(error).__name__}: {text} (set SMIC_DEBUG=1 for the traceback)"


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``smic score`` and ``smic bench`` share: batching, decoding, the pixel limit, the engine."""
    parser.add_argument("--batch-size", type=int, default=8, help="pairs of one size per batch (default: 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local: threads decoding images (default: CPUs, at most 8); ray: scorer actors "
        "(default: one per GPU share, else one per node)",
    )
    parser.add_argument(
        "--max-pixels", type=int, default=None, help="refuse larger images (default: smic.io.MAX_PIXELS)"
    )
    parser.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="where to score (ray: pip install 'smic[ray]')"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="ray: the cluster (auto, ray://HOST:PORT); default: a local cluster for this run",
    )
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs per scorer actor (default 0)")
    parser.add_argument(
        "--cpus-per-worker",
        type=int,
        default=None,
        help="ray: CPUs (torch threads, decoding) per scorer actor (default: the smallest node's CPUs, "
        "or its CPUs per GPU share)",
    )


def engine_of(args: argparse.Namespace) -> Any:
    """None for ``--engine local``, else the Ray engine the arguments describe."""
    if args.engine == "local":
        if args.address is not None or args.gpus_per_worker or args.cpus_per_worker is not None:
            raise ValueError("--address, --gpus-per-worker and --cpus-per-worker are for --engine ray")
        return None
    from smic.evaluation.ray_engine import RayEngine

    return RayEngine(args.address, args.workers, args.gpus_per_worker, args.cpus_per_worker)

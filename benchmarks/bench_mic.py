"""Time smic.mic on the batch sizes the SMIC attention needs; compare with minepy when present.

    PYTHONPATH=src python benchmarks/bench_mic.py [--device cpu|cuda] [--dtype float64,float32]
        [--cases gaussian,vgg] [--busy 1] [--max-registers 128,64]

Cases. Gaussian pairs y = a x + noise with a spread over [0, 1] per pair, so clump counts range
from those of dependent to independent pairs: n=49 (7x7 patches) at alpha 0.5, c 10 for 4,224
pairs (one 341x256 image at stride 7) and 180,000 pairs (a stride-1 map); n=16 (DeepWSD's 4x4
patches) for 50,000 pairs; alpha 0.6, c 15 (minepy's defaults) for 4,224 pairs of n=49. And the
attention's own pairs ("vgg"): the MICs smic's SMIC attention computes for the embedded sample
pair (astronaut crop and its JPEG copy), i.e. 7x7 patches of 32 random projections of VGG16's
relu3_3 and relu4_3 features, strongly dependent, repeated to 4,224 pairs (needs the VGG16
weights; skipped without them).

Each time is the best and the median of --repeats runs after a warm-up. When `minepy` imports in
this interpreter, it runs on a subset of the same pairs (one call per pair, as the authors' code
does; best of --minepy-repeats runs), its values are checked against ours, and the ratio of the
best per-MIC times is printed. --busy N keeps N other processes busy (one core each) while smic
runs (not while minepy runs): how the kernel shares a machine. On a CUDA device the tensor engine
(used there without numba-cuda) is timed in the same run, and the CUDA kernel under the register
caps asked for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from smic.kernels.mic import grid_plan, mic
from smic.kernels.mic_tensor import tensor_mic

CASES = [  # (label, kind, n, pairs, alpha, c, minepy subset)
    ("n=49 a=0.5 c=10", "gaussian", 49, 4_224, 0.5, 10, 1_000),
    ("n=49 a=0.5 c=10", "vgg", 49, 4_224, 0.5, 10, 1_000),
    ("n=49 a=0.5 c=10", "gaussian", 49, 180_000, 0.5, 10, 1_000),
    ("n=16 a=0.5 c=10", "gaussian", 16, 50_000, 0.5, 10, 2_000),
    ("n=49 a=0.6 c=15", "gaussian", 49, 4_224, 0.6, 15, 300),
]


def make_pairs(pairs: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(pairs, n, generator=g)
    a = torch.rand(pairs, 1, generator=g)
    y = a * x + torch.randn(pairs, n, generator=g)
    return x, y


def attention_pairs(pairs: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (x, y) rows of the MICs of the SMIC attention of the embedded sample pair (float32,
    n = 49), repeated to ``pairs`` rows; recorded from smic's own attention code. None where the
    VGG16 weights cannot be had."""
    from smic.attention import maps
    from smic.cli.main import sample_pair

    recorded: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = maps.mic

    def record(x: torch.Tensor, y: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        recorded.append((x.reshape(-1, x.shape[-1]).clone(), y.reshape(-1, y.shape[-1]).clone()))
        return real(x, y, *args, **kwargs)

    maps.mic = record
    try:
        maps.attention_map(*sample_pair())
    except Exception as err:  # no weights here, no network
        print(f"the attention's pairs are skipped: {type(err).__name__}: {err}")
        return None
    finally:
        maps.mic = real
    x, y = torch.cat([r[0] for r in recorded]), torch.cat([r[1] for r in recorded])
    repeats = -(-pairs // x.shape[0])
    return x.repeat(repeats, 1)[:pairs], y.repeat(repeats, 1)[:pairs]


@contextmanager
def busy(processes: int) -> Iterator[None]:
    """``processes`` other processes, each keeping a core busy, for the duration."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        if spinning:
            time.sleep(0.5)  # let them start
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def time_ours(
    run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    repeats: int,
) -> tuple[float, float, torch.Tensor]:
    """Best and median wall time of `repeats` runs of run(x, y) (after one warm-up run), inputs
    already on the device."""
    x, y = x.to(device), y.to(device)
    out = run(x, y)  # warm-up: caches, allocator, kernels (a kernel compiles here)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = run(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), out.cpu()


def engines(
    device: torch.device, alpha: float, c: float, dtype: torch.dtype, max_registers: list[int]
) -> dict[str, Callable]:
    """What to time: smic.mic; on a CUDA device also its kernel under each register cap (same
    numbers, other occupancy) and the tensor engine (the fallback without numba-cuda)."""
    runs = {"smic.mic": lambda x, y: mic(x, y, alpha, c, dtype=dtype)}
    if device.type != "cuda":
        return runs
    from smic.kernels import mic_cuda

    def capped(registers: int) -> Callable:
        def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            saved, mic_cuda.MAX_REGISTERS = mic_cuda.MAX_REGISTERS, registers
            try:
                return mic(x, y, alpha, c, dtype=dtype)
            finally:
                mic_cuda.MAX_REGISTERS = saved

        return run

    for registers in max_registers:
        runs[f"kernel <={registers} regs"] = capped(registers)
    runs["tensor engine"] = lambda x, y: tensor_mic(x, y, grid_plan(x.shape[1], alpha, c), dtype)
    return runs


def time_minepy(
    x: torch.Tensor, y: torch.Tensor, alpha: float, c: float, repeats: int
) -> tuple[float, torch.Tensor] | None:
    """Best wall time of ``repeats`` runs of minepy over the pairs (one call each), and its MICs."""
    try:
        import minepy
    except ImportError:
        return None
    xs, ys = x.double().numpy(), y.double().numpy()
    mine = minepy.MINE(alpha=alpha, c=c, est="mic_approx")
    best = float("inf")
    values: list[float] = []
    for _ in range(repeats):
        values = []
        start = time.perf_counter()
        for xi, yi in zip(xs, ys):
            mine.compute_score(xi, yi)
            values.append(mine.mic())
        best = min(best, time.perf_counter() - start)
    return best, torch.tensor(values, dtype=torch.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="float64,float32", help="result dtypes, comma-separated")
    parser.add_argument("--cases", default="gaussian,vgg", help="gaussian and/or vgg (the attention's pairs)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (best and median shown)")
    parser.add_argument("--minepy-repeats", type=int, default=3, help="minepy runs per case (best kept)")
    parser.add_argument("--no-minepy", action="store_true", help="skip the minepy comparison")
    parser.add_argument("--quick", action="store_true", help="only the 4,224-pair cases")
    parser.add_argument("--busy", type=int, default=0, help="other processes kept busy while smic runs")
    parser.add_argument(
        "--max-registers",
        default="",
        help="CUDA: also time the kernel under these register caps, comma-separated (e.g. 128,96,64)",
    )
    args = parser.parse_args()
    max_registers = [int(r) for r in args.max_registers.split(",") if r.strip()]
    kinds = {kind.strip() for kind in args.cases.split(",")}

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = [getattr(torch, name.strip()) for name in args.dtype.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "-"
    print(
        f"torch {torch.__version__}, device {device} ({gpu}), CPU threads {torch.get_num_threads()}, "
        f"load average {load:.2f}, {args.busy} busy processes while smic runs"
    )
    if not args.no_minepy:
        try:
            import minepy  # noqa: F401
        except ImportError:
            print("minepy does not import here: no comparison")
    if device.type == "cuda":  # the driver's local-memory reservation for the CUDA kernel
        free = torch.cuda.mem_get_info(device)[0]
        mic(*(t.to(device) for t in make_pairs(64, 49, 0)))
        torch.cuda.synchronize(device)
        print(
            "device memory taken by the first MIC launch (n=49): "
            f"{(free - torch.cuda.mem_get_info(device)[0]) / 2**30:.2f} GiB"
        )
    cache: dict[tuple, tuple[float, torch.Tensor]] = {}
    for seed, (label, kind, n, pairs, alpha, c, subset) in enumerate(CASES):
        if kind not in kinds or (args.quick and pairs > 5_000):
            continue
        if kind == "vgg":
            found = attention_pairs(pairs)
            if found is None:
                continue
            x, y = found
        else:
            x, y = make_pairs(pairs, n, seed)
        minepy_result: tuple[float, torch.Tensor | None] | None = None
        if not args.no_minepy:
            key = (kind, n, alpha, c)
            if key not in cache:  # one minepy measurement per kind of pairs and parameter set
                measured = time_minepy(x[:subset], y[:subset], alpha, c, args.minepy_repeats)
                if measured is not None:
                    cache[key] = (measured[0] / subset, measured[1])
                    minepy_result = (measured[0] / subset, measured[1])
            else:
                minepy_result = (cache[key][0], None)
        for dtype in dtypes:
            repeats = args.repeats or (10 if device.type == "cuda" else 5)
            first = None
            for engine, run in engines(device, alpha, c, dtype, max_registers).items():
                with busy(args.busy):
                    seconds, median, values = time_ours(run, x, y, device, repeats)
                first = first or seconds
                line = (
                    f"{label:16s} {kind:8s} {pairs:>7,d} pairs {str(dtype).split('.')[-1]:8s} {engine:18s} "
                    f"{seconds * 1e3:9.2f} ms  {seconds / pairs * 1e6:7.3f} us/MIC (median {median / pairs * 1e6:7.3f})"
                )
                if engine != "smic.mic":
                    line += f"  {seconds / first:5.2f}x the time of smic.mic"
                if minepy_result is not None:
                    per_mic, ref = minepy_result
                    line += f"  minepy {per_mic * 1e6:6.1f} us/MIC  ratio {per_mic / (seconds / pairs):6.1f}x"
                    if ref is not None:
                        diff = (values[: len(ref)].double() - ref).abs().max().item()
                        line += f"  max |diff| {diff:.1e} ({len(ref)} pairs)"
                print(line, flush=True)


if __name__ == "__main__":
    main()

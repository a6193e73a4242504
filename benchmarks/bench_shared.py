"""Shared work across metrics: k metrics on one batch of 512x384 pairs, each alone and together.

    python benchmarks/bench_shared.py [--batch 4] [--repeat 3] [--groups authors paper official]

Groups: the five SMIC forms (psnr, ssim, lpips, dists, deepwsd) as the authors compute them and as
the paper's equations on the official metrics, and official lpips + dists + deepwsd. Per group,
in the same run and interleaved (noise from other processes hits both alike): the median seconds
of each metric alone, their sum (what scoring them one by one costs), and the group scored by
``smic.sharing.score_many`` (each decode, resize, VGG16 pass and attention once), then the ratio
shared / slowest alone (the goal: at most 1.6). Wall time and this process's CPU time are both
given: on a busy machine the CPU time is the steadier of the two. Last, where the shared run's
time goes: the distinct VGG16 passes and attention maps it computed, and the rest.
"""

from __future__ import annotations

import argparse
import collections
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

import smic
from smic.attention import maps
from smic.backbone import VGG16
from smic.sharing import held_bytes, score_many, shared_work

NAMES = ("psnr", "ssim", "lpips", "dists", "deepwsd")
GROUPS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "authors": (NAMES, {"attention": "smic", "variant": "authors"}),
    "paper": (NAMES, {"attention": "smic"}),
    "official": (("lpips", "dists", "deepwsd"), {}),
}


def batch_512x384(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The astronaut resized to 512x384 (Pillow bilinear) n times, and n distorted copies: JPEG at
    qualities 10, 30, ... and Gaussian noise, alternately (8-bit, fixed seed)."""
    from skimage import data

    ref = Image.fromarray(data.astronaut()).resize((512, 384), Image.BILINEAR)
    rng = np.random.default_rng(0)
    dists = []
    for i in range(n):
        if i % 2 == 0:
            buffer = io.BytesIO()
            ref.save(buffer, format="JPEG", quality=10 + 10 * i)
            dists.append(np.asarray(Image.open(buffer).convert("RGB")))
        else:
            noisy = np.asarray(ref) + rng.normal(0, 8 * (i + 1) / 2, (384, 512, 3))
            dists.append(noisy.round().clip(0, 255).astype(np.uint8))

    def tensor(images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255

    return tensor([np.asarray(ref)] * n), tensor(dists)


def clocked(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def breakdown(metrics: list[torch.nn.Module], ref: torch.Tensor, dist: torch.Tensor) -> None:
    """Where one shared run's CPU time goes: each distinct VGG16 pass and attention, the rest."""
    spent: collections.Counter[str] = collections.Counter()
    vgg_stages, attention = VGG16._stages, maps._attention

    def vgg(self: VGG16, x: torch.Tensor, stages: int, start: dict | None = None) -> dict:
        begin = time.process_time()
        try:
            return vgg_stages(self, x, stages, start)
        finally:
            first = len(start or {}) + 1
            pooling = "either pooling" if stages == 1 else f"{self.pooling} pooling"
            layout = "NHWC" if self.channels_last else "NCHW"
            label = f"VGG16 stages {first}-{stages}, {pooling}, {layout}, input {tuple(x.shape)}"
            spent[label] += time.process_time() - begin

    def attend(*args: object) -> maps.Attention:
        begin = time.process_time()
        try:
            return attention(*args)
        finally:
            settings = args[2]
            spent[f"attention {settings}"] += time.process_time() - begin

    VGG16._stages, maps._attention = vgg, attend
    try:
        with torch.inference_mode(), shared_work():
            total = clocked(lambda: score_many(metrics, ref, dist))[1]
            held = held_bytes()
    finally:
        VGG16._stages, maps._attention = vgg_stages, attention
    print(f"  where the shared run's {total:.2f} CPU s went:")
    for label, seconds in spent.most_common():
        print(f"    {seconds:7.2f} s  {label}")
    print(f"    {total - sum(spent.values()):7.2f} s  everything else")
    print(f"  memory the shared work held at the end: {held / 2**30:.2f} GiB")


def run_group(group: str, ref: torch.Tensor, dist: torch.Tensor, repeat: int) -> None:
    names, options = GROUPS[group]
    metrics = [smic.create_metric(name, **options) for name in names]
    with torch.inference_mode():  # as the runner scores
        for metric in metrics:
            metric(ref, dist)  # warm-up: numba's first compile, weights, allocator
        alone: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        shared: list[tuple[float, float]] = []
        for _ in range(repeat):
            for name, metric in zip(names, metrics):
                alone[name].append(clocked(lambda metric=metric: metric(ref, dist)))
            shared.append(clocked(lambda: score_many(metrics, ref, dist)))

    def median(times: list[tuple[float, float]], which: int) -> float:
        return statistics.median(t[which] for t in times)

    print(f"\n{group}: {' + '.join(names)}  ({ref.shape[0]} pairs of 512x384, median of {repeat})")
    print(f"  {'':<22}{'wall s':>9}{'cpu s':>9}")
    for name in names:
        print(f"  {name + ' alone':<22}{median(alone[name], 0):9.2f}{median(alone[name], 1):9.2f}")
    for which, label in ((0, "wall"), (1, "cpu")):
        slowest = max(median(alone[name], which) for name in names)
        total = sum(median(alone[name], which) for name in names)
        together = median(shared, which)
        print(
            f"  {label}: slowest alone {slowest:.2f} s, sum {total:.2f} s ({total / slowest:.2f}x), "
            f"shared {together:.2f} s -> shared / slowest = {together / slowest:.2f}x (goal <= 1.6x)"
        )
    breakdown(metrics, ref, dist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4, help="pairs per batch")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--groups", nargs="+", choices=list(GROUPS), default=list(GROUPS))
    args = parser.parse_args()
    ref, dist = batch_512x384(args.batch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for group in args.groups:
        run_group(group, ref, dist, args.repeat)


if __name__ == "__main__":
    main()

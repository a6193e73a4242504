"""Seconds per 512x384 pair for every metric: official, SMIC authors variant, SMIC paper
variant, and the stride-1 attention map; optionally the authors' code in the same run.

    python benchmarks/bench_smic.py [--device cuda] [--repeat 3]
        [--authors-dir DIR --authors-python PY --authors-path DIRS]   # KANGX99/SMIC smic-pytorch, same device

On a GPU it also prints pairs per second at batch 1 and --batch, against the bare VGG16 pass in stock
PyTorch and the authors' code (one pair per call, as it is written; its MICs run on the CPU through minepy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import torch

import smic
from smic.attention import attention_map
from smic.backbone import VGG16
from smic.variants.authors.preprocess import prepare

AUTHORS_SNIPPET = """
import sys, time, statistics, torch
import numpy as np
from PIL import Image
sys.path[:0] = [{dir!r}, *{extra!r}.split(':')]
import preprocess, importlib
torch.set_num_threads({threads})
module = importlib.import_module({module!r})
model = getattr(module, {cls!r})().to({device!r})
ref = Image.fromarray(np.load({ref!r}))
dist = Image.fromarray(np.load({dist!r}))
wsd = {cls!r} == 'DeepWSD_SMIC'
prep = preprocess.wsd_prepare_image if wsd else preprocess.prepare_image
a, b = prep(ref).to({device!r}), prep(dist).to({device!r})
run = (lambda: model(a, b, as_loss=False)) if wsd else (lambda: model(a, b))
run()  # warm-up (CUDA context, cuDNN)
times = []
for _ in range({repeat}):
    start = time.perf_counter()
    run()
    if {device!r} != 'cpu':
        torch.cuda.synchronize()
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""

# The authors' SMIC_Map.py: GEN_SMIC_MAP on the prepared pair (stride 1; its forward also saves
# the two stage maps as PNG figures, into the temporary working directory).
AUTHORS_MAP_SNIPPET = """
import sys, time, torch
import numpy as np
from PIL import Image
sys.path[:0] = [{dir!r}, *{extra!r}.split(':')]
import preprocess, SMIC_Map
torch.set_num_threads({threads})
model = SMIC_Map.GEN_SMIC_MAP().to({device!r})
a = preprocess.prepare_image(Image.fromarray(np.load({ref!r}))).to({device!r})
b = preprocess.prepare_image(Image.fromarray(np.load({dist!r}))).to({device!r})
model(a, b, name='bench')  # warm-up, as ours
start = time.perf_counter()
model(a, b, name='bench')
if {device!r} != 'cpu':
    torch.cuda.synchronize()
print(time.perf_counter() - start)
"""


def sample_512x384() -> tuple[torch.Tensor, torch.Tensor]:
    """astronaut rows 64..447 (384x512) and a blurred, noisy copy (fixed seed)."""
    from skimage import data

    ref = torch.from_numpy(data.astronaut()[64:448].copy()).permute(2, 0, 1)[None].float() / 255
    generator = torch.Generator().manual_seed(0)
    blurred = torch.nn.functional.avg_pool2d(ref, 3, stride=1, padding=1, count_include_pad=False)
    dist = (blurred + 0.03 * torch.randn(ref.shape, generator=generator)).clamp(0, 1)
    return ref, (dist * 255).round() / 255


def timed(fn, repeat: int, device: torch.device) -> float:
    fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_profile(fn) -> None:
    """The operators that take the most GPU time in one call of fn, and GPU busy vs wall time."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    events = prof.key_averages()
    busy = sum(e.self_device_time_total for e in events) / 1e6
    print(f"    profiled call: wall {wall * 1e3:.1f} ms (profiler on), GPU busy {busy * 1e3:.1f} ms")
    print(events.table(sort_by="self_device_time_total", row_limit=8, max_name_column_width=40))


def authors_seconds(args: argparse.Namespace, name: str, ref: torch.Tensor, dist: torch.Tensor) -> float | None:
    """Seconds of the authors' code for metric ``name``, or of their stride-1 map for "map"."""
    import tempfile

    import numpy as np

    cls = {
        "psnr": "PSNR_SMIC",
        "ssim": "SSIM_SMIC",
        "lpips": "LPIPS_SMIC",
        "dists": "DISTS_SMIC",
        "deepwsd": "DeepWSD_SMIC",
        "map": "GEN_SMIC_MAP",
    }[name]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for label, image in (("ref", ref), ("dist", dist)):
            path = f"{folder}/{label}.npy"
            np.save(path, (image[0].permute(1, 2, 0) * 255).round().byte().numpy())
            paths.append(path)
        snippet = AUTHORS_MAP_SNIPPET if name == "map" else AUTHORS_SNIPPET
        code = snippet.format(
            dir=args.authors_dir,
            extra=args.authors_path,
            module=cls,
            cls=cls,
            ref=paths[0],
            dist=paths[1],
            repeat=args.repeat,
            threads=torch.get_num_threads(),
            device=args.device,
        )
        done = subprocess.run(
            [args.authors_python, "-c", code], capture_output=True, text=True, cwd=folder, check=False
        )
    if done.returncode != 0:
        print(f"  authors' {cls} failed: {done.stderr.strip().splitlines()[-1] if done.stderr else '?'}")
        return None
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="large batch for GPU throughput")
    parser.add_argument("--metrics", default="psnr,ssim,lpips,dists,deepwsd")
    parser.add_argument("--authors-dir")
    parser.add_argument("--authors-python")
    parser.add_argument("--authors-path", default="", help="extra sys.path entries (e.g. a torchvision stand-in)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="GPU: also print torch.profiler's busiest operators of each enhanced metric at --batch",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    ref, dist = (image.to(device) for image in sample_512x384())
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({machine}), 512x384 pair, median of {args.repeat}")
    with torch.inference_mode():
        vgg = VGG16("l2").to(device)
        # the baseline: stock PyTorch running the 13 convolutions (Conv2d, ReLU, pool modules);
        # smic's own pass fuses each convolution with its ReLU on CUDA
        stock = vgg.features
        vgg_s = timed(lambda: (stock(ref), stock(dist)), args.repeat, device)
        ours_s = timed(lambda: (vgg(ref), vgg(dist)), args.repeat, device)
        print(f"bare VGG16 pass (ref + dist): {vgg_s:.4f} s stock PyTorch, {ours_s:.4f} s smic's backbone")
        header = f"{'metric':<8}{'official':>10}{'authors':>11}{'paper':>9}{'auth/official':>14}{'auth/dists':>11}"
        header += f"{'paper/official':>16}{'paper/dists':>13}"
        print(header + ("   authors  authors/ours" if args.authors_dir else ""))
        dists = smic.create_metric("dists", device=device)
        base_dists = timed(lambda: dists(ref, dist), args.repeat, device)  # the cost PSNR/SSIM+SMIC add
        authors: dict[str, float | None] = {}  # their seconds per pair, on this device
        for name in args.metrics.split(","):
            metrics = {
                form: smic.create_metric(name, device=device, **options)
                for form, options in (
                    ("official", {}),
                    ("authors", {"attention": "smic", "variant": "authors"}),
                    ("paper", {"attention": "smic"}),
                )
            }
            seconds = {form: timed(lambda m=m: m(ref, dist), args.repeat, device) for form, m in metrics.items()}
            line = (
                f"{name:<8}{seconds['official']:>10.4f}{seconds['authors']:>11.4f}{seconds['paper']:>9.4f}"
                f"{seconds['authors'] / seconds['official']:>14.2f}"
                f"{seconds['authors'] / base_dists:>11.2f}"
                f"{seconds['paper'] / seconds['official']:>16.2f}{seconds['paper'] / base_dists:>13.2f}"
            )
            if args.authors_dir:
                theirs = authors[name] = authors_seconds(args, name, ref.cpu(), dist.cpu())
                if theirs is not None:
                    line += f"{theirs:>10.3f}{theirs / seconds['authors']:>13.1f}x"
            print(line)
        small_ref, small_dist = prepare(ref), prepare(dist)  # 341x256, as the authors' SMIC_Map.py
        stride1 = timed(lambda: attention_map(small_ref, small_dist, stride=1), args.repeat, device)
        line = f"stride-1 attention map of the prepared 341x256 pair (both stages): {stride1:.3f} s"
        if args.authors_dir:
            theirs = authors_seconds(args, "map", ref.cpu(), dist.cpu())
            if theirs is not None:
                line += f"; authors' SMIC_Map.py {theirs:.2f} s ({theirs / stride1:.1f}x)"
        print(line)
        if device.type == "cuda":
            big_ref, big_dist = ref.expand(args.batch, -1, -1, -1), dist.expand(args.batch, -1, -1, -1)
            vgg_rate = args.batch / timed(lambda: (stock(big_ref), stock(big_dist)), args.repeat, device)
            ours_rate = args.batch / timed(lambda: (vgg(big_ref), vgg(big_dist)), args.repeat, device)
            print(
                f"pairs/s at batch {args.batch}: bare VGG16 {vgg_rate:.1f} stock PyTorch, "
                f"{ours_rate:.1f} smic's backbone"
            )
            for name in args.metrics.split(","):
                # the official metric too: its own work beyond the VGG16 pass bounds its paper form
                for options in ({}, {"attention": "smic", "variant": "authors"}, {"attention": "smic"}):
                    metric = smic.create_metric(name, device=device, **options)
                    one = 1 / timed(lambda metric=metric: metric(ref, dist), args.repeat, device)
                    many = args.batch / timed(lambda metric=metric: metric(big_ref, big_dist), args.repeat, device)
                    form = options.get("variant", "paper") if options else "official"
                    line = (
                        f"  {name:<8}{form:<10} batch 1: {one:8.1f}  "
                        f"batch {args.batch}: {many:8.1f}  ({many / vgg_rate:.0%} of stock VGG16, "
                        f"{many / ours_rate:.0%} of smic's)"
                    )
                    if authors.get(name) and form == "authors":
                        line += f"  authors' code {1 / authors[name]:.2f} pairs/s: {many * authors[name]:.0f}x"
                    print(line)
                    if args.profile:
                        print_profile(lambda metric=metric: metric(big_ref, big_dist))


if __name__ == "__main__":
    main()

"""CPU seconds per 512x384 pair for each official metric: smic against the official
implementations, run side by side in the same invocation.

    python benchmarks/bench_metrics.py [--repeat 5]
        [--official-python PY --official-path DIRS]

``--official-python`` names an interpreter where ``lpips`` (0.1.4), ``DISTS_pytorch`` (0.1),
``pytorch_msssim`` and the DeepWSD repository's ``DeepWSD.py`` import (``--official-path`` is
prepended to its sys.path, e.g. a torchvision stand-in and the DeepWSD checkout); models are
built once and only the forward call is timed, on the same pixels, with the same thread count.
``pieapp`` is timed with randomly initialised weights of the published architecture (the time does
not depend on the values; the published file is not available here).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile

import numpy as np
import torch

import smic
from bench_smic import timed  # this folder is on sys.path when the script runs
from smic.metrics.pieapp import PieAPPNet

OFFICIAL = """
import sys, time, statistics, numpy as np, torch
sys.path[:0] = {path!r}.split(':')
torch.set_num_threads({threads})
x = torch.from_numpy(np.load({ref!r})).permute(2, 0, 1)[None].float() / 255
y = torch.from_numpy(np.load({dist!r})).permute(2, 0, 1)[None].float() / 255
name = {name!r}
if name == 'psnr':
    fn = lambda: 10 * torch.log10(1 / ((x.double() - y.double()) ** 2).mean())
elif name == 'ssim':
    import pytorch_msssim
    fn = lambda: pytorch_msssim.ssim(x, y, data_range=1, size_average=True)
elif name == 'lpips':
    import lpips
    model = lpips.LPIPS(net='vgg', version='0.1', verbose=False)
    fn = lambda: model(x * 2 - 1, y * 2 - 1)
elif name == 'dists':
    from DISTS_pytorch import DISTS
    model = DISTS()
    fn = lambda: model(x, y)
else:
    import DeepWSD
    model = DeepWSD.DeepWSD()
    fn = lambda: model(x, y, as_loss=False)
with torch.no_grad():
    fn()
    times = []
    for _ in range({repeat}):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="where smic's metrics run (the official code: CPU)")
    parser.add_argument("--official-python")
    parser.add_argument("--official-path", default="")
    parser.add_argument(
        "--metrics",
        default="psnr,ssim,lpips,dists,deepwsd",
        help="comma list (the official code is timed for these five)",
    )
    args = parser.parse_args()
    from skimage import data

    ref = np.ascontiguousarray(data.astronaut()[64:448])
    dist = (
        np.clip(ref.astype(np.float64) + np.random.default_rng(0).normal(0, 20, ref.shape), 0, 255)
        .round()
        .astype(np.uint8)
    )
    device = torch.device(args.device)
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None].float().div(255).to(device) for a in (ref, dist))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"512x384 pair, {where}, median of {args.repeat} (seconds per pair)")
    print(f"{'metric':<9}{'smic':>9}{'official':>10}{'official/smic':>15}")
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        np.save(f"{folder}/ref.npy", ref)
        np.save(f"{folder}/dist.npy", dist)
        torch.manual_seed(0)
        torch.save(PieAPPNet().state_dict(), f"{folder}/pieapp.pth")
        for name in args.metrics.split(","):
            options = {"weights": f"{folder}/pieapp.pth"} if name == "pieapp" else {}
            metric = smic.create_metric(name, device=device, **options)
            ours = timed(lambda metric=metric: metric(x, y), args.repeat, device)
            line = f"{name:<9}{ours:>9.4f}"
            if args.official_python and device.type == "cpu":
                code = OFFICIAL.format(
                    path=args.official_path,
                    threads=torch.get_num_threads(),
                    ref=f"{folder}/ref.npy",
                    dist=f"{folder}/dist.npy",
                    name=name,
                    repeat=args.repeat,
                )
                done = subprocess.run([args.official_python, "-c", code], capture_output=True, text=True)
                if done.returncode == 0:
                    theirs = float(done.stdout.split()[-1])
                    line += f"{theirs:>10.4f}{theirs / ours:>14.2f}x"
                else:
                    line += f"  official failed: {done.stderr.strip().splitlines()[-1]}"
            print(line, flush=True)


if __name__ == "__main__":
    main()

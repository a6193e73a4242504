"""Pairs per second of ``smic score`` on the local engine and on ``--engine ray`` (a local Ray
cluster of this machine), same pairs, same batch size, same run; and Ray's overhead split into its
fixed part (start-up, actors loading their metrics, shutdown) and the rest.

Writes N synthetic pairs (PNG) to a temporary folder and times ``smic.score_pairs`` into a fresh
output for each engine and each group of metric specs, ``--repeat`` times (medians printed). The
fixed part is a run of one pair on Ray minus the same run locally.

    python benchmarks/bench_engines.py --pairs 200 --size 512x384 --batch-size 8
    python benchmarks/bench_engines.py --groups "psnr" "psnr+smic,ssim+smic,lpips+smic,dists+smic,deepwsd+smic"
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import smic
from smic.evaluation.ray_engine import RayEngine
from smic.evaluation.scoring import pairs_from_folders


def make_pairs(root: Path, count: int, width: int, height: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    ref_dir, dist_dir = root / "ref", root / "dist"
    ref_dir.mkdir(parents=True)
    dist_dir.mkdir(parents=True)
    y, x = np.mgrid[:height, :width]
    for i in range(count):
        image = np.stack([np.sin(x / (9 + c + i % 5)) * np.cos(y / (13 + c)) for c in range(3)], -1)
        image = np.clip(128 + 100 * image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(ref_dir / f"{i:05d}.png")
        noisy = np.clip(image + rng.normal(0, 4 + i % 9, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(dist_dir / f"{i:05d}.png")
    return ref_dir, dist_dir


def seconds(folders: tuple[Path, Path], specs: list[str], out: Path, batch: int, engine: RayEngine | None) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = smic.score_pairs(
        pairs_from_folders(*folders), specs, out=out, batch_size=batch, progress=False, device="cpu", engine=engine
    )
    elapsed = time.perf_counter() - start
    if result.failures:
        raise SystemExit(f"failures: {result.failures[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--groups", nargs="+", default=["psnr", "psnr+smic,ssim+smic,lpips+smic,dists+smic,deepwsd+smic"]
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        folders = make_pairs(root / "all", args.pairs, width, height)
        one = make_pairs(root / "one", 1, width, height)
        print(f"{args.pairs} pairs of {width}x{height}, batch {args.batch_size}, medians of {args.repeat} runs")
        for group in args.groups:
            specs = group.split(",")
            smic.score_pairs(pairs_from_folders(*one), specs, progress=False, device="cpu")  # warm: weights, numba
            times: dict[str, list[float]] = {"local": [], "ray": [], "local 1": [], "ray 1": []}
            for run in range(args.repeat):
                for name, engine in (("local", None), ("ray", RayEngine())):
                    times[name].append(
                        seconds(folders, specs, root / f"{name}{run}" / "s.csv", args.batch_size, engine)
                    )
                    times[f"{name} 1"].append(seconds(one, specs, root / f"{name}1{run}" / "s.csv", 1, engine))
            local, ray = statistics.median(times["local"]), statistics.median(times["ray"])
            fixed = statistics.median(times["ray 1"]) - statistics.median(times["local 1"])
            print(
                f"{group}: local {args.pairs / local:.2f} pairs/s ({local:.1f} s), ray {args.pairs / ray:.2f} pairs/s "
                f"({ray:.1f} s): ray overhead {100 * (ray - local) / local:+.1f}%, of which fixed {fixed:.1f} s "
                f"({100 * fixed / local:.1f}%) and the rest {100 * (ray - local - fixed) / local:+.1f}%"
            )


if __name__ == "__main__":
    main()

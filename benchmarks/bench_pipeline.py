"""Pairs per second of the whole benchmark pipeline (load, batch, score, store, report) per metric config.

Writes N synthetic 512x384 pairs (PNG, generic CSV layout) to a temporary folder, then times
``run_benchmark`` for every registered metric with and without attention (configs that
``create_metric`` refuses are skipped and listed), each into a fresh results folder, with
``n_boot=0`` and no plots so the figure is the scoring pipeline, after a 2-pair warm-up run
(weights, imports) that is not timed. "metric only" times the metric's forward on the first batch,
preloaded, so the difference is the pipeline's overhead (decoding, batching, store, statistics).
PieAPP runs with randomly initialised weights of its architecture when ``SMIC_PIEAPP_WEIGHTS`` is
not set (the time does not depend on the values; the published file is not available here).

    python benchmarks/bench_pipeline.py                      # every metric, CPU, 32 pairs
    python benchmarks/bench_pipeline.py --device cuda --pairs 256 --batch-size 16
    python benchmarks/bench_pipeline.py --metrics psnr,ssim --attention none --pairs 4   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import smic
from smic.evaluation.datasets import Dataset, load_csv
from smic.evaluation.runner import expand_configs, run_benchmark
from smic.io import load_pair
from smic.metrics.pieapp import PieAPPNet
from smic.spec import MetricSpec


def make_pairs(folder: Path, count: int, width: int = 512, height: int = 384) -> Path:
    """``count`` (reference, noisy distorted) PNG pairs and a labels.csv with made-up MOS."""
    rng = np.random.default_rng(0)
    rows = [("ref", "dist", "score")]
    for i in range(count):
        base = rng.integers(0, 256, size=(height // 8, width // 8, 3), dtype=np.uint8)
        ref = np.asarray(Image.fromarray(base).resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)
        dist = np.clip(ref + rng.normal(0, 2 + i % 20, ref.shape), 0, 255).astype(np.uint8)
        Image.fromarray(ref.astype(np.uint8)).save(folder / f"r{i}.png")
        Image.fromarray(dist).save(folder / f"d{i}.png")
        rows.append((f"r{i}.png", f"d{i}.png", str(5 - (i % 20) / 5)))
    with open(folder / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return folder / "labels.csv"


def metric_only(config: MetricSpec, dataset: Dataset, batch: int, device: str) -> float:
    """Pairs per second of the metric's forward alone on the first ``batch`` pairs, preloaded (after a warm-up)."""
    metric = config.build(device).eval()
    images = [load_pair(p.ref, p.dist) for p in dataset.pairs[:batch]]
    ref = torch.cat([r for r, _ in images]).to(device)
    dist = torch.cat([d for _, d in images]).to(device)
    with torch.inference_mode():
        metric(ref, dist)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        metric(ref, dist)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--metrics", default="all", help="comma list, or all registered metrics")
    parser.add_argument("--attention", default="none,smic", help="comma list of none, smic, mic")
    args = parser.parse_args()
    metrics = smic.list_metrics() if args.metrics == "all" else args.metrics.split(",")
    attention = [a.strip() for a in args.attention.split(",")]
    print(
        f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads, "
        f"{args.pairs} pairs of 512x384, batch {args.batch_size}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if "pieapp" in metrics and not os.environ.get("SMIC_PIEAPP_WEIGHTS"):
            torch.manual_seed(0)
            torch.save(PieAPPNet().state_dict(), Path(tmp) / "pieapp.pth")
            os.environ["SMIC_PIEAPP_WEIGHTS"] = str(Path(tmp) / "pieapp.pth")
        labels = make_pairs(Path(tmp), args.pairs)
        dataset = load_csv(labels, lower_better=False, name="synthetic")
        print(f"{'config':<24} {'pairs/s':>9} {'s/pair':>8} {'metric only':>12}  note")
        for config in expand_configs(metrics, attention):
            try:
                config.build(args.device)
            except Exception as error:
                print(f"{config.label:<24} {'-':>9} {'-':>8} {'-':>12}  skipped: {type(error).__name__}: {error}"[:160])
                continue
            folder = Path(tmp) / "out" / config.label.replace(":", "_")
            warm = replace(dataset, pairs=dataset.pairs[:2])  # weights, imports, kernels: not timed
            run_benchmark(
                warm, [config.label], folder / "warm", device=args.device, progress=False, n_boot=0, plots=False
            )
            summary = run_benchmark(
                dataset,
                [config.label],
                folder / "timed",
                device=args.device,
                batch_size=args.batch_size,
                progress=False,
                n_boot=0,
                plots=False,
            )
            rate = args.pairs / summary.seconds
            note = f"{len(summary.failures)} failed: {summary.failures[0].reason}" if summary.failures else ""
            only = metric_only(config, dataset, args.batch_size, args.device)
            print(f"{config.label:<24} {rate:9.2f} {1 / rate:8.3f} {only:12.2f}  {note}"[:160])


if __name__ == "__main__":
    main()

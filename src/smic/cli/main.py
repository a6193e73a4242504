"""The ``smic`` command: score | map | demo | weights | bench."""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from importlib import resources
from typing import Any, Sequence

import torch

import smic
from smic import weights
from smic.io import load_image
from smic.registry import default_variant


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a Python literal when it is one (1, 0.5, True, 'rgb')."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _score(args: argparse.Namespace) -> int:
    device = _device(args.device)
    attention = None if args.attention == "none" else args.attention
    metric = smic.create_metric(args.metric, device=device, attention=attention, variant=args.variant,
                                **dict(args.option))
    ref, dist = _load_pair(args.ref, args.dist, device)
    with torch.inference_mode():
        value = float(metric(ref, dist)[0])
    if args.json:
        print(json.dumps({"metric": args.metric, "score": value, "lower_better": metric.lower_better,
                          "score_range": list(metric.score_range), "attention": attention,
                          "variant": (args.variant or default_variant(args.metric)) if attention else None,
                          "ref": args.ref, "dist": args.dist}))
    else:
        direction = "lower is better" if metric.lower_better else "higher is better"
        print(f"{args.metric}: {value:.6g} ({direction})")
    return 0


def _load_pair(ref_path: str, dist_path: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ref, dist = load_image(ref_path, "ref"), load_image(dist_path, "dist")
    if ref.shape[1] == 1 and dist.shape[1] == 1:  # a grey pair is scored as RGB; a mixed pair is an error
        ref, dist = ref.expand(-1, 3, -1, -1), dist.expand(-1, 3, -1, -1)
    return ref.to(device), dist.to(device)


def _map(args: argparse.Namespace) -> int:
    from smic.figures import draw_panel

    ref, dist = _load_pair(args.ref, args.dist, _device(args.device))
    print(draw_panel(ref, dist, args.metric, args.output, args.attention))
    return 0


def sample_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded demo pair (astronaut crop and its JPEG-compressed copy), (1, 3, 192, 256)."""
    folder = resources.files("smic") / "data"
    return load_image(str(folder / "sample_ref.png"), "ref"), load_image(str(folder / "sample_dist.png"), "dist")


def _demo(args: argparse.Namespace) -> int:
    device = _device(args.device)
    ref, dist = (image.to(device) for image in sample_pair())
    print(f"sample pair: astronaut 192x256 vs its JPEG copy (quality 12), device {device}")
    forms = (("official", {}), ("+smic", {"attention": "smic"}), ("+smic paper", {"attention": "smic", "variant": "paper"}))
    print(f"{'metric':<9}" + "".join(f"{label:>16}" for label, _ in forms))
    start = time.perf_counter()
    for name in smic.list_metrics():
        cells = []
        for _, options in forms:
            try:
                metric = smic.create_metric(name, device=device, **options)
            except (ValueError, FileNotFoundError):  # no such form, or weights only a user can supply
                cells.append(f"{'-':>16}")
                continue
            with torch.inference_mode():
                value = float(metric(ref, dist)[0])
            cells.append(f"{value:>14.5g} {'L' if metric.lower_better else 'H'}")
        print(f"{name:<9}" + "".join(cells))
    print(f"L: lower is better, H: higher is better. +smic: the authors' form (the paper's tables) where "
          f"their code has the metric, else the paper's; +smic paper: the paper's equations on the "
          f"official metric. {time.perf_counter() - start:.1f} s")
    return 0


def _weights(args: argparse.Namespace) -> int:
    rows = weights.report(download=args.action == "pull")
    for row in rows:
        print(f"{row.name:<20} {row.status:<6} {row.source:<16} {row.sha256 or '-'}  {row.path or ''}")
    return 0 if all(row.status == "ok" for row in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smic", description=smic.__doc__)
    parser.add_argument("--version", action="version", version=f"smic {smic.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="score one reference/distorted pair")
    score.add_argument("ref", help="reference image file")
    score.add_argument("dist", help="distorted image file")
    score.add_argument("--metric", required=True, choices=smic.list_metrics())
    score.add_argument("--device", help="cpu, cuda, cuda:1... (default: cuda when available)")
    score.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                       help="metric option, e.g. convention=matlab for ssim (repeatable)")
    score.add_argument("--attention", choices=["none", "smic", "mic"], default="none",
                       help="pool with SMIC attention (mic: the Table II ablation)")
    score.add_argument("--variant", choices=["reference", "paper"], default=None,
                       help="reference: the authors' code exactly (default for psnr, ssim, lpips, dists, "
                            "deepwsd); paper: the paper's equations (default, and the only form, for the others)")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(run=_score)

    figure = commands.add_parser("map", help="draw the paper's Fig. 5 panel for one pair")
    figure.add_argument("ref")
    figure.add_argument("dist")
    figure.add_argument("--metric", required=True, choices=smic.list_metrics())
    figure.add_argument("--attention", choices=["smic", "mic"], default="smic")
    figure.add_argument("--device")
    figure.add_argument("-o", "--output", required=True, help="PNG file to write")
    figure.set_defaults(run=_map)

    demo = commands.add_parser("demo", help="score the embedded sample pair with every metric")
    demo.add_argument("--device")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser("bench", help="score a dataset and correlate with subjective scores")
    from smic.evaluation.runner import add_bench_arguments, bench_main

    add_bench_arguments(bench)
    bench.set_defaults(run=bench_main)

    weight = commands.add_parser("weights", help="list the weights in use; `pull` fetches missing ones")
    weight.add_argument("action", nargs="?", choices=["pull"])
    weight.set_defaults(run=_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"smic: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

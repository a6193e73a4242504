"""The ``smic`` command: score | map | demo | weights | bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from importlib import resources

import torch

import smic
from smic import weights
from smic.io import load_pair
from smic.spec import MetricSpec


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _spec(args: argparse.Namespace) -> MetricSpec:
    """``--metric`` with its ``--option``s, read by the spec's own rule (values as Python
    literals where they are one), then ``--attention`` and ``--variant`` where given."""
    text = args.metric + "".join(f":{option}" for option in args.option)
    return MetricSpec.of(text, attention=args.attention, variant=args.variant)


def _score(args: argparse.Namespace) -> int:
    device = _device(args.device)
    spec = _spec(args)
    metric = spec.build(device)
    ref, dist = load_pair(args.ref, args.dist)
    with torch.inference_mode():
        value = float(metric(ref.to(device), dist.to(device))[0])
    if args.json:
        print(
            json.dumps(
                {
                    "metric": spec.name,
                    "score": value,
                    "lower_better": metric.lower_better,
                    "score_range": list(metric.score_range),
                    "attention": spec.attention,
                    "variant": None if spec.attention is None else spec.form,
                    "ref": args.ref,
                    "dist": args.dist,
                }
            )
        )
    else:
        print(f"{spec.label}: {value:.6g} ({'lower' if metric.lower_better else 'higher'} is better)")
    return 0


def _map(args: argparse.Namespace) -> int:
    from smic.figures import draw_panel

    name = MetricSpec.parse(args.metric).name
    device = _device(args.device)
    ref, dist = load_pair(args.ref, args.dist)
    print(draw_panel(ref.to(device), dist.to(device), name, args.output, args.attention))
    return 0


def sample_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded demo pair (astronaut crop and its JPEG-compressed copy), (1, 3, 192, 256)."""
    folder = resources.files("smic") / "data"
    return load_pair(str(folder / "sample_ref.png"), str(folder / "sample_dist.png"))


def _demo(args: argparse.Namespace) -> int:
    device = _device(args.device)
    ref, dist = (image.to(device) for image in sample_pair())
    print(f"sample pair: astronaut 192x256 vs its JPEG copy (quality 12), device {device}")
    forms = (("official", None, None), ("+smic", "smic", None), ("+smic paper", "smic", "paper"))
    print(f"{'metric':<9}" + "".join(f"{label:>16}" for label, _, _ in forms))
    start = time.perf_counter()
    for name in smic.list_metrics():
        cells = []
        for _, attention, variant in forms:
            try:
                metric = MetricSpec(name, attention, variant).build(device)
            except (ValueError, FileNotFoundError):  # no such form, or weights only a user can supply
                cells.append(f"{'-':>16}")
                continue
            with torch.inference_mode():
                value = float(metric(ref, dist)[0])
            cells.append(f"{value:>14.5g} {'L' if metric.lower_better else 'H'}")
        print(f"{name:<9}" + "".join(cells))
    print(
        f"L: lower is better, H: higher is better. +smic: the authors' form (the paper's tables) where "
        f"their code has the metric, else the paper's; +smic paper: the paper's equations on the "
        f"official metric. {time.perf_counter() - start:.1f} s"
    )
    return 0


def _weights(args: argparse.Namespace) -> int:
    rows = weights.report(download=args.action == "pull")
    for row in rows:
        print(f"{row.name:<20} {row.status:<6} {row.source:<16} {row.sha256 or '-'}  {row.path or ''}")
    return 0 if all(row.status == "ok" for row in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    # imported here, so that `python -m smic.cli.bench` does not find its module imported already
    from smic.cli.bench import HELP, add_bench_arguments, bench_main

    parser = argparse.ArgumentParser(prog="smic", description=smic.__doc__)
    parser.add_argument("--version", action="version", version=f"smic {smic.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    metrics = ", ".join(smic.list_metrics())

    score = commands.add_parser("score", help="score one reference/distorted pair")
    score.add_argument("ref", help="reference image file")
    score.add_argument("dist", help="distorted image file")
    score.add_argument("--metric", required=True, help=f"one of {metrics}, or a spec such as lpips+smic:variant=paper")
    score.add_argument("--device", help="cpu, cuda, cuda:1... (default: cuda when available)")
    score.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metric option, e.g. convention=matlab for ssim (repeatable)",
    )
    score.add_argument(
        "--attention",
        choices=["none", "smic", "mic"],
        default=None,
        help="pool with SMIC attention (mic: the Table II ablation); default: none",
    )
    score.add_argument(
        "--variant",
        choices=["reference", "paper"],
        default=None,
        help="reference: the authors' code exactly (default for psnr, ssim, lpips, dists, "
        "deepwsd); paper: the paper's equations (default, and the only form, for the others)",
    )
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(run=_score)

    figure = commands.add_parser("map", help="draw the paper's Fig. 5 panel for one pair")
    figure.add_argument("ref")
    figure.add_argument("dist")
    figure.add_argument("--metric", required=True, help=f"one of {metrics}")
    figure.add_argument("--attention", choices=["smic", "mic"], default="smic")
    figure.add_argument("--device")
    figure.add_argument("-o", "--output", required=True, help="PNG file to write")
    figure.set_defaults(run=_map)

    demo = commands.add_parser("demo", help="score the embedded sample pair with every metric")
    demo.add_argument("--device")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser("bench", help=HELP)
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

"""The ``smic`` command: score | map | demo | weights | bench."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import torch

import smic
from smic import weights
from smic.io import load_pair
from smic.spec import MetricSpec, describe_metric


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


def _spec(args: argparse.Namespace) -> MetricSpec:
    """``--metric`` with its ``--option``s, read by the spec's own rule (values as Python
    literals where they are one), then ``--attention`` and ``--variant`` where given."""
    text = args.metric + "".join(f":{option}" for option in args.option)
    return MetricSpec.of(text, attention=args.attention, variant=args.variant)


def _score(args: argparse.Namespace) -> int:
    device = device_of(args.device)
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
                    "score": json_number(value),
                    "lower_better": metric.lower_better,
                    "score_range": [json_number(v) for v in metric.score_range],
                    "attention": spec.attention,
                    "variant": None if spec.attention is None else spec.form,
                    "ref": args.ref,
                    "dist": args.dist,
                },
                allow_nan=False,
            )
        )
    else:
        print(f"{spec.label}: {value:.6g} ({'lower' if metric.lower_better else 'higher'} is better)")
    return 0


def _map(args: argparse.Namespace) -> int:
    from smic.figures import draw_panel

    name = MetricSpec.parse(args.metric).name
    device = device_of(args.device)
    ref, dist = load_pair(args.ref, args.dist)
    print(draw_panel(ref.to(device), dist.to(device), name, args.output, args.attention))
    return 0


def sample_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded demo pair (astronaut crop and its JPEG-compressed copy), (1, 3, 192, 256)."""
    folder = resources.files("smic") / "data"
    return load_pair(str(folder / "sample_ref.png"), str(folder / "sample_dist.png"))


def _demo(args: argparse.Namespace) -> int:
    device = device_of(args.device)
    ref, dist = (image.to(device) for image in sample_pair())
    print(f"sample pair: astronaut 192x256 vs its JPEG copy (quality 12), device {device}")
    forms = (("official", None, None), ("+smic", "smic", None), ("+smic authors", "smic", "authors"))
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
        "L: lower is better, H: higher is better. +smic: the paper's equations on the official metric "
        "(variant=paper, the default: the official scale and direction); +smic authors: the authors' "
        f"code (variant=authors), with which the paper's Table I was computed. {time.perf_counter() - start:.1f} s"
    )
    return 0


class _HelpOptions(argparse.Action):
    """``--help-options [METRIC]``: print a metric's forms and options, then exit (like --help)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        name = values or getattr(namespace, "metric", None)
        if not name:
            parser.error("--help-options needs a metric: --metric M --help-options, or --help-options M")
        try:
            print(describe_metric(MetricSpec.parse(str(name)).name))
        except ValueError as error:
            parser.error(str(error))
        parser.exit()


def _metrics(args: argparse.Namespace) -> int:
    names = [MetricSpec(name).name for name in args.names] or smic.list_metrics()
    print("\n\n".join(describe_metric(name) for name in names))
    print(
        "\nA spec is name[+smic|+mic][:option=value...], e.g. ssim+smic:convention=matlab; "
        "+smic forms take variant=paper (default) or variant=authors."
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
        choices=["paper", "authors", "reference"],
        default=None,
        help="with --attention: paper (default): the paper's equations on the official metric, same "
        "direction and scale; authors: the authors' code exactly, as in the paper's tables (psnr, ssim, "
        "lpips, dists, deepwsd); reference: deprecated name of authors",
    )
    score.add_argument(
        "--help-options",
        nargs="?",
        action=_HelpOptions,
        metavar="METRIC",
        help="print the metric's forms and options with their defaults, and exit",
    )
    score.add_argument(
        "--json", action="store_true", help='print one strict JSON object (inf, -inf, nan as strings: "inf")'
    )
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

    listing = commands.add_parser("metrics", help="list the metrics: direction, range, forms, options and defaults")
    listing.add_argument("names", nargs="*", help="only these metrics")
    listing.set_defaults(run=_metrics)

    weight = commands.add_parser("weights", help="list the weights in use; `pull` fetches missing ones")
    weight.add_argument("action", nargs="?", choices=["pull"])
    weight.set_defaults(run=_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; every error is one line ``smic: error: ...`` and exit code 2 (set
    ``SMIC_DEBUG=1`` to see the traceback of an unexpected one)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("smic: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("SMIC_DEBUG"):
            raise
        print(f"smic: error: {error_line(error)}", file=sys.stderr)
        return 2


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


if __name__ == "__main__":
    sys.exit(main())

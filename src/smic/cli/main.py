"""The ``smic`` command: score | map | demo | weights | bench."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import torch

import smic
from smic import weights
from smic.cli.common import add_run_arguments, device_of, engine_of, error_line, json_number
from smic.io import image_size, load_pair
from smic.memory import check_fits
from smic.spec import MetricSpec, describe_metric


def _specs(args: argparse.Namespace) -> list[MetricSpec]:
    """Every ``--metric`` (repeatable, each a comma list of specs), with the ``--option``s,
    ``--attention`` and ``--variant`` applied to each (values read by the spec's own rule)."""
    texts = [text.strip() for group in args.metric for text in group.split(",") if text.strip()]
    if not texts:
        raise ValueError("--metric: no metric given")
    options = "".join(f":{option}" for option in args.option)
    return list(
        dict.fromkeys(MetricSpec.of(t + options, attention=args.attention, variant=args.variant) for t in texts)
    )


def _is_folder(path: str) -> bool:
    from smic import storage

    return storage.is_dir(storage.as_location(path))


def _score(args: argparse.Namespace) -> int:
    specs = _specs(args)
    device = device_of(args.device)
    if args.pairs is None and (args.ref is None or args.dist is None):
        raise ValueError("give REF and DIST (two files or two folders), or --pairs pairs.csv")
    if args.pairs is not None and args.ref is not None:
        raise ValueError("give either REF and DIST or --pairs, not both")
    files = args.pairs is None and not (_is_folder(args.ref) or _is_folder(args.dist))
    if files and args.out is None and args.engine == "local":
        return _score_one_pair(args, specs, device)
    from smic.evaluation.datasets import Dataset
    from smic.evaluation.scoring import pairs_from_csv, pairs_from_folders, score_pairs

    pairs: Dataset | list[tuple[str, str]]
    if args.pairs is not None:
        pairs = pairs_from_csv(args.pairs)
    elif files:
        pairs = [(args.ref, args.dist)]
    elif _is_folder(args.ref) and _is_folder(args.dist):
        pairs = pairs_from_folders(args.ref, args.dist)
    else:
        raise ValueError(f"REF and DIST must both be files or both folders: {args.ref}, {args.dist}")
    result = score_pairs(
        pairs,
        specs,
        out=args.out,
        device=device,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=not args.no_progress,
        max_pixels=args.max_pixels,
        fresh=args.fresh,
        engine=engine_of(args),
    )
    if args.out is None:
        writer = csv.writer(sys.stdout)
        columns = ["id", "ref", "dist", *result.labels]
        writer.writerow(columns)
        writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in result.records()])
    print(result.summary(), file=sys.stderr if args.out is None else sys.stdout)
    return 1 if result.failures else 0


def _score_one_pair(args: argparse.Namespace, specs: list[MetricSpec], device: torch.device) -> int:
    metrics = [spec.build(device) for spec in specs]
    height, width = image_size(args.ref, "ref")
    for spec in specs:  # before decoding: a pair too large is one line with the ways out
        check_fits(spec, 1, height, width, device)
    ref, dist = (image.to(device) for image in load_pair(args.ref, args.dist, max_pixels=args.max_pixels))
    records = []
    for spec, metric in zip(specs, metrics):
        with torch.inference_mode():
            value = float(metric(ref, dist)[0])
        records.append(
            {
                "metric": spec.name,
                "spec": spec.label,
                "score": json_number(value),
                "lower_better": metric.lower_better,
                "score_range": [json_number(v) for v in metric.score_range],
                "attention": spec.attention,
                "variant": None if spec.attention is None else spec.form,
                "ref": args.ref,
                "dist": args.dist,
            }
        )
        if not args.json:
            print(f"{spec.label}: {value:.6g} ({'lower' if metric.lower_better else 'higher'} is better)")
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, allow_nan=False))
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

    score = commands.add_parser(
        "score",
        help="score a pair, two folders of pairs, or a list of pairs with one or more metrics",
        description="Score REF against DIST: two image files, two folders (pairs matched by relative path), "
        "or --pairs CSV (columns ref,dist[,id], paths relative to the CSV). Many pairs, or --out, run on the "
        "engine of smic bench: batched, resumable (the scores are kept in OUT.store/), failures listed "
        "with their reason (exit code 1).",
    )
    score.add_argument("ref", nargs="?", help="reference image file or folder")
    score.add_argument("dist", nargs="?", help="distorted image file or folder")
    score.add_argument("--pairs", help="CSV of pairs: columns ref,dist and an optional id")
    score.add_argument(
        "--metric",
        action="append",
        required=True,
        help=f"comma list of specs (repeatable): {metrics}, with +smic/+mic and :option=value, "
        "e.g. psnr,ssim,lpips+smic",
    )
    score.add_argument("--out", help="write the scores to this .csv, .jsonl or .parquet file (resumable)")
    add_run_arguments(score)
    score.add_argument("--fresh", action="store_true", help="start a new store for --out, replacing the old scores")
    score.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        "--json",
        action="store_true",
        help='one pair: print strict JSON, an object per metric (a list for several; inf as the string "inf")',
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


if __name__ == "__main__":
    sys.exit(main())

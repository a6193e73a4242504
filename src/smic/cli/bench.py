"""``smic bench`` (also ``python -m smic.cli.bench``): score a dataset with metric configs and
correlate the scores with its subjective ones; see :mod:`smic.evaluation.runner`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from smic.cli.common import add_run_arguments, device_of, engine_of, error_line
from smic.evaluation.datasets import list_datasets, load_dataset
from smic.evaluation.runner import expand_configs, run_benchmark
from smic.evaluation.store import STORE_NAME

__all__ = ["HELP", "add_bench_arguments", "bench_main", "main"]

HELP = "score a dataset and correlate with subjective scores"


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments :func:`bench_main` reads, on ``smic bench`` or a parser of its own."""
    parser.add_argument(
        "--dataset", required=True, help=f"dataset name, case-insensitive: {', '.join(list_datasets())}"
    )
    parser.add_argument(
        "--root",
        required=True,
        type=Path,
        help="folder the dataset archive unpacks to (for csv: the CSV file with ref,dist,score)",
    )
    parser.add_argument(
        "--metrics",
        required=True,
        type=_comma_list,
        help="comma list of metric configs: psnr,ssim or psnr+smic or psnr:data_range=2.0",
    )
    parser.add_argument(
        "--attention",
        type=_comma_list,
        default=None,
        help="comma list of attentions applied to every metric: none,smic,mic (default: none)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    add_run_arguments(parser)
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="results folder; its scores.sqlite makes a rerun resume, and accumulates datasets",
    )
    parser.add_argument(
        "--csv-direction",
        choices=("lower", "higher"),
        default=None,
        help="for --dataset csv: whether a lower or a higher score means better quality",
    )
    parser.add_argument(
        "--labels", default=None, help="LIVE: dmos, realigned or a .mat path; CSIQ: the .xlsx or CSV export to read"
    )
    parser.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="accept a partial copy of a dataset (skip the full-release count checks)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help=f"start a new {STORE_NAME} even though --out holds result files of another one, and replace them",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def bench_main(args: argparse.Namespace) -> int:
    """Run ``smic bench`` on the arguments of :func:`add_bench_arguments`: 0 when every score was
    made, 1 when some pairs failed (listed), 2 on a bad dataset, config or argument (one line, no
    traceback), 130 when interrupted (rerun to resume)."""
    try:
        expand_configs(args.metrics, args.attention)  # a bad config fails before the dataset is read
        direction = None if args.csv_direction is None else args.csv_direction == "lower"
        dataset = load_dataset(args.dataset, args.root, strict=args.strict, labels=args.labels, lower_better=direction)
        print(dataset.describe(), file=sys.stderr)
        summary = run_benchmark(
            dataset,
            args.metrics,
            args.out,
            attention=args.attention,
            device=device_of(args.device),
            batch_size=args.batch_size,
            progress=args.progress,
            n_boot=args.bootstrap,
            fresh=args.fresh,
            workers=args.workers,
            max_pixels=args.max_pixels,
            engine=engine_of(args),
        )
    except KeyboardInterrupt:
        print(
            f"\nsmic bench: interrupted; the scores made so far are in {args.out / STORE_NAME}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as error:
        if os.environ.get("SMIC_DEBUG"):
            raise
        print(f"smic bench: error: {error_line(error)}", file=sys.stderr)
        return 2
    print(summary.format())
    return 1 if summary.failures else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m smic.cli.bench ...``: the same as ``smic bench ...``."""
    parser = argparse.ArgumentParser(prog="python -m smic.cli.bench", description=HELP)
    add_bench_arguments(parser)
    return bench_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark runner: every pair x every metric config, batched, resumable, into an on-disk store.

``run_benchmark(dataset, ["psnr", "ssim"], out, attention=[None, "smic"])`` scores the configs
psnr, psnr+smic, ssim, ssim+smic. Scores go to ``<out>/scores.sqlite`` as they are made (one
commit per batch and config), so an interrupted run (Ctrl-C, SIGKILL, a crash) restarted with the same
arguments computes only what is missing. Failures (unreadable image, size mismatch, grey/colour
mix, metric error) are recorded with the pair and the reason, reported, and retried by the next
run. The folder accumulates: every dataset and config ever scored into it appears in its result
files (scores.csv, table.csv, paired.csv, table.md, plots/), so six runs build the paper's Table I.

A config is a :class:`~smic.spec.MetricSpec`, written ``metric[+attention][:option=value...]``,
e.g. ``psnr``, ``psnr+smic``, ``ssim+mic``, ``psnr:data_range=2.0``, ``lpips+smic:variant=paper``;
its label keys the store. The command line is :mod:`smic.cli.bench`; the store:
:mod:`smic.evaluation.store`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from smic.evaluation.datasets import Dataset
from smic.evaluation.engine import Engine, Failure, prepare_metrics, score_dataset
from smic.evaluation.store import STORE_NAME, ScoreStore
from smic.spec import MetricSpec

if TYPE_CHECKING:  # report (scipy, matplotlib) is imported only when the results are written
    from smic.evaluation.report import TableRow

__all__ = [
    "Failure",
    "MetricConfig",
    "ScoreStore",
    "Summary",
    "expand_configs",
    "parse_config",
    "run_benchmark",
]

MetricConfig = MetricSpec  # the runner's name for a config before MetricSpec; kept for old imports
parse_config = MetricSpec.parse


def expand_configs(metrics: Sequence[str], attention: Sequence[str | None] | None = None) -> list[MetricSpec]:
    """Every metric with every attention (``None`` or ``"none"``: plain), unless its text names
    an attention itself (``ssim+mic``); duplicates are dropped, the order kept."""
    configs: list[MetricSpec] = []
    for text in metrics:
        head, sep, options = text.strip().partition(":")
        forms = [text] if "+" in head else [f"{head}+{a or 'none'}{sep}{options}" for a in attention or [None]]
        for config in map(MetricSpec.parse, forms):
            if config not in configs:
                configs.append(config)
    if not configs:
        raise ValueError("no metric given")
    return configs


# ---------------------------------------------------------------------------- the run


@dataclass
class Summary:
    """What a run did and where its results are."""

    out: Path
    dataset: str
    n_pairs: int
    configs: list[str]
    computed: int
    reused: int
    failures: list[Failure]
    rows: list[TableRow] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def format(self) -> str:
        head = (
            f"{self.dataset}: {self.n_pairs} pairs x {len(self.configs)} configs ({', '.join(self.configs)}): "
            f"{self.computed} scores computed, {self.reused} reused from {self.out / STORE_NAME}, "
            f"{len(self.failures)} failed, {self.seconds:.1f} s"
        )
        lines = [head]
        for row in self.rows:
            e = row.evaluation
            if row.dataset == self.dataset and row.config.label in self.configs and e is not None:
                lines.append(
                    f"  {row.config.label:<24} n={e.n:<6} SRCC {e.srcc:.4f}  KRCC {e.krcc:.4f}  "
                    f"PLCC {e.plcc:.4f}  RMSE {e.rmse:.4g}  fit: {e.fit_status}"
                )
        for failure in self.failures[:20]:
            lines.append(f"  FAILED {failure.config} {failure.ref} | {failure.dist}: {failure.reason}")
        if len(self.failures) > 20:
            lines.append(f"  ... {len(self.failures) - 20} more failures: see {self.out / 'failures.csv'}")
        lines.append(
            f"results in {self.out}: "
            + ", ".join(p.name for p in self.files[:4])
            + (f" and {len(self.files) - 4} plots" if len(self.files) > 4 else "")
        )
        return "\n".join(lines)


def run_benchmark(
    dataset: Dataset,
    metrics: Sequence[str],
    out: Path | str,
    *,
    attention: Sequence[str | None] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    progress: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    plots: bool = True,
    fresh: bool = False,
    workers: int | None = None,
    max_pixels: int | None = None,
    engine: Engine | None = None,
) -> Summary:
    """Score every pair of ``dataset`` with every metric config; write the store and the result files.

    Configs: :func:`expand_configs` of ``metrics`` x ``attention``. Pairs of equal image size
    are batched (``batch_size``) and run on ``device`` under ``torch.inference_mode``. Already
    stored scores are reused, never recomputed; failures are stored and listed in the summary.
    ``n_boot`` bootstrap resamples (seed ``seed``) give the CIs; 0 skips them. ``engine``: None
    for this process, or :class:`~smic.evaluation.ray_engine.RayEngine` for a Ray cluster.

    The folder is locked for the run, and its store and result files are checked first: see
    :meth:`ScoreStore.open_run` (``fresh``: a new store may replace result files it does not hold)
    and :meth:`ScoreStore.staged_results`; a problem raises a one-line
    :class:`~smic.evaluation.store.StoreError`.
    """
    started = time.perf_counter()
    out = Path(out)
    configs = expand_configs(metrics, attention)
    torch_device = torch.device(device) if device is not None else torch.device("cpu")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    models = prepare_metrics(configs, torch_device, engine)
    store = ScoreStore.open_run(out, fresh=fresh)  # locked until store.close()
    try:
        scored = score_dataset(
            store,
            dataset,
            configs,
            models,
            device=torch_device,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            max_pixels=max_pixels,
            engine=engine,
        )
        from smic.evaluation.report import read_store, write_reports

        results, stored_configs = read_store(store)
        with store.staged_results() as stage:  # each file replaced whole, and only from a store holding it
            rows, files = write_reports(stage, results, stored_configs, n_boot=n_boot, seed=seed, plots=plots)
            _write_failures(stage / "failures.csv", store.failures())
            files = [out / path.relative_to(stage) for path in files]
    finally:
        store.close()
    return Summary(
        out,
        dataset.name,
        len(dataset),
        scored.labels,
        scored.computed,
        scored.reused,
        scored.failures,
        rows,
        files,
        time.perf_counter() - started,
    )


def _write_failures(path: Path, failures: list[tuple[str, str, str, str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "ref", "dist", "metric", "reason"])
        writer.writerows(failures)

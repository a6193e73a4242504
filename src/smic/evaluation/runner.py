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
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from smic.evaluation.datasets import Dataset
from smic.evaluation.store import STORE_NAME, ScoreStore
from smic.io import load_pair
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


@dataclass(frozen=True)
class Failure:
    """A (pair, config) that could not be scored, and why."""

    dataset: str
    ref: str
    dist: str
    config: str
    reason: str


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


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()


class _Scorer:
    """Scores the missing (pair, config) items of one dataset batch by batch, storing as it goes."""

    def __init__(
        self,
        dataset: Dataset,
        keys: list[tuple[str, str]],
        store: ScoreStore,
        run: int,
        metrics: dict[str, torch.nn.Module],
        device: torch.device,
        batch_size: int,
    ) -> None:
        self.dataset, self.keys, self.store, self.run = dataset, keys, store, run
        self.metrics, self.device, self.batch_size = metrics, device, batch_size
        self.computed = 0
        self.failed = 0

    def fail(self, index: int, configs: Iterable[str], reason: str) -> None:
        ref, dist = self.keys[index]
        for config in configs:
            self.store.add_failure(self.dataset.name, ref, dist, config, reason, self.run)
            self.failed += 1

    def plan(self, todo: dict[int, list[str]], pool: ThreadPoolExecutor) -> list[list[int]]:
        """Read image headers; record unreadable/mismatched pairs; batch the rest by image size."""
        pairs = self.dataset.pairs
        paths = sorted({pairs[i].ref for i in todo} | {pairs[i].dist for i in todo})
        sizes: dict[Path, tuple[int, int] | str] = {}
        for path, future in zip(paths, [pool.submit(_image_size, p) for p in paths]):
            try:
                sizes[path] = future.result()
            except Exception as error:
                sizes[path] = f"unreadable image {path.name}: {_reason(error)}"
        groups: dict[tuple[int, int], list[int]] = {}
        for index in sorted(todo):
            ref_size, dist_size = sizes[pairs[index].ref], sizes[pairs[index].dist]
            if isinstance(ref_size, str) or isinstance(dist_size, str):
                self.fail(index, todo[index], ref_size if isinstance(ref_size, str) else str(dist_size))
            elif ref_size != dist_size:
                self.fail(
                    index,
                    todo[index],
                    f"size mismatch: ref is {ref_size[0]}x{ref_size[1]}, dist is {dist_size[0]}x{dist_size[1]}",
                )
            else:
                groups.setdefault(ref_size, []).append(index)
        self.store.commit()
        return [
            group[i : i + self.batch_size]
            for _, group in sorted(groups.items())
            for i in range(0, len(group), self.batch_size)
        ]

    def score(self, config: str, indices: list[int], images: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> int:
        """Score ``indices`` with one config; on an error, retry one pair at a time to isolate it."""
        metric = self.metrics[config]
        try:
            ref = torch.cat([images[i][0] for i in indices]).to(self.device)
            dist = torch.cat([images[i][1] for i in indices]).to(self.device)
            with torch.inference_mode():
                values = metric(ref, dist)
            values = np.asarray(values.detach().to("cpu", torch.float64), dtype=np.float64).reshape(-1)
            if values.shape != (len(indices),):
                raise ValueError(f"metric returned {values.size} scores for {len(indices)} pairs")
        except Exception as error:
            if len(indices) > 1:
                return sum(self.score(config, [i], images) for i in indices)
            self.fail(indices[0], [config], f"metric error: {_reason(error)}")
            return 1
        good = [(self.keys[i][0], self.keys[i][1], float(v)) for i, v in zip(indices, values) if not np.isnan(v)]
        for i, v in zip(indices, values):
            if np.isnan(v):
                self.fail(i, [config], "metric returned NaN")
        self.store.add_scores(self.dataset.name, config, self.run, good)
        self.computed += len(good)
        return len(indices)

    def run_all(self, todo: dict[int, list[str]], progress: bool) -> None:
        from tqdm.auto import tqdm

        total = sum(len(configs) for configs in todo.values())
        workers = min(8, os.cpu_count() or 1)
        with (
            ThreadPoolExecutor(workers) as pool,
            tqdm(
                total=total,
                desc=self.dataset.name,
                unit="score",
                disable=not progress,
                dynamic_ncols=True,
                smoothing=0.1,
            ) as bar,
        ):
            batches = self.plan(todo, pool)
            bar.update(total - sum(len(todo[i]) for batch in batches for i in batch))

            def load(batch: list[int]) -> list[Future[tuple[torch.Tensor, torch.Tensor]]]:
                return [pool.submit(load_pair, self.dataset.pairs[i].ref, self.dataset.pairs[i].dist) for i in batch]

            pending = [load(batch) for batch in batches[:2]]
            for number, batch in enumerate(batches):
                futures = pending.pop(0)
                if number + 2 < len(batches):
                    pending.append(load(batches[number + 2]))
                images: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
                for index, future in zip(batch, futures):
                    try:
                        images[index] = future.result()
                    except Exception as error:
                        self.fail(index, todo[index], f"cannot load the pair: {_reason(error)}")
                        bar.update(len(todo[index]))
                for config in self.metrics:
                    indices = [i for i in batch if i in images and config in todo[i]]
                    if indices:
                        bar.update(self.score(config, indices, images))
                        self.store.commit()  # every (batch, config) is on disk as soon as it is made
                self.store.commit()
                bar.set_postfix(failed=self.failed, refresh=False)


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
) -> Summary:
    """Score every pair of ``dataset`` with every metric config; write the store and the result files.

    Configs: :func:`expand_configs` of ``metrics`` x ``attention``. Pairs of equal image size
    are batched (``batch_size``) and run on ``device`` under ``torch.inference_mode``. Already
    stored scores are reused, never recomputed; failures are stored and listed in the summary.
    ``n_boot`` bootstrap resamples (seed ``seed``) give the CIs; 0 skips them.

    The folder is locked for the run, and its store and result files are checked first: see
    :meth:`ScoreStore.open_run` (``fresh``: a new store may replace result files it does not hold)
    and :meth:`ScoreStore.staged_results`; a problem raises a one-line
    :class:`~smic.evaluation.store.StoreError`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    out = Path(out)
    configs = expand_configs(metrics, attention)
    torch_device = torch.device(device) if device is not None else torch.device("cpu")
    keys = [(dataset.key(pair.ref), dataset.key(pair.dist)) for pair in dataset.pairs]
    duplicates = [key for key, count in Counter(keys).items() if count > 1]
    if duplicates:
        raise ValueError(f"{dataset.name}: the pair {duplicates[0][0]} | {duplicates[0][1]} is listed more than once")
    models: dict[str, torch.nn.Module] = {}
    for config in configs:
        try:
            models[config.label] = config.build(device).eval()
        except (TypeError, ValueError) as error:
            raise ValueError(f"cannot create metric config {config.label!r}: {error}") from error

    store = ScoreStore.open_run(out, fresh=fresh)  # locked until store.close()
    try:
        store.set_dataset(
            dataset.name,
            str(Path(dataset.root).resolve()),
            str(dataset.label_file or ""),
            dataset.lower_better,
            dataset.score_name,
            dataset.notes,
            [(ref, dist, pair.score) for (ref, dist), pair in zip(keys, dataset.pairs)],
        )
        labels = [config.label for config in configs]
        for config in configs:
            variant = {"variant": config.variant} if config.variant else {}
            store.set_config(
                config.label, config.name, config.attention, {**dict(config.options), **variant}, config.lower_better
            )
        stored = store.stored_keys(dataset.name)
        todo: dict[int, list[str]] = {}
        for index, (ref, dist) in enumerate(keys):
            missing = [label for label in labels if (ref, dist, label) not in stored]
            if missing:
                todo[index] = missing
        reused = len(keys) * len(configs) - sum(len(v) for v in todo.values())
        run = store.start_run(dataset.name, labels)
        scorer = _Scorer(dataset, keys, store, run, models, torch_device, batch_size)
        status = "interrupted"
        try:
            if todo:
                scorer.run_all(todo, progress)
            status = "complete"
        finally:
            store.commit()
            store.finish_run(run, scorer.computed, status)
        from smic.evaluation.report import read_store, write_reports

        current = set(keys)
        failures = [
            Failure(*row) for row in store.failures(dataset.name) if row[3] in labels and (row[1], row[2]) in current
        ]
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
        labels,
        scorer.computed,
        reused,
        failures,
        rows,
        files,
        time.perf_counter() - started,
    )


def _write_failures(path: Path, failures: list[tuple[str, str, str, str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "ref", "dist", "metric", "reason"])
        writer.writerows(failures)

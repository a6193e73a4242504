"""The benchmark runner: every pair x every metric config, batched, resumable, into an on-disk store.

``run_benchmark(dataset, ["psnr", "ssim"], out, attention=[None, "smic"])`` scores the configs
psnr, psnr+smic, ssim, ssim+smic. Scores go to ``<out>/scores.sqlite`` as they are made (one
commit per batch and config), so an interrupted run (Ctrl-C, SIGKILL, a crash) restarted with the same
arguments computes only what is missing. Failures (unreadable image, size mismatch, metric
error) are recorded with the pair and the reason, reported, and retried by the next run. The
folder accumulates: every dataset and config ever scored into it appears in its result files
(scores.csv, table.csv, paired.csv, table.md, plots/), so six runs build the paper's Table I.

Config names: ``metric[+attention][:option=value[:option=value]]``, e.g. ``psnr``,
``psnr+smic``, ``ssim+mic``, ``psnr:data_range=2.0``, ``lpips+smic:variant=reference``;
options are passed to ``create_metric`` (values parsed as Python literals, else kept as text).
The store: see :mod:`smic.evaluation.store`.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from smic.evaluation.datasets import Dataset, list_datasets, load_dataset
from smic.evaluation.store import STORE_NAME, ScoreStore
from smic.io import load_image
from smic.registry import create_metric

if TYPE_CHECKING:  # report (scipy, matplotlib) is imported only when the results are written
    from smic.evaluation.report import DatasetResults, TableRow

__all__ = [
    "Failure",
    "MetricConfig",
    "ScoreStore",
    "Summary",
    "add_bench_arguments",
    "bench_main",
    "expand_configs",
    "parse_config",
    "run_benchmark",
]

# ---------------------------------------------------------------------------- metric configs


@dataclass(frozen=True)
class MetricConfig:
    """One metric configuration: registry name, attention (None, "smic", "mic") and options."""

    metric: str
    attention: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        attention = f"+{self.attention}" if self.attention else ""
        return self.metric + attention + "".join(f":{key}={value}" for key, value in self.options)

    def create(self, device: str | torch.device | None = None) -> torch.nn.Module:
        """``create_metric(metric, device=..., **options)``, plus ``attention=`` only when set."""
        options = dict(self.options)
        if self.attention is not None:
            options["attention"] = self.attention
        return create_metric(self.metric, device=device, **options)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _attention_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip().lower()
    return None if value in ("", "none", "plain", "off") else value


def parse_config(spec: str) -> MetricConfig:
    """Parse ``metric[+attention][:key=value...]`` (see the module docstring)."""
    head, *pairs = spec.strip().split(":")
    metric, _, attention = head.partition("+")
    if not metric:
        raise ValueError(f"empty metric name in {spec!r}")
    options = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad option {pair!r} in {spec!r}: expected key=value")
        options.append((key.strip(), _literal(value.strip())))
    return MetricConfig(metric.strip().lower(), _attention_name(attention), tuple(sorted(options)))


def expand_configs(metrics: Sequence[str], attention: Sequence[str | None] | None = None) -> list[MetricConfig]:
    """Every metric with every attention (``None`` = plain), unless its spec names an attention itself."""
    attentions = [_attention_name(a) for a in (attention or [None])]
    configs: list[MetricConfig] = []
    for spec in metrics:
        config = parse_config(spec)
        variants = [config] if "+" in spec.split(":")[0] else [
            MetricConfig(config.metric, a, config.options) for a in attentions]
        configs += [c for c in variants if c not in configs]
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
        head = (f"{self.dataset}: {self.n_pairs} pairs x {len(self.configs)} configs ({', '.join(self.configs)}): "
                f"{self.computed} scores computed, {self.reused} reused from {self.out / STORE_NAME}, "
                f"{len(self.failures)} failed, {self.seconds:.1f} s")
        lines = [head]
        for row in self.rows:
            e = row.evaluation
            if row.dataset == self.dataset and row.config.name in self.configs and e is not None:
                lines.append(f"  {row.config.name:<24} n={e.n:<6} SRCC {e.srcc:.4f}  KRCC {e.krcc:.4f}  "
                             f"PLCC {e.plcc:.4f}  RMSE {e.rmse:.4g}  fit: {e.fit_status}")
        for failure in self.failures[:20]:
            lines.append(f"  FAILED {failure.config} {failure.ref} | {failure.dist}: {failure.reason}")
        if len(self.failures) > 20:
            lines.append(f"  ... {len(self.failures) - 20} more failures: see {self.out / 'failures.csv'}")
        lines.append(f"results in {self.out}: " + ", ".join(p.name for p in self.files[:4])
                     + (f" and {len(self.files) - 4} plots" if len(self.files) > 4 else ""))
        return "\n".join(lines)


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _load_pair(ref: Path, dist: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return load_image(ref, "ref", rgb=True), load_image(dist, "dist", rgb=True)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()


class _Scorer:
    """Scores the missing (pair, config) items of one dataset batch by batch, storing as it goes."""

    def __init__(self, dataset: Dataset, keys: list[tuple[str, str]], store: ScoreStore, run: int,
                 metrics: dict[str, torch.nn.Module], device: torch.device, batch_size: int) -> None:
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
            except Exception as error:  # noqa: BLE001  (PIL raises many types; recorded as a failure)
                sizes[path] = f"unreadable image {path.name}: {_reason(error)}"
        groups: dict[tuple[int, int], list[int]] = {}
        for index in sorted(todo):
            ref_size, dist_size = sizes[pairs[index].ref], sizes[pairs[index].dist]
            if isinstance(ref_size, str) or isinstance(dist_size, str):
                self.fail(index, todo[index], ref_size if isinstance(ref_size, str) else str(dist_size))
            elif ref_size != dist_size:
                self.fail(index, todo[index], f"size mismatch: ref is {ref_size[0]}x{ref_size[1]}, "
                                              f"dist is {dist_size[0]}x{dist_size[1]}")
            else:
                groups.setdefault(ref_size, []).append(index)
        self.store.commit()
        return [group[i:i + self.batch_size] for _, group in sorted(groups.items())
                for i in range(0, len(group), self.batch_size)]

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
        except Exception as error:  # noqa: BLE001  (any metric error is recorded, never fatal)
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
        with ThreadPoolExecutor(workers) as pool, \
                tqdm(total=total, desc=self.dataset.name, unit="score", disable=not progress,
                     dynamic_ncols=True, smoothing=0.1) as bar:
            batches = self.plan(todo, pool)
            bar.update(total - sum(len(todo[i]) for batch in batches for i in batch))

            def load(batch: list[int]) -> list[Future]:
                return [pool.submit(_load_pair, self.dataset.pairs[i].ref, self.dataset.pairs[i].dist)
                        for i in batch]

            pending = [load(batch) for batch in batches[:2]]
            for number, batch in enumerate(batches):
                futures = pending.pop(0)
                if number + 2 < len(batches):
                    pending.append(load(batches[number + 2]))
                images: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
                for index, future in zip(batch, futures):
                    try:
                        images[index] = future.result()
                    except Exception as error:  # noqa: BLE001  (an unreadable image is a recorded failure)
                        self.fail(index, todo[index], f"unreadable image: {_reason(error)}")
                        bar.update(len(todo[index]))
                for config in self.metrics:
                    indices = [i for i in batch if i in images and config in todo[i]]
                    if indices:
                        bar.update(self.score(config, indices, images))
                        self.store.commit()  # every (batch, config) is on disk as soon as it is made
                self.store.commit()
                bar.set_postfix(failed=self.failed, refresh=False)


def _dataset_results(store: ScoreStore) -> list[DatasetResults]:
    from smic.evaluation.report import DatasetResults

    results = []
    for info in store.datasets():
        pairs = store.pairs(info["name"])
        stored = store.scores(info["name"])
        keys = [(ref, dist) for ref, dist, _ in pairs]
        scores = {config: np.array([values.get(key, np.nan) for key in keys], dtype=np.float64)
                  for config, values in stored.items()}
        results.append(DatasetResults(info["name"], bool(info["lower_better"]), info["score_name"], info["notes"],
                                      [k[0] for k in keys], [k[1] for k in keys],
                                      np.array([s for _, _, s in pairs], dtype=np.float64), scores))
    return results


def run_benchmark(dataset: Dataset, metrics: list[str], out: Path | str, *,
                  attention: list[str | None] | None = None, device: str | torch.device | None = None,
                  batch_size: int = 8, progress: bool = True, n_boot: int = 1000, seed: int = 0,
                  plots: bool = True) -> Summary:
    """Score every pair of ``dataset`` with every metric config; write the store and the result files.

    Configs: :func:`expand_configs` of ``metrics`` x ``attention``. Pairs of equal image size
    are batched (``batch_size``) and run on ``device`` under ``torch.inference_mode``. Already
    stored scores are reused, never recomputed; failures are stored and listed in the summary.
    ``n_boot`` bootstrap resamples (seed ``seed``) give the CIs; 0 skips them.
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
            models[config.name] = config.create(device).eval()
        except (TypeError, ValueError) as error:
            raise ValueError(f"cannot create metric config {config.name!r}: {error}") from error

    store = ScoreStore(out / STORE_NAME)
    try:
        store.set_dataset(dataset.name, str(Path(dataset.root).resolve()), str(dataset.label_file or ""),
                          dataset.lower_better, dataset.score_name, dataset.notes,
                          [(ref, dist, pair.score) for (ref, dist), pair in zip(keys, dataset.pairs)])
        for config in configs:
            store.set_config(config.name, config.metric, config.attention, dict(config.options),
                             bool(getattr(models[config.name], "lower_better", False)))
        stored = store.stored_keys(dataset.name)
        todo: dict[int, list[str]] = {}
        for index, (ref, dist) in enumerate(keys):
            missing = [c.name for c in configs if (ref, dist, c.name) not in stored]
            if missing:
                todo[index] = missing
        reused = len(keys) * len(configs) - sum(len(v) for v in todo.values())
        run = store.start_run(dataset.name, [c.name for c in configs])
        scorer = _Scorer(dataset, keys, store, run, models, torch_device, batch_size)
        status = "interrupted"
        try:
            if todo:
                scorer.run_all(todo, progress)
            status = "complete"
        finally:
            store.commit()
            store.finish_run(run, scorer.computed, status)
        from smic.evaluation.report import ConfigInfo, write_reports

        wanted = {c.name for c in configs}
        current = set(keys)
        failures = [Failure(*row) for row in store.failures(dataset.name)
                    if row[3] in wanted and (row[1], row[2]) in current]
        config_infos = [ConfigInfo(c["name"], c["metric"], c["attention"], c["options"], c["lower_better"])
                        for c in store.configs()]
        rows, files = write_reports(out, _dataset_results(store), config_infos, n_boot=n_boot, seed=seed,
                                    plots=plots)
        _write_failures(out / "failures.csv", store.failures())
    finally:
        store.close()
    return Summary(out, dataset.name, len(dataset), [c.name for c in configs], scorer.computed, reused, failures,
                   rows, files, time.perf_counter() - started)


def _write_failures(path: Path, failures: list[tuple[str, str, str, str, str]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "ref", "dist", "metric", "reason"])
        writer.writerows(failures)


# ---------------------------------------------------------------------------- command line


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _attention_list(text: str) -> list[str | None]:
    return [_attention_name(item) for item in _comma_list(text)]


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``smic bench`` (see :func:`bench_main`)."""
    parser.add_argument("--dataset", required=True,
                        help=f"dataset name, case-insensitive: {', '.join(list_datasets())}")
    parser.add_argument("--root", required=True, type=Path,
                        help="folder the dataset archive unpacks to (for csv: the CSV file with ref,dist,score)")
    parser.add_argument("--metrics", required=True,
                        help="comma list of metric configs: psnr,ssim or psnr+smic or psnr:data_range=2.0")
    parser.add_argument("--attention", type=_attention_list, default=None,
                        help="comma list of attentions applied to every metric: none,smic,mic (default: none)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per batch (default: 8)")
    parser.add_argument("--out", required=True, type=Path,
                        help="results folder; its scores.sqlite makes a rerun resume, and accumulates datasets")
    parser.add_argument("--csv-direction", choices=("lower", "higher"), default=None,
                        help="for --dataset csv: whether a lower or a higher score means better quality")
    parser.add_argument("--labels", default=None,
                        help="LIVE: dmos, realigned or a .mat path; CSIQ: the .xlsx or CSV export to read")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="accept a partial copy of a dataset (skip the full-release count checks)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def bench_main(args: argparse.Namespace) -> int:
    """Run ``smic bench``: 0 when every score was made, 1 when some pairs failed (listed), 2 on a
    bad dataset or argument (message, no traceback), 130 when interrupted (rerun to resume)."""
    direction = getattr(args, "csv_direction", None)
    attention = getattr(args, "attention", None)
    if isinstance(attention, str):
        attention = _attention_list(attention)
    elif attention is not None:
        attention = [_attention_name(a) for a in attention]
    metrics = _comma_list(args.metrics) if isinstance(args.metrics, str) else list(args.metrics)
    try:
        dataset = load_dataset(args.dataset, args.root, strict=getattr(args, "strict", True),
                               labels=getattr(args, "labels", None),
                               lower_better=None if direction is None else direction == "lower")
        print(dataset.describe(), file=sys.stderr)
        summary = run_benchmark(dataset, metrics, Path(args.out), attention=attention,
                                device=getattr(args, "device", None), batch_size=getattr(args, "batch_size", 8),
                                progress=getattr(args, "progress", True), n_boot=getattr(args, "bootstrap", 1000))
    except (FileNotFoundError, ValueError) as error:
        print(f"smic bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nsmic bench: interrupted; the scores made so far are in {Path(args.out) / STORE_NAME}: "
              "run the same command again to resume", file=sys.stderr)
        return 130
    print(summary.format())
    return 1 if summary.failures else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m smic.evaluation.runner ...``: the same as ``smic bench ...``."""
    import smic  # noqa: F401  (registers the metrics)

    parser = argparse.ArgumentParser(prog="python -m smic.evaluation.runner", description=__doc__.split("\n")[0])
    add_bench_arguments(parser)
    return bench_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

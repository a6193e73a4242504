"""The scoring engine under ``smic score`` and ``smic bench``: pairs x metric configs, batched,
resumable, into a :class:`~smic.evaluation.store.ScoreStore`.

Only what the store lacks is computed. Image sizes come from the file headers, so unreadable,
oversized and mismatched pairs are recorded as failures before anything is decoded; the rest are
batched by size (``batch_size`` pairs of one size per batch), decoded by ``workers`` threads two
batches ahead, and scored with every config that still needs them. Each (batch, config) is
committed as soon as it is made, so an interrupted run loses at most the batch in flight. A
metric error in a batch is retried pair by pair, so it fails only the pair that caused it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smic import io
from smic.evaluation.datasets import Dataset
from smic.evaluation.store import ScoreStore
from smic.io import image_size, load_pair
from smic.memory import check_fits
from smic.metrics.base import Metric
from smic.spec import MetricSpec

__all__ = ["Failure", "Scored", "build_metrics", "score_dataset"]


@dataclass(frozen=True)
class Failure:
    """A (pair, config) that could not be scored, and why."""

    dataset: str
    ref: str
    dist: str
    config: str
    reason: str


@dataclass(frozen=True)
class Scored:
    """What :func:`score_dataset` did: scores computed now, reused from the store, open failures."""

    labels: list[str]
    computed: int
    reused: int
    failures: list[Failure]


def build_metrics(configs: Sequence[MetricSpec], device: str | torch.device | None) -> dict[str, Metric]:
    """Every config built on ``device`` (label -> metric): a bad config fails before any work."""
    metrics: dict[str, Metric] = {}
    for config in configs:
        try:
            metrics[config.label] = config.build(device).eval()
        except (TypeError, ValueError) as error:
            raise ValueError(f"cannot create metric config {config.label!r}: {error}") from error
    return metrics


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
        specs: Sequence[MetricSpec],
        metrics: dict[str, Metric],
        device: torch.device,
        batch_size: int,
        max_pixels: int | None,
    ) -> None:
        self.dataset, self.keys, self.store, self.run = dataset, keys, store, run
        self.specs = {spec.label: spec for spec in specs}
        self.metrics, self.device, self.batch_size, self.max_pixels = metrics, device, batch_size, max_pixels
        self.computed = 0
        self.failed = 0

    def fail(self, index: int, configs: Iterable[str], reason: str) -> None:
        ref, dist = self.keys[index]
        for config in configs:
            self.store.add_failure(self.dataset.name, ref, dist, config, reason, self.run)
            self.failed += 1

    def _size(self, path: Path) -> tuple[int, int] | str:
        try:
            height, width = image_size(path, path.name)
        except (ValueError, FileNotFoundError) as error:
            return str(error)
        limit = self.max_pixels if self.max_pixels is not None else io.MAX_PIXELS
        if height * width > limit:
            return f"{path.name}: {width}x{height} is over the limit of {limit} pixels (raise --max-pixels)"
        return height, width

    def plan(self, todo: dict[int, list[str]], pool: ThreadPoolExecutor) -> list[list[int]]:
        """Read image headers; record unreadable/oversized/mismatched pairs; batch the rest by size."""
        pairs = self.dataset.pairs
        paths = sorted({pairs[i].ref for i in todo} | {pairs[i].dist for i in todo})
        sizes = dict(zip(paths, pool.map(self._size, paths)))
        groups: dict[tuple[int, int], list[int]] = {}
        for index in sorted(todo):
            ref_size, dist_size = sizes[pairs[index].ref], sizes[pairs[index].dist]
            if isinstance(ref_size, str) or isinstance(dist_size, str):
                self.fail(index, todo[index], ref_size if isinstance(ref_size, str) else str(dist_size))
            elif ref_size != dist_size:
                self.fail(
                    index,
                    todo[index],
                    f"size mismatch: ref is {ref_size[1]}x{ref_size[0]}, dist is {dist_size[1]}x{dist_size[0]}",
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
        """Score ``indices`` with one config; on an error, retry one pair at a time to isolate it. A
        batch the device has no memory for is halved; a pair it has none for fails with the ways out."""
        metric = self.metrics[config]
        height, width = images[indices[0]][0].shape[-2:]
        try:
            check_fits(self.specs[config], len(indices), height, width, self.device)
        except ValueError as error:
            if len(indices) > 1:
                half = len(indices) // 2
                return self.score(config, indices[:half], images) + self.score(config, indices[half:], images)
            self.fail(indices[0], [config], str(error))
            return 1
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

    def run_all(self, todo: dict[int, list[str]], progress: bool, workers: int) -> None:
        from tqdm.auto import tqdm

        total = sum(len(configs) for configs in todo.values())
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
                pairs = self.dataset.pairs
                return [pool.submit(load_pair, pairs[i].ref, pairs[i].dist, max_pixels=self.max_pixels) for i in batch]

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


def score_dataset(
    store: ScoreStore,
    dataset: Dataset,
    configs: Sequence[MetricSpec],
    metrics: dict[str, Metric],
    *,
    device: torch.device,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
    max_pixels: int | None = None,
) -> Scored:
    """Record ``dataset`` and ``configs`` in ``store`` and score every (pair, config) it lacks.

    ``metrics`` are the built configs (:func:`build_metrics`); ``workers`` threads read the image
    headers and decode (default: the CPU count, at most 8); an image over ``max_pixels`` (default
    :data:`smic.io.MAX_PIXELS`) fails. Failures are stored and returned.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    keys = [(dataset.key(pair.ref), dataset.key(pair.dist)) for pair in dataset.pairs]
    seen: set[tuple[str, str]] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{dataset.name}: the pair {key[0]} | {key[1]} is listed more than once")
        seen.add(key)
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
    scorer = _Scorer(dataset, keys, store, run, configs, metrics, device, batch_size, max_pixels)
    status = "interrupted"
    try:
        if todo:
            scorer.run_all(todo, progress, workers or min(8, os.cpu_count() or 1))
        status = "complete"
    finally:
        store.commit()
        store.finish_run(run, scorer.computed, status)
    current = set(keys)
    failures = [
        Failure(*row) for row in store.failures(dataset.name) if row[3] in labels and (row[1], row[2]) in current
    ]
    return Scored(labels, scorer.computed, reused, failures)

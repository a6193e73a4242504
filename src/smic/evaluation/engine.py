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
from typing import Protocol

import numpy as np
import torch

from smic import io, storage
from smic.evaluation.datasets import Dataset
from smic.evaluation.store import ScoreStore
from smic.io import image_size, load_pair
from smic.memory import check_fits
from smic.metrics.base import Metric
from smic.sharing import shared_work
from smic.spec import MetricSpec
from smic.storage import Location

__all__ = ["Failure", "Scored", "build_metrics", "score_dataset"]


@dataclass(frozen=True)
class Failure:
    """A (pair, config) that could not be scored, and why."""

    dataset: str
    ref: str
    dist: str
    config: str
    reason: str


class Engine(Protocol):
    """Scores a run's missing items somewhere else (a Ray cluster) into the scorer's store."""

    def run(self, scorer: _Scorer, todo: dict[int, list[str]], progress: bool) -> None: ...


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


def prepare_metrics(configs: Sequence[MetricSpec], device: torch.device, engine: Engine | None) -> dict[str, Metric]:
    """The configs built here for the local engine; for another engine only checked (it builds
    them where it scores), so that a bad config still fails before any work."""
    if engine is None:
        return build_metrics(configs, device)
    for config in configs:
        config.check_options()
    return {}


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()


# (pair index, config label, score, None) or (pair index, config label, None, why it failed)
Outcome = tuple[int, str, float | None, str | None]
Images = dict[int, tuple[torch.Tensor, torch.Tensor]]


def loaded_pairs(
    futures: dict[int, Future[tuple[torch.Tensor, torch.Tensor]]], todo: dict[int, list[str]]
) -> tuple[Images, list[Outcome]]:
    """The decoded pairs of a batch (pair index -> its decoding), and the failure of every config
    ``todo`` wants of each pair that could not be read."""
    images: Images = {}
    failed: list[Outcome] = []
    for index, future in futures.items():
        try:
            images[index] = future.result()
        except Exception as error:
            reason = f"cannot load the pair: {_reason(error)}"
            failed += [(index, config, None, reason) for config in todo[index]]
    return images, failed


def score_batch(
    specs: dict[str, MetricSpec],
    metrics: dict[str, Metric],
    device: torch.device,
    images: Images,
    wanted: dict[int, list[str]],
) -> list[Outcome]:
    """Every config ``wanted`` for each decoded pair of one size-matched batch, in config order.

    What the configs share (VGG16 passes, attention) is computed once (``smic.sharing``). A batch
    the device has no memory for is halved; a pair it has none for fails with the ways out; a
    metric error is retried pair by pair, so it fails only the pair that caused it. Each config's
    memory check runs when its turn comes, against the memory free then: what the earlier configs'
    shared intermediates still hold is already taken.
    """
    outcomes: list[Outcome] = []
    batches: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}  # one tensor per batch: shareable
    with shared_work():
        for config, metric in metrics.items():
            indices = [i for i in wanted if config in wanted[i]]
            if indices:
                outcomes += _score_config(specs[config], config, metric, device, images, indices, batches)
    return outcomes


def _score_config(
    spec: MetricSpec,
    config: str,
    metric: Metric,
    device: torch.device,
    images: Images,
    indices: list[int],
    batches: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]],
) -> list[Outcome]:
    height, width = images[indices[0]][0].shape[-2:]
    try:
        check_fits(spec, len(indices), height, width, device)
    except ValueError as error:
        if len(indices) == 1:
            return [(indices[0], config, None, str(error))]
        half = len(indices) // 2
        return _score_config(spec, config, metric, device, images, indices[:half], batches) + _score_config(
            spec, config, metric, device, images, indices[half:], batches
        )
    try:
        key = tuple(indices)
        if key not in batches:
            refs, dists = zip(*(images[i] for i in indices))
            batches[key] = (torch.cat(refs).to(device), torch.cat(dists).to(device))
        ref, dist = batches[key]
        with torch.inference_mode():
            values = metric(ref, dist)
        scores = np.asarray(values.detach().to("cpu", torch.float64), dtype=np.float64).reshape(-1)
        if scores.shape != (len(indices),):
            raise ValueError(f"metric returned {scores.size} scores for {len(indices)} pairs")
    except Exception as error:
        if len(indices) == 1:
            return [(indices[0], config, None, f"metric error: {_reason(error)}")]
        return [o for i in indices for o in _score_config(spec, config, metric, device, images, [i], batches)]
    return [
        (i, config, None, "metric returned NaN") if np.isnan(v) else (i, config, float(v), None)
        for i, v in zip(indices, scores)
    ]


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
        self.labels = list(self.specs)
        self.metrics, self.device, self.batch_size, self.max_pixels = metrics, device, batch_size, max_pixels
        self.computed = 0
        self.failed = 0

    def fail(self, index: int, configs: Iterable[str], reason: str) -> None:
        ref, dist = self.keys[index]
        for config in configs:
            self.store.add_failure(self.dataset.name, ref, dist, config, reason, self.run)
            self.failed += 1

    def _size(self, path: Location) -> tuple[int, int] | str:
        name = storage.name_of(path)
        try:
            height, width = image_size(path, name)
        except (ValueError, FileNotFoundError) as error:
            return str(error)
        limit = self.max_pixels if self.max_pixels is not None else io.MAX_PIXELS
        if height * width > limit:
            return f"{name}: {width}x{height} is over the limit of {limit} pixels (raise --max-pixels)"
        return height, width

    def plan(self, todo: dict[int, list[str]], pool: ThreadPoolExecutor) -> list[list[int]]:
        """Read image headers; record unreadable/oversized/mismatched pairs; batch the rest by size."""
        pairs = self.dataset.pairs
        paths = sorted({pairs[i].ref for i in todo} | {pairs[i].dist for i in todo}, key=str)
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

    def store_outcomes(self, outcomes: list[Outcome]) -> None:
        """Store one batch's outcomes, each config's scores and failures, and commit them."""
        by_config: dict[str, list[tuple[str, str, float]]] = {}
        for index, config, value, reason in outcomes:
            if reason is not None:
                self.fail(index, [config], reason)
            else:
                by_config.setdefault(config, []).append((*self.keys[index], float(value or 0.0)))
        for config, rows in by_config.items():
            self.store.add_scores(self.dataset.name, config, self.run, rows)
            self.computed += len(rows)
        self.store.commit()

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
                images, outcomes = loaded_pairs(dict(zip(batch, futures)), todo)
                wanted = {i: todo[i] for i in images}
                outcomes += score_batch(self.specs, self.metrics, self.device, images, wanted)
                self.store_outcomes(outcomes)  # every batch is on disk as soon as it is made
                bar.update(len(outcomes))
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
    engine: Engine | None = None,
) -> Scored:
    """Record ``dataset`` and ``configs`` in ``store`` and score every (pair, config) it lacks.

    ``metrics`` are the built configs (:func:`build_metrics`); ``workers`` threads read the image
    headers and decode (default: the CPU count, at most 8); an image over ``max_pixels`` (default
    :data:`smic.io.MAX_PIXELS`) fails. Failures are stored and returned. ``engine``: None for this
    process, or one that scores elsewhere (:class:`~smic.evaluation.ray_engine.RayEngine`); then
    ``metrics`` may be empty, since the engine builds its own.
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
            if engine is None:
                scorer.run_all(todo, progress, workers or min(8, os.cpu_count() or 1))
            else:
                engine.run(scorer, todo, progress)
        status = "complete"
    finally:
        store.commit()
        store.finish_run(run, scorer.computed, status)
    current = set(keys)
    failures = [
        Failure(*row) for row in store.failures(dataset.name) if row[3] in labels and (row[1], row[2]) in current
    ]
    return Scored(labels, scorer.computed, reused, failures)

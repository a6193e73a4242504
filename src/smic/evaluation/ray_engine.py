"""The Ray engine: the local engine's plan, scored by a pool of Ray actors on one machine or a cluster.

The driver keeps everything that makes a run safe: it reads the image headers, plans the
size-matched batches, stores every outcome in the same :class:`~smic.evaluation.store.ScoreStore`
and commits each batch, so resume, failures and reports are the local engine's. Each batch goes
to one actor (one per GPU with ``gpus_per_worker``, else CPU actors), which decodes the pair
files itself (local disk or a shared file system; every node needs the VGG16 weights in its
``SMIC_HOME``) and scores it with :func:`~smic.evaluation.engine.score_batch`, the local engine's
own function: on the same device, batch composition and thread count the scores are the same bits.
A failing pair is an outcome like any other; a crashed actor is restarted by Ray and its batch
retried, and a batch that still cannot be scored fails its pairs with the reason.

Plain Ray actors, not Ray Data: the driver plans the batches (Ray Data would cut them at block
boundaries, and float32 scores depend on batch composition), and the actors read the files
themselves. ``pip install "smic[ray]"``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from smic.evaluation.engine import Outcome, build_metrics, loaded_pairs, score_batch
from smic.io import load_pair
from smic.spec import MetricSpec

if TYPE_CHECKING:
    from smic.evaluation.engine import _Scorer

__all__ = ["RayEngine"]

# batches sent to an actor before it has returned one
IN_FLIGHT = 2

# (pair index, ref path, dist path, configs it needs)
Item = tuple[int, str, str, list[str]]


class _BatchScorer:
    """What each actor holds: the configs built once on its device and threads that decode, scoring
    one batch per call."""

    def __init__(self, labels: list[str], device: str, threads: int) -> None:
        torch.set_num_threads(threads)
        self.specs = {label: MetricSpec.parse(label) for label in labels}
        self.device = torch.device(device)
        self.metrics = build_metrics(list(self.specs.values()), self.device)
        self.decoding = ThreadPoolExecutor(threads)

    def score(self, items: list[Item], max_pixels: int | None) -> list[Outcome]:
        todo = {index: configs for index, _, _, configs in items}
        futures = {
            index: self.decoding.submit(load_pair, ref, dist, max_pixels=max_pixels) for index, ref, dist, _ in items
        }
        images, outcomes = loaded_pairs(futures, todo)
        wanted = {index: todo[index] for index in images}
        return outcomes + score_batch(self.specs, self.metrics, self.device, images, wanted)


@dataclass(frozen=True)
class RayEngine:
    """Run the scoring on Ray: ``address`` of a running cluster ("auto", "ray://HOST:PORT"), or
    None for a local one started (on loopback) for the run and stopped after it.

    Actors: with ``gpus_per_worker``, one per that share of a GPU, each with the node's CPUs per
    GPU share (for decoding); else one per node, each with all the node's CPUs, used as torch
    threads (one process with N threads is faster than N processes of one, and holds VGG16 once).
    ``workers`` and ``cpus_per_worker`` override the count and the CPUs (taken from the smallest
    node, so that every actor fits on any node)."""

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: int | None = None
    retries: int = 2

    def run(self, scorer: _Scorer, todo: dict[int, list[str]], progress: bool) -> None:
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            _init(ray, self.address)
        try:
            self._run(ray, scorer, todo, progress)
        finally:
            if started:
                ray.shutdown()

    def shape(self, nodes: list[dict[str, float]]) -> tuple[int, int]:
        """(actors, CPUs per actor) on a cluster of ``nodes`` (each node's resources)."""
        if self.gpus_per_worker > 0:
            gpu_nodes = [node for node in nodes if node.get("GPU", 0) >= self.gpus_per_worker]
            slots = [int(node["GPU"] // self.gpus_per_worker) for node in gpu_nodes]
            per_slot = [int(node.get("CPU", 0) // slot) for node, slot in zip(gpu_nodes, slots)]
            cpus = self.cpus_per_worker or max(1, min(per_slot, default=1))
            count = self.workers or sum(slots)
        else:
            cpus = self.cpus_per_worker or max(1, int(min((node.get("CPU", 0) for node in nodes), default=1)))
            count = self.workers or sum(int(node.get("CPU", 0) // cpus) for node in nodes)
        if count < 1:
            raise ValueError(
                f"the Ray cluster has no room for one scorer with {self.gpus_per_worker} GPU(s) and {cpus} CPU(s)"
            )
        return count, cpus

    def _actors(self, ray: Any, labels: list[str]) -> list[Any]:
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        count, cpus = self.shape(nodes)
        actor = ray.remote(
            num_cpus=cpus,
            num_gpus=self.gpus_per_worker,
            max_restarts=-1,  # a crashed actor comes back (the VGG16 weights are loaded again)
            max_task_retries=self.retries,  # and its batch is sent again
        )(_BatchScorer)
        device = "cuda" if self.gpus_per_worker > 0 else "cpu"
        return [actor.remote(labels, device, cpus) for _ in range(count)]

    def _run(self, ray: Any, scorer: _Scorer, todo: dict[int, list[str]], progress: bool) -> None:

        from tqdm.auto import tqdm

        total = sum(len(configs) for configs in todo.values())
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            batches = scorer.plan(todo, pool)
        actors = self._actors(ray, scorer.labels)
        pairs = scorer.dataset.pairs
        queue = [[(i, str(pairs[i].ref), str(pairs[i].dist), todo[i]) for i in batch] for batch in batches]
        # two batches in flight per actor: it starts the next as soon as it has finished one,
        # while the driver stores the first one's outcomes
        idle = [actor for _ in range(IN_FLIGHT) for actor in actors]
        running: dict[Any, tuple[Any, list[Item]]] = {}  # future -> (its actor, its batch)
        with tqdm(total=total, desc=f"{scorer.dataset.name} (ray)", unit="score", disable=not progress) as bar:
            bar.update(total - sum(len(todo[i]) for batch in batches for i in batch))
            while queue or running:
                while queue and idle:  # the rest waits on the driver, for whichever actor is free first
                    actor, items = idle.pop(0), queue.pop(0)
                    running[actor.score.remote(items, scorer.max_pixels)] = (actor, items)
                (done,), _ = ray.wait(list(running), num_returns=1)
                actor, items = running.pop(done)
                idle.append(actor)
                try:
                    outcomes: list[Outcome] = ray.get(done)
                except Exception as error:  # the actor died more often than Ray retries
                    reason = f"scorer failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
                    outcomes = [(i, config, None, reason) for i, _, _, configs in items for config in configs]
                scorer.store_outcomes(outcomes)
                bar.update(len(outcomes))
                bar.set_postfix(failed=scorer.failed, refresh=False)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError('the Ray engine needs ray: pip install "smic[ray]"') from None
    return ray


def _init(ray: Any, address: str | None) -> None:
    if address is not None:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return
    # a cluster of this machine only: on loopback, no dashboard, gone with the run
    ray.init(
        num_cpus=os.cpu_count() or 1,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )

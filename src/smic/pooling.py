"""The pooling seam: a metric says "pool this map" once, and the plain mean or an attention pool
fills it.

A metric hands its pool the features of a pair (``observe``, keyed by VGG16 stage: 1-5, 0 for the
image) and takes every spatial mean it would take through ``pool.mean(stage, values)``; stage 0 is
a map on the pixel grid. ``weights(stage, size)`` are the normalised weights of such a mean, None
where it is plain, so a metric keeps its official arithmetic (a sum, its own order of operations)
wherever nothing is weighted. :data:`PLAIN` is the official metric: no weights anywhere.
``smic.attention.AttentionPool`` is the paper's pooling.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from smic.sharing import memo

__all__ = ["PLAIN", "PlainMean", "Pool", "Stages", "join_pair", "spatial_mean", "split_pair"]

Stages = dict[int, Tensor]  # features by VGG16 stage number (1: relu1_2 ... 5: relu5_3; 0: the image)


def join_pair(
    ref: Tensor, dist: Tensor, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """The batch [ref; dist] of 2n images (on ``device``, in ``dtype``), made once per pair inside
    ``smic.sharing.shared_work()``, so that what metrics compute from it can be shared too."""
    device, dtype = torch.device(device or ref.device), dtype or ref.dtype  # one key for one result
    return memo(
        "join_pair", (device, dtype), (ref, dist), lambda: torch.cat([ref, dist]).to(device=device, dtype=dtype)
    )


def split_pair(stages: Stages, n: int) -> tuple[Stages, Stages]:
    """Features of a batch [ref; dist] of 2n images as the reference's and the distorted's (views)."""
    return {s: f[:n] for s, f in stages.items()}, {s: f[n:] for s, f in stages.items()}


def spatial_mean(values: Tensor) -> Tensor:
    """Mean over the last two dimensions of (N, C, h, w): (N, C)."""
    return values.mean(dim=(-2, -1))


class Pool(Protocol):
    """Where a metric's spatial means go."""

    def observe(self, ref: Stages, dist: Stages) -> None:
        """The pair's features (a pool may derive its weights from them)."""

    def weights(self, stage: int, size: tuple[int, int]) -> Tensor | None:
        """Weights (N, 1, h, w) summing to 1 of the means at ``stage`` on an h x w grid; None: plain."""

    def mean(self, stage: int, values: Tensor) -> Tensor:
        """Spatial mean of (N, C, h, w) values at ``stage``: (N, C)."""


class PlainMean:
    """The official pooling: every mean is the plain spatial mean."""

    def observe(self, ref: Stages, dist: Stages) -> None:
        return None

    def weights(self, stage: int, size: tuple[int, int]) -> Tensor | None:
        return None

    def mean(self, stage: int, values: Tensor) -> Tensor:
        return spatial_mean(values)


PLAIN = PlainMean()

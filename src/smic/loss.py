"""Metrics as losses: ``smic.loss(name, ...)`` is a module whose value falls as ``dist`` nears ``ref``.

What it minimises, per pair, from the metric's score s (official or ``+smic``, the paper's form):
- lower-is-better metrics (lpips, dists, deepwsd, mad, pieapp; nlpd has no gradient): s itself;
- psnr: 10^(-s/10) = MSE / data_range^2 (the attention-weighted MSE for ``+smic``), 0 for
  identical images, where -PSNR would be -inf;
- other higher-is-better metrics with a finite best score (ssim, ms_ssim): that best minus s
  (1 - SSIM); with an unbounded one, -s.
Then ``reduction`` ("mean", "sum", "none") over the batch.

The gradient flows through the metric's local maps. The SMIC (or MIC) attention of ``+smic`` is
computed from the current inputs on every call, detached: MIC counts ranks, so it has no gradient,
and the attention weighs the maps as a constant. A form without a gradient (8-bit rounding,
the authors' code) is refused when the loss is made, with the metric's own
:class:`~smic.metrics.base.NotDifferentiableError`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from smic.metrics.base import Metric, NotDifferentiableError
from smic.spec import MetricSpec

__all__ = ["MetricLoss", "loss"]

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS = ("mean", "sum", "none")


class MetricLoss(nn.Module):
    """``loss(ref, dist)``: (N, 3, H, W) pairs in [0, 1], in the metrics' order (``dist`` is the
    image being optimised) -> the reduced loss (or N values with ``reduction="none"``)."""

    def __init__(self, metric: Metric, reduction: Reduction = "mean") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        reason = metric.no_gradient()
        if reason is not None:
            raise NotDifferentiableError(reason)
        self.metric = metric
        self.reduction = reduction

    def values(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """The loss of each pair, (N,), before the reduction."""
        if self.metric.name == "psnr":
            return self._mse(ref, dist)
        score = self.metric(ref, dist)
        if self.metric.lower_better:
            return score
        best = self.metric.score_range[1]
        return best - score if math.isfinite(best) else -score

    def _mse(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """10^(-PSNR/10), scored on the pairs that differ: an identical pair's PSNR is inf, whose
        backward is NaN (0 x inf), while its MSE is 0 with a zero gradient."""
        differ = (ref != dist).flatten(1).any(dim=1)
        if bool(differ.all()):
            return torch.pow(10.0, -self.metric(ref, dist) / 10)
        values = torch.zeros(ref.shape[0], dtype=ref.dtype, device=ref.device)
        if bool(differ.any()):
            values = values.index_put((differ,), torch.pow(10.0, -self.metric(ref[differ], dist[differ]) / 10))
        return values

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        values = self.values(ref, dist)
        if self.reduction == "mean":
            return values.mean()
        if self.reduction == "sum":
            return values.sum()
        return values

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


def loss(
    name: str | MetricSpec,
    *,
    attention: str | None = None,
    variant: str | None = None,
    reduction: Reduction = "mean",
    device: str | torch.device | None = None,
    **options: Any,
) -> MetricLoss:
    """Metric ``name`` (as :func:`smic.create_metric` takes it) as a loss to minimise; see the
    module docstring for what it minimises. ``loss(ref, dist)`` takes the metrics' order.

    Raises :class:`~smic.metrics.base.NotDifferentiableError` (naming the option that gives a
    gradient, where one does) for a form without a gradient, e.g. ``ssim:convention=matlab``.
    """
    metric = MetricSpec.of(name, attention=attention, variant=variant, **options).build(device)
    return MetricLoss(metric, reduction)

"""Metric names -> metric classes, with the metadata users filter on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:  # the metric modules import this one to register themselves
    from smic.metrics.base import Metric

_METRICS: dict[str, type[Metric]] = {}
M = TypeVar("M", bound="type[Metric]")


def register(cls: M) -> M:
    """Class decorator: make ``cls`` available as ``create_metric(cls.name)``."""
    if cls.name in _METRICS:
        raise ValueError(f"metric {cls.name!r} is registered twice")
    _METRICS[cls.name] = cls
    return cls


def list_metrics() -> list[str]:
    """Names accepted by :func:`create_metric`."""
    return sorted(_METRICS)


def metric_class(name: str) -> type[Metric]:
    key = name.lower()
    if key not in _METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(list_metrics())}")
    return _METRICS[key]


def create_metric(name: str, *, device: str | torch.device | None = None, **options: Any) -> Metric:
    """Build metric ``name`` as an ``nn.Module``: ``metric(ref, dist)`` -> N scores.

    ``ref`` and ``dist`` are (N, 3, H, W) tensors in [0, 1]; ``metric.lower_better`` and
    ``metric.score_range`` say how to read the scores. ``options`` go to the metric's class.
    """
    metric = metric_class(name)(**options)
    return metric.to(device) if device is not None else metric

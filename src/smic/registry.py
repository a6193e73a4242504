"""Metric names -> metric classes, with the metadata users filter on.

A name has an official form (``attention=None``) and, for the SMIC-enhanced metrics, the authors'
form (``variant="reference"``) and the paper's form (``variant="paper"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, TypeVar

import torch

if TYPE_CHECKING:  # the metric modules import this one to register themselves
    from smic.metrics.base import Metric

Variant = Literal["reference", "paper"]
VARIANTS = ("reference", "paper")
_METRICS: dict[tuple[str, str], type["Metric"]] = {}
M = TypeVar("M", bound="type[Metric]")


def register(cls: M | None = None, *, variant: str = "official") -> M | Callable[[M], M]:
    """Class decorator: make ``cls`` available as ``create_metric(cls.name, ...)``."""

    def add(metric_cls: M) -> M:
        key = (metric_cls.name, variant)
        if key in _METRICS:
            raise ValueError(f"metric {key} is registered twice")
        _METRICS[key] = metric_cls
        return metric_cls

    return add(cls) if cls is not None else add


def list_metrics() -> list[str]:
    """Names accepted by :func:`create_metric`."""
    return sorted({name for name, variant in _METRICS if variant == "official"})


def default_variant(name: str) -> str:
    """"reference" where the authors' code has the metric (psnr, ssim, lpips, dists, deepwsd),
    else "paper", the only form of the other metrics."""
    return "reference" if (name.lower(), "reference") in _METRICS else "paper"


def metric_class(name: str, attention: str | None = None, variant: str | None = None) -> type["Metric"]:
    key = name.lower()
    if (key, "official") not in _METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(list_metrics())}")
    if attention is None:
        return _METRICS[(key, "official")]
    if attention not in ("smic", "mic"):
        raise ValueError(f"attention must be 'smic', 'mic' or None, got {attention!r}")
    variant = variant or default_variant(key)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "paper":
        return _METRICS[(key, "official")]
    if (key, variant) not in _METRICS:
        raise ValueError(f"metric {name!r} has no {variant!r} variant with attention")
    return _METRICS[(key, variant)]


def create_metric(
    name: str,
    *,
    device: str | torch.device | None = None,
    attention: str | None = None,
    variant: str | None = None,
    **options: Any,
) -> "Metric":
    """Build metric ``name`` as an ``nn.Module``: ``metric(ref, dist)`` -> N scores.

    ``ref`` and ``dist`` are (N, 3, H, W) tensors in [0, 1]; ``metric.lower_better`` and
    ``metric.score_range`` say how to read the scores. ``attention="smic"`` (or ``"mic"``, the
    ablation) pools the metric with SMIC attention, in the authors' exact form
    (``variant="reference"``, the paper's tables) or the paper's equations on the official metric
    (``variant="paper"``); the default is "reference" where the authors' code has the metric and
    "paper" for the others. ``options`` go to the metric's class.
    """
    if attention is not None and (variant or default_variant(name)) == "paper":
        from smic.variants.paper import paper_metric

        metric: Metric = paper_metric(metric_class(name), attention, **options)
    else:
        cls = metric_class(name, attention, variant)
        metric = cls(**options) if attention is None else cls(attention=attention, **options)
    return metric.to(device) if device is not None else metric

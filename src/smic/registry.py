"""Metric names -> metric classes, with the metadata users filter on (``smic.spec`` builds them).

A name has an official form (``attention=None``) and, for the SMIC-enhanced metrics, the authors'
form (``variant="reference"``) and the paper's form (``variant="paper"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar, overload

if TYPE_CHECKING:  # the metric modules import this one to register themselves
    from smic.metrics.base import Metric

Variant = Literal["reference", "paper"]
VARIANTS = ("reference", "paper")
ATTENTIONS = ("smic", "mic")
_METRICS: dict[tuple[str, str], type[Metric]] = {}
M = TypeVar("M", bound="type[Metric]")


@overload
def register(cls: M, *, variant: str = "official") -> M: ...


@overload
def register(cls: None = None, *, variant: str = "official") -> Callable[[M], M]: ...


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
    """ "reference" where the authors' code has the metric (psnr, ssim, lpips, dists, deepwsd),
    else "paper", the only form of the other metrics."""
    return "reference" if (name.lower(), "reference") in _METRICS else "paper"


def metric_class(name: str, attention: str | None = None, variant: str | None = None) -> type[Metric]:
    key = name.lower()
    if (key, "official") not in _METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(list_metrics())}")
    if attention is None:
        return _METRICS[(key, "official")]
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be 'smic', 'mic' or None, got {attention!r}")
    variant = variant or default_variant(key)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "paper":
        return _METRICS[(key, "official")]
    if (key, variant) not in _METRICS:
        raise ValueError(f"metric {name!r} has no {variant!r} variant with attention")
    return _METRICS[(key, variant)]

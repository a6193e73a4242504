"""Metric names -> metric classes, with the metadata users filter on (``smic.spec`` builds them).

A name has an official form (``attention=None``) and, with attention, the paper's form
(``variant="paper"``, the default: the paper's equations on the official metric) and, for psnr,
ssim, lpips, dists and deepwsd, the authors' form (``variant="authors"``: their code, with which
the paper's tables were computed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar, overload

if TYPE_CHECKING:  # the metric modules import this one to register themselves
    from smic.metrics.base import Metric

Variant = Literal["paper", "authors"]
VARIANTS = ("paper", "authors")
DEFAULT_VARIANT = "paper"
#: old names of a variant, accepted with a DeprecationWarning
VARIANT_ALIASES = {"reference": "authors"}
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


def has_authors_form(name: str) -> bool:
    """Whether the authors' code has ``name`` (psnr, ssim, lpips, dists, deepwsd)."""
    return (name.lower(), "authors") in _METRICS


def variant_name(variant: str) -> str:
    """``variant`` checked, an old alias ("reference") mapped to its name with a DeprecationWarning."""
    if variant in VARIANT_ALIASES:
        new = VARIANT_ALIASES[variant]
        # a FutureWarning, so that users (not only test runs) see it
        warnings.warn(
            f"variant={variant!r} is deprecated (it reads like the pristine image): use variant={new!r}",
            FutureWarning,
            stacklevel=4,
        )
        return new
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return variant


def metric_class(name: str, attention: str | None = None, variant: str | None = None) -> type[Metric]:
    key = name.lower()
    if (key, "official") not in _METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(list_metrics())}")
    if attention is None:
        return _METRICS[(key, "official")]
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be 'smic', 'mic' or None, got {attention!r}")
    variant = variant_name(variant or DEFAULT_VARIANT)
    if variant == "paper":
        return _METRICS[(key, "official")]
    if (key, variant) not in _METRICS:
        raise ValueError(f"metric {name!r} has no {variant!r} variant with attention")
    return _METRICS[(key, variant)]

"""One metric configuration, one type: the API, the CLI, the runner, the store and the report all
speak :class:`MetricSpec`.

Its text form is ``name[+attention][:option=value...]``: ``psnr``, ``lpips+smic``,
``lpips+smic:variant=authors``, ``ssim:convention=matlab``. An attention form is the paper's
equations on the official metric unless ``variant=authors`` asks for the authors' code.
``MetricSpec.parse`` reads it (values as Python literals where they are one: ``1``, ``0.5``,
``True``; else text), ``label`` prints it back with the options sorted, so one configuration has
one label, and ``build`` makes the metric.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field, replace
from typing import Any, cast

import torch

from smic.attention import AttentionSettings, Kind
from smic.metrics.base import Metric
from smic.registry import ATTENTIONS, DEFAULT_VARIANT, has_authors_form, list_metrics, metric_class, variant_name
from smic.variants.paper import ATTENTION_OPTIONS, paper_metric

__all__ = ["MetricSpec", "create_metric", "describe_metric"]

_NO_ATTENTION = ("", "none", "plain", "off")


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _attention(value: str | None) -> str | None:
    if value is None or str(value).strip().lower() in _NO_ATTENTION:
        return None
    attention = str(value).strip().lower()
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)} or none, got {value!r}")
    return attention


@dataclass(frozen=True)
class MetricSpec:
    """A metric configuration: registry ``name``, ``attention`` (None, "smic" or "mic"), the
    ``variant`` of an attention form (None: "paper"; "authors": the authors' code) and the
    metric's ``options``. The default variant is stored as None, so one configuration has one
    spec and one label."""

    name: str
    attention: str | None = None
    variant: str | None = None
    options: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        name = self.name.strip().lower()
        if name not in list_metrics():
            raise ValueError(f"unknown metric {self.name!r}; choose one of {', '.join(list_metrics())}")
        attention = _attention(self.attention)
        variant = None if self.variant is None else variant_name(self.variant)
        if variant is not None and attention is None:
            raise ValueError(f"{name}: variant={variant!r} needs an attention (+smic or +mic)")
        if variant == "authors":
            metric_class(name, attention, variant)  # raises where the authors' code lacks the metric
        reserved = {"attention", "variant", "device"} & {key for key, _ in self.options}
        if reserved:
            raise ValueError(f"{name}: {sorted(reserved)[0]!r} is not a metric option")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "attention", attention)
        object.__setattr__(self, "variant", None if variant == DEFAULT_VARIANT else variant)
        object.__setattr__(self, "options", tuple(sorted(self.options)))

    @classmethod
    def parse(cls, text: str) -> MetricSpec:
        """Read ``name[+attention][:option=value...]`` (``variant`` may be one of the options)."""
        head, *pairs = text.strip().split(":")
        name, _, attention = head.partition("+")
        if not name.strip():
            raise ValueError(f"empty metric name in {text!r}")
        options: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"bad option {pair!r} in {text!r}: expected key=value")
            options[key.strip()] = _literal(value.strip())
        variant = options.pop("variant", None)
        return cls(name, attention or None, None if variant is None else str(variant), tuple(options.items()))

    @classmethod
    def of(
        cls, spec: str | MetricSpec, *, attention: str | None = None, variant: str | None = None, **options: Any
    ) -> MetricSpec:
        """``spec`` (text or a spec) with the given attention, variant and options added."""
        base = spec if isinstance(spec, MetricSpec) else cls.parse(spec)
        return replace(
            base,
            attention=attention if attention is not None else base.attention,
            variant=variant if variant is not None else base.variant,
            options=tuple({**dict(base.options), **options}.items()),
        )

    @property
    def label(self) -> str:
        """The text form, options (and the variant) sorted: ``lpips+smic:variant=authors``."""
        attention = f"+{self.attention}" if self.attention else ""
        options = sorted([*self.options, *([("variant", self.variant)] if self.variant else [])])
        return self.name + attention + "".join(f":{key}={value}" for key, value in options)

    def __str__(self) -> str:
        return self.label

    @property
    def base(self) -> MetricSpec:
        """The configuration without its attention: what a ``+smic`` form is compared with."""
        return MetricSpec(self.name, options=self.options)

    @property
    def form(self) -> str:
        """ "official", or the variant of an attention form ("paper" or "authors")."""
        if self.attention is None:
            return "official"
        return self.variant or DEFAULT_VARIANT

    @property
    def metric_class(self) -> type[Metric]:
        return metric_class(self.name, self.attention, self.variant)

    @property
    def lower_better(self) -> bool:
        return self.metric_class.lower_better

    def build(self, device: str | torch.device | None = None) -> Metric:
        """The metric as an ``nn.Module`` on ``device``; unknown options raise ``ValueError``."""
        options = dict(self.options)
        cls = self.metric_class
        self.check_options()
        if self.form == "paper":
            metric: Metric = paper_metric(cls, cast(Kind, self.attention or "smic"), **options)
        else:
            metric = cls(**options) if self.attention is None else cls(attention=self.attention, **options)
        return metric.to(device) if device is not None else metric

    def accepted_options(self) -> dict[str, Any]:
        """Every option this form takes, with its default (``inspect.Parameter.empty``: required)."""
        accepted = {
            name: parameter.default
            for name, parameter in inspect.signature(self.metric_class.__init__).parameters.items()
            if name not in ("self", "attention")
            and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
        }
        if self.form == "paper":
            defaults = AttentionSettings()
            accepted |= {name: getattr(defaults, field) for name, field in ATTENTION_OPTIONS.items()}
        return accepted

    def check_options(self) -> None:
        """Raise ``ValueError`` listing the accepted options unless this form takes every option given."""
        accepted = self.accepted_options()
        unknown = sorted({key for key, _ in self.options} - set(accepted))
        if unknown:
            raise ValueError(
                f"{self.label}: unknown option {unknown[0]!r}; {self.name} accepts "
                + (", ".join(sorted(accepted)) or "no options")
            )


def create_metric(
    name: str | MetricSpec,
    *,
    device: str | torch.device | None = None,
    attention: str | None = None,
    variant: str | None = None,
    **options: Any,
) -> Metric:
    """Build metric ``name`` as an ``nn.Module``: ``metric(ref, dist)`` -> N scores.

    ``ref`` and ``dist`` are (N, 3, H, W) tensors in [0, 1]; ``metric.lower_better`` and
    ``metric.score_range`` say how to read the scores. ``attention="smic"`` (or ``"mic"``, the
    ablation) pools the metric's local maps with SMIC attention by the paper's equations
    (``variant="paper"``, the default: same direction and scale as the official metric, which a
    constant attention gives back); ``variant="authors"`` is the authors' code number for number
    (psnr, ssim, lpips, dists, deepwsd; the paper's Table I was computed with it; its scales differ).
    ``options`` go to the metric's class. ``name`` may also be a spec, text
    (``"lpips+smic:variant=authors"``) or a :class:`MetricSpec`.
    """
    return MetricSpec.of(name, attention=attention, variant=variant, **options).build(device)


def describe_metric(name: str) -> str:
    """What ``smic metrics`` prints for one metric: direction, range, forms, whether each has a
    gradient (at its default options) and its options with their defaults."""
    official = MetricSpec(name)
    cls = official.metric_class
    low, high = cls.score_range
    forms = [official, MetricSpec(name, "smic")]
    if has_authors_form(official.name):
        forms.append(MetricSpec(name, "smic", "authors"))
    lines = [
        f"{official.name}: {' '.join((cls.__doc__ or '').strip().split(chr(10) * 2)[0].split())}",
        f"  {'lower' if cls.lower_better else 'higher'} is better, scores in [{low}, {high}]",
    ]
    # the paper form has the official metric's gradient (its attention is a constant weight);
    # the authors' forms run without autograd
    gradient = "differentiable" if cls.differentiable is True else "not differentiable"
    for spec in forms:
        options = spec.accepted_options()
        shown = ", ".join(f"{key}={_default(value)}" for key, value in options.items()) or "no options"
        grad = "not differentiable" if spec.form == "authors" else gradient
        lines.append(f"  {spec.label + (':variant=paper' if spec.form == 'paper' else ''):<28} {grad}; {shown}")
    return "\n".join(lines)


def _default(value: Any) -> str:
    return "<required>" if value is inspect.Parameter.empty else repr(value)

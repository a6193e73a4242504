"""What every full-reference metric shares: metadata, input checks, and the call convention."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch
from torch import nn

from smic.io import ImageLike, as_pair, check_pair
from smic.pooling import PLAIN, Pool

# (scores of shape (N,), local distortion maps: one (N, 1, h, w) tensor per stage or scale)
ScoreAndMaps = tuple[torch.Tensor, list[torch.Tensor]]


class NotDifferentiableError(RuntimeError):
    """A metric form without a true gradient was called on inputs that require one."""


class _Options:
    """A class's default options with its class attributes behind them: what ``no_gradient``
    reads when ``differentiable`` is asked of the class rather than of an instance."""

    def __init__(self, cls: type, options: dict[str, Any]) -> None:
        self.__dict__.update(options)
        self._cls = cls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


class _Differentiable:
    """``metric.differentiable`` (its options) and ``MetricClass.differentiable`` (the default
    options), both from the one rule, ``Metric.no_gradient``."""

    def __get__(self, metric: Metric | None, cls: type[Metric]) -> Any:
        if metric is not None:
            return metric.no_gradient() is None
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        if any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            return self  # no default options (a wrapper such as the paper form): ask an instance
        defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
        return cls.no_gradient(_Options(cls, defaults)) is None  # type: ignore[arg-type]


class Metric(nn.Module):
    """A full-reference metric: ``metric(ref, dist)`` on (N, 3, H, W) in [0, 1] -> N scores.

    Subclasses set ``name``, ``lower_better`` and ``score_range`` (pyiqa's metadata) and
    implement ``score``; ``forward`` and ``maps`` validate the pair first (``check``).
    ``min_size`` is the smallest height and width the metric accepts.

    ``differentiable`` (on an instance: its options; on the class: the default options) says
    whether autograd gives the score's true gradient in ``ref`` and ``dist``. Kinks (max, abs,
    ReLU, clamp, sorting, thresholds) count as differentiable: the gradient is true everywhere
    but on a set of measure zero, where autograd takes one side's. A step that rounds to 8 bits,
    or a form run without autograd, is not: its gradient would be 0 or missing, so
    ``forward``/``maps`` raise :class:`NotDifferentiableError` when grad is enabled and an
    input requires it. Subclasses state why in ``no_gradient``.
    """

    # set on the class by every metric, on the instance by the paper variant (smic.variants.paper)
    name: str
    lower_better: bool
    score_range: tuple[float, float]
    min_size: int = 1
    #: the stage of each local map (0: the pixel grid; 1-5: VGG16 stages)
    map_stages: tuple[int, ...] = (0,)
    #: where the paper variant's attention comes from: the images' L2-pooled VGG16 ("images")
    #: or the metric's own stage-3/4 features ("features")
    attention_source: ClassVar[str] = "images"
    differentiable: ClassVar[Any] = _Differentiable()

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        """Why this form has no gradient, in one line naming the option that gives one where one
        does; None where it has one. ``size`` (H, W): the images at hand, for a rule that depends
        on it (a resize that rounds to 8 bits); None: the options' rule alone. Reads only
        options and class attributes (the class's ``differentiable`` calls it on the defaults)."""
        return None

    def check_gradient(self, ref: torch.Tensor, dist: torch.Tensor) -> None:
        """Raise :class:`NotDifferentiableError` if an input requires grad (with grad enabled)
        and this form has no gradient for it."""
        if torch.is_grad_enabled() and (ref.requires_grad or dist.requires_grad):
            reason = self.no_gradient((ref.shape[-2], ref.shape[-1]))
            if reason is not None:
                raise NotDifferentiableError(reason)

    def _checked(self, ref: ImageLike, dist: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
        """The pair read as tensors on the metric's device, checked (``check``, ``check_gradient``)."""
        ref, dist = as_pair(ref, dist, self.device())
        self.check(ref, dist)
        self.check_gradient(ref, dist)
        return ref, dist

    def check(self, ref: torch.Tensor, dist: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the input unless (ref, dist) is a pair this metric takes."""
        check_pair(ref, dist, self.min_size)

    def device(self) -> torch.device | None:
        """Where the metric's weights are (None: it has none, it runs where its inputs are)."""
        tensor: torch.Tensor | None = next(self.parameters(), None)
        if tensor is None:
            tensor = next(self.buffers(), None)
        return None if tensor is None else tensor.device

    def forward(self, ref: ImageLike, dist: ImageLike) -> torch.Tensor:
        """Scores of (ref, dist): (N, 3, H, W) tensors in [0, 1], or image files, PIL images or
        numpy arrays, read by smic.io's rules (tensors are the fast path)."""
        result = self.score(*self._checked(ref, dist))
        assert isinstance(result, torch.Tensor)
        return result

    def maps(self, ref: ImageLike, dist: ImageLike) -> ScoreAndMaps:
        """Scores and the local distortion maps they are pooled from (inputs as in forward)."""
        result = self.score(*self._checked(ref, dist), return_maps=True)
        assert isinstance(result, tuple)
        return result

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        """Scores of a validated pair; ``pool`` takes the spatial means (see smic.pooling)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"lower_better={self.lower_better}, score_range={self.score_range}"

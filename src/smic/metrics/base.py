"""What every full-reference metric shares: metadata, input checks, and the call convention."""

from __future__ import annotations

from typing import ClassVar, Tuple

import torch
from torch import nn

from smic.io import check_pair

# (scores of shape (N,), local distortion maps: one (N, 1, h, w) tensor per stage or scale)
ScoreAndMaps = Tuple[torch.Tensor, list[torch.Tensor]]


class Metric(nn.Module):
    """A full-reference metric: ``metric(ref, dist)`` on (N, 3, H, W) in [0, 1] -> N scores.

    Subclasses set ``name``, ``lower_better`` and ``score_range`` (pyiqa's metadata) and
    implement ``score``; ``forward`` validates the pair first. ``min_size`` is the smallest
    height and width the metric accepts.
    """

    name: ClassVar[str]
    lower_better: ClassVar[bool]
    score_range: ClassVar[tuple[float, float]]
    min_size: int = 1
    #: map index -> the VGG stage whose attention pools it in the paper's variant (0: the mean of
    #: stages 3 and 4, for full-resolution maps); empty when the metric has no paper variant
    attended_maps: ClassVar[dict[int, int]] = {}

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        check_pair(ref, dist, self.min_size)
        return self.score(ref, dist)

    def maps(self, ref: torch.Tensor, dist: torch.Tensor) -> ScoreAndMaps:
        """Scores and the local distortion maps they are pooled from (validated like forward)."""
        check_pair(ref, dist, self.min_size)
        return self.score(ref, dist, return_maps=True)

    def score(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False) -> torch.Tensor | ScoreAndMaps:
        raise NotImplementedError

    def from_pooled(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """The score from each local map's pooled value ((N,) each); with spatial means it is the
        official score. Needed only by metrics with ``attended_maps``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"lower_better={self.lower_better}, score_range={self.score_range}"

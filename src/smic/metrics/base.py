"""What every full-reference metric shares: metadata, input checks, and the call convention."""

from __future__ import annotations

from typing import ClassVar, Tuple

import torch
from torch import nn

from smic.attention import AttentionPool
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
    #: the stage of each local map (0: the pixel grid; 1-5: VGG16 stages)
    map_stages: ClassVar[tuple[int, ...]] = (0,)
    #: where the paper variant's attention comes from: the images' L2-pooled VGG16 ("images")
    #: or the metric's own stage-3/4 features ("features")
    attention_source: ClassVar[str] = "images"

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        check_pair(ref, dist, self.min_size)
        return self.score(ref, dist)

    def maps(self, ref: torch.Tensor, dist: torch.Tensor) -> ScoreAndMaps:
        """Scores and the local distortion maps they are pooled from (validated like forward)."""
        check_pair(ref, dist, self.min_size)
        return self.score(ref, dist, return_maps=True)

    def score(self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False,
              pool: AttentionPool | None = None) -> torch.Tensor | ScoreAndMaps:
        """Scores of a validated pair; ``pool`` replaces the spatial means it weights."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"lower_better={self.lower_better}, score_range={self.score_range}"

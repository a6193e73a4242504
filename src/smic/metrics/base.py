"""What every full-reference metric shares: metadata, input checks, and the call convention."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from smic.io import check_pair
from smic.pooling import PLAIN, Pool

# (scores of shape (N,), local distortion maps: one (N, 1, h, w) tensor per stage or scale)
ScoreAndMaps = tuple[torch.Tensor, list[torch.Tensor]]


class Metric(nn.Module):
    """A full-reference metric: ``metric(ref, dist)`` on (N, 3, H, W) in [0, 1] -> N scores.

    Subclasses set ``name``, ``lower_better`` and ``score_range`` (pyiqa's metadata) and
    implement ``score``; ``forward`` and ``maps`` validate the pair first (``check``).
    ``min_size`` is the smallest height and width the metric accepts.
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

    def check(self, ref: torch.Tensor, dist: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the input unless (ref, dist) is a pair this metric takes."""
        check_pair(ref, dist, self.min_size)

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        self.check(ref, dist)
        result = self.score(ref, dist)
        assert isinstance(result, torch.Tensor)
        return result

    def maps(self, ref: torch.Tensor, dist: torch.Tensor) -> ScoreAndMaps:
        """Scores and the local distortion maps they are pooled from (validated like forward)."""
        self.check(ref, dist)
        result = self.score(ref, dist, return_maps=True)
        assert isinstance(result, tuple)
        return result

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        """Scores of a validated pair; ``pool`` takes the spatial means (see smic.pooling)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"lower_better={self.lower_better}, score_range={self.score_range}"

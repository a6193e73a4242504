"""The random 1-D projections of SMIC: one (K, C, 1, 1) weight per VGG16 stage.

``"xavier"`` gives the authors' weights bit for bit (torch.manual_seed(-3566), xavier_uniform_ of
the 256->32 layer, the default init of the 512->32 layer consuming the generator, xavier_uniform_
of that layer); ``"gaussian"`` draws the paper's Gaussian directions, normalised to the unit sphere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from smic.attention.settings import AUTHORS_SEED, Projection
from smic.backbone import STAGE_CHANNELS


def _uniform(rows: int, cols: int, bound: float, generator: torch.Generator) -> torch.Tensor:
    """``torch.empty(rows, cols).uniform_(-bound, bound)`` as torch's AVX2 kernel rounds it, on any
    CPU: that kernel fuses u * (to - from) + from into one FMA (the authors' weights have its bits),
    the portable one rounds twice. The same 24-bit draws u, the sum formed exactly in float64
    (48 significant bits) and rounded once."""
    low, high = torch.tensor([-bound, bound], dtype=torch.float32).double()
    draws = torch.empty(rows, cols).uniform_(generator=generator).double()
    return (draws * (high - low) + low).float()


def projection_weights(
    kind: Projection = "xavier", k: int = 32, seed: int = AUTHORS_SEED, stages: Sequence[int] = (3, 4)
) -> dict[int, torch.Tensor]:
    """Projection weights (K, C, 1, 1) per stage, drawn on the CPU from a private generator."""
    if k < 1:
        raise ValueError(f"the number of projections must be >= 1, got {k}")
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for stage in (3, 4):
        channels = STAGE_CHANNELS[stage]
        if kind == "xavier":
            if stage == 4:  # nn.Conv2d's default init of the 512->32 layer runs before its xavier_
                torch.empty(k, channels).uniform_(generator=generator)
            weight = _uniform(k, channels, math.sqrt(6.0 / (channels + k)), generator)
        elif kind == "gaussian":
            weight = torch.randn(k, channels, generator=generator)
            weight = weight / weight.norm(dim=1, keepdim=True)
        else:
            raise ValueError(f"projection must be 'xavier' or 'gaussian', got {kind!r}")
        weights[stage] = weight.view(k, channels, 1, 1)
    return {stage: weights[stage] for stage in stages}

"""LPIPS v0.1 (VGG16): sum_l mean_hw( w_l . (f_l(x) - f_l(y))^2 ), f_l channel-unit-normalised.

Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
as computed by the official ``lpips`` package (net="vgg", version 0.1, inputs given in [0, 1]
and mapped to [-1, 1]): the input 2x-1 goes through the scaling layer (x - shift) / scale,
the max-pooled VGG16 gives relu1_2 ... relu5_3, each stage is divided by its per-position
channel norm (f / (||f||_2 + 1e-10)), the squared difference is weighted per channel by the
learned non-negative 1x1 "lin" weights, averaged over positions and summed over the stages.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from smic.backbone import VGG16, backbone_for
from smic.io import check_pair
from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool, join_pair, split_pair
from smic.registry import register
from smic.sharing import memo
from smic.weights import LPIPS_VGG_LIN, load_packaged

# the official scaling layer: ImageNet statistics expressed for inputs in [-1, 1]
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
MIN_SIZE = 16  # four 2x2 max-pools (floor): relu5_3 is empty below 16 pixels

# Features are ReLU outputs (non-negative), so two unit vectors f, g have f.g >= 0 and
# (f - g)^2 summed over channels is at most 2: each stage adds at most 2 max_c w_c. With the
# v0.1 vgg lin weights that bound is 2 * (1.2828 + 0.4757 + 0.5065 + 0.5873 + 0.4584) = 6.6215,
# rounded up here (checked against the weights in tests/test_lpips.py). Real pairs stay below 1.
UPPER_BOUND = 6.622


@functools.lru_cache(maxsize=8)
def _lin_weights(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """The five (1, C, 1, 1) lin weights, hash-checked, on ``device`` in ``dtype``."""
    state = load_packaged(LPIPS_VGG_LIN)
    return tuple(state[f"lin{k}.model.1.weight"].to(device=device, dtype=dtype) for k in range(5))


def lpips(
    ref: torch.Tensor,
    dist: torch.Tensor,
    *,
    backbone: VGG16 | None = None,
    lin_weights: Sequence[torch.Tensor] | None = None,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """LPIPS v0.1 vgg of each pair in (N, 3, H, W) batches in [0, 1] (lower is more similar).

    ``backbone`` must be a max-pooled :class:`VGG16` (default: the shared one for the input's
    device and dtype); ``lin_weights`` the five (1, C, 1, 1) lin weights (default: the packaged
    v0.1 vgg file). Images below 16x16 raise ``ValueError``. Differentiable in the inputs.

    Maps: one (N, 1, h_l, w_l) map per stage on that stage's feature grid (H / 2^l for
    l = 0..4, floored), the lin-weighted squared difference of the normalised features; the
    score is the sum over stages of each map's spatial mean. With ``pool`` the relu3_3 and
    relu4_3 maps are averaged with the attention of these stages' features (the paper's Eq. 8).
    """
    if min(ref.shape[-2:]) < MIN_SIZE:
        check_pair(ref, dist, MIN_SIZE)  # raises the ValueError naming the input
    backbone = backbone_for("LPIPS", "max", backbone, ref)
    param = next(backbone.parameters())
    weights = lin_weights if lin_weights is not None else _lin_weights(param.device, param.dtype)
    shift = torch.tensor(SHIFT, device=param.device, dtype=param.dtype).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE, device=param.device, dtype=param.dtype).view(1, 3, 1, 1)

    pair = join_pair(ref, dist, param.device, param.dtype)
    stages = backbone(memo("lpips_scaling", (SHIFT, SCALE), (pair,), lambda: ((2 * pair - 1) - shift) / scale))
    n = ref.shape[0]
    pool.observe(*split_pair(stages, n))
    score = torch.zeros(n, device=param.device, dtype=param.dtype)
    maps = []
    for stage, feature in stages.items():
        unit = feature / (feature.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
        stage_map = F.conv2d((unit[:n] - unit[n:]) ** 2, weights[stage - 1])
        score = score + pool.mean(stage, stage_map)[:, 0]
        maps.append(stage_map.to(ref.dtype))
    score = score.to(ref.dtype)
    return (score, maps) if return_maps else score


@register
class LPIPS(Metric):
    """LPIPS v0.1 with the VGG16 trunk (official lin weights); 0 for identical images.

    Scores lie in [0, ``score_range[1]``], a hard bound implied by the lin weights; pyiqa
    quotes (0, 1), the range real image pairs fall in.
    """

    name = "lpips"
    lower_better = True
    score_range = (0.0, UPPER_BOUND)

    def __init__(self) -> None:
        super().__init__()
        self.min_size = MIN_SIZE
        self.backbone = VGG16("max")
        for k, weight in enumerate(_lin_weights(torch.device("cpu"), torch.float32)):
            self.register_buffer(f"lin{k}", weight.clone())

    map_stages = (1, 2, 3, 4, 5)
    attention_source = "features"

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        weights = [getattr(self, f"lin{k}") for k in range(5)]
        return lpips(ref, dist, backbone=self.backbone, lin_weights=weights, return_maps=return_maps, pool=pool)

"""DISTS: 1 - sum_k sum_c (alpha_kc S1_kc + beta_kc S2_kc), global texture and structure terms.

Ding et al. 2020, "Image Quality Assessment: Unifying Structure and Texture Similarity", as the
official DISTS_pt.py computes it: stage 0 is the input image itself (3 channels, [0, 1]); stages
1-5 are relu1_2 ... relu5_3 of the L2-pooled VGG16 applied to the ImageNet mean/std-normalised
input. For each stage k and channel c, over all positions of the stage,

    S1 = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)             (texture: means)
    S2 = (2 cov_xy + c2) / (var_x + var_y + c2)                    (structure: (co)variances)

with c1 = c2 = 1e-6 and population (1/n) statistics; alpha, beta are the official learned
weights divided by their joint sum (sum alpha + sum beta). The official ``prepare_image`` also
resizes the shorter side to 256 when it is longer (``resize=True`` here, off by default).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from smic.backbone import STAGE_CHANNELS, VGG16, backbone_for
from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool, join_pair, split_pair
from smic.registry import register
from smic.resize import resize_shorter_side
from smic.sharing import memo
from smic.weights import DISTS_ALPHA_BETA, load_packaged

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
C1 = 1e-6
C2 = 1e-6
CHANNELS = (3, *STAGE_CHANNELS.values())  # stage 0 is the image
MIN_SIZE = 1  # L2 pooling (3x3, stride 2, padding 1) keeps >= 1 position down to a 1x1 input
MAP_WINDOW = 7  # local statistics of the maps: uniform 7x7 window, stride 1, clipped at borders

# S1 lies in [0, 1] (features are non-negative) and S2 in [-1, 1], so the score lies in
# [0, 1 + sum(beta)] = [0, 1.12395...] with the official weights; real pairs stay below 1.
UPPER_BOUND = 1.124
RESIZE_SHORTER = 256  # the official prepare_image's shorter side (resize=True)


@functools.lru_cache(maxsize=8)
def _alpha_beta(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha and beta (1, 1475, 1, 1), hash-checked, divided by sum(alpha) + sum(beta)."""
    state = load_packaged(DISTS_ALPHA_BETA)
    total = state["alpha"].sum() + state["beta"].sum()
    return (state["alpha"] / total).to(device, dtype), (state["beta"] / total).to(device, dtype)


def similarities(
    mx: torch.Tensor, my: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, cov: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """DISTS's texture and structure terms S1, S2 from the means, variances and covariance."""
    return (2 * mx * my + C1) / (mx**2 + my**2 + C1), (2 * cov + C2) / (vx + vy + C2)


def _local_mean(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, MAP_WINDOW, stride=1, padding=MAP_WINDOW // 2, count_include_pad=False)


def _local_map(fx: torch.Tensor, fy: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """sum_c alpha_c (1 - S1_c) + beta_c (1 - S2_c) with S1, S2 from local-window statistics."""
    mx, my = _local_mean(fx), _local_mean(fy)
    vx = (_local_mean(fx * fx) - mx * mx).clamp_min(0)
    vy = (_local_mean(fy * fy) - my * my).clamp_min(0)
    cov = _local_mean(fx * fy) - mx * my
    s1, s2 = similarities(mx, my, vx, vy, cov)
    return (alpha * (1 - s1) + beta * (1 - s2)).sum(dim=1, keepdim=True)


def dists(
    ref: torch.Tensor,
    dist: torch.Tensor,
    *,
    resize: bool = False,
    backbone: VGG16 | None = None,
    alpha_beta: tuple[torch.Tensor, torch.Tensor] | None = None,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """DISTS of each pair in (N, 3, H, W) batches in [0, 1] (0 for identical images).

    ``resize=True`` first applies the official shorter-side-to-256 resize (PIL bilinear, see
    :func:`resize_shorter_side`). ``backbone`` must be an L2-pooled :class:`VGG16` (default:
    the shared one for the input's device and dtype); ``alpha_beta`` the normalised weights
    (default: the packaged official ones).

    Maps: six (N, 1, h_k, w_k) maps, stage 0 at the (possibly resized) image resolution and
    stages 1-5 on the feature grids, each ``sum_c alpha_c (1 - S1_c) + beta_c (1 - S2_c)``
    with S1, S2 computed from local statistics over a 7x7 uniform window (stride 1, the window
    clipped at the borders). They are the local form of the same terms, 0 where the images
    agree; the score is NOT their mean: it uses global per-channel statistics (with global
    statistics in place of local ones, the six maps would be constant and sum to the score).

    With ``pool`` the stage-3 and stage-4 statistics are attention-weighted moments (every
    spatial mean in S1 and S2 becomes sum(A v) / sum(A), A from these stages' features).
    """
    if min(ref.shape[-2:]) < MIN_SIZE:
        height, width = ref.shape[-2:]
        raise ValueError(f"ref: image of {height}x{width} is too small: this metric needs at least 1x1 pixels")
    backbone = backbone_for("DISTS", "l2", backbone, ref)
    param = next(backbone.parameters())
    alpha, beta = alpha_beta if alpha_beta is not None else _alpha_beta(param.device, param.dtype)
    if resize:
        ref, dist = resize_shorter_side(ref, RESIZE_SHORTER), resize_shorter_side(dist, RESIZE_SHORTER)
    mean = torch.tensor(IMAGENET_MEAN, device=param.device, dtype=param.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=param.device, dtype=param.dtype).view(1, 3, 1, 1)

    pair = join_pair(ref, dist, param.device, param.dtype)
    normalised = memo("imagenet_normalisation", (IMAGENET_MEAN, IMAGENET_STD), (pair,), lambda: (pair - mean) / std)
    stages = {0: pair, **backbone(normalised)}
    n = ref.shape[0]
    pool.observe(*split_pair(stages, n))
    texture = torch.zeros(n, 1, 1, 1, device=param.device, dtype=param.dtype)
    structure = torch.zeros_like(texture)
    maps = []
    for (stage, feature), a, b in zip(stages.items(), alpha.split(CHANNELS, dim=1), beta.split(CHANNELS, dim=1)):
        fx, fy = feature[:n], feature[n:]

        def pooled(values: torch.Tensor, stage: int = stage) -> torch.Tensor:
            return pool.mean(stage, values)[..., None, None]

        mx, my = pooled(fx), pooled(fy)
        s1, s2 = similarities(mx, my, pooled((fx - mx) ** 2), pooled((fy - my) ** 2), pooled(fx * fy) - mx * my)
        texture = texture + (a * s1).sum(dim=1, keepdim=True)
        structure = structure + (b * s2).sum(dim=1, keepdim=True)
        if return_maps:
            maps.append(_local_map(fx, fy, a, b).to(ref.dtype))
    score = (1 - (texture + structure)).reshape(n).to(ref.dtype)
    return (score, maps) if return_maps else score


@register
class DISTS(Metric):
    """Deep Image Structure and Texture Similarity (official weights); 0 for identical images.

    Scores lie in [0, ``score_range[1]``] (1 + sum of the normalised beta); pyiqa quotes (0, 1).
    """

    alpha: torch.Tensor
    beta: torch.Tensor

    name = "dists"
    lower_better = True
    score_range = (0.0, UPPER_BOUND)

    def __init__(self, resize: bool = False) -> None:
        super().__init__()
        self.min_size = MIN_SIZE
        self.resize = resize
        self.backbone = VGG16("l2")
        alpha, beta = _alpha_beta(torch.device("cpu"), torch.float32)
        self.register_buffer("alpha", alpha.clone())
        self.register_buffer("beta", beta.clone())

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        # only the sizes the resize changes: smaller images pass through it untouched
        if self.resize and size is not None and min(size) > RESIZE_SHORTER:
            return (
                f"dists: resize=True resamples {size[0]}x{size[1]} images as Pillow does (in 8 bits for "
                "8-bit data: no gradient); use resize=False (the default), resizing the images "
                "beforehand, for a differentiable DISTS"
            )
        return None

    map_stages = (0, 1, 2, 3, 4, 5)
    attention_source = "features"

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return dists(
            ref,
            dist,
            resize=self.resize,
            backbone=self.backbone,
            alpha_beta=(self.alpha, self.beta),
            return_maps=return_maps,
            pool=pool,
        )

    def extra_repr(self) -> str:
        return f"resize={self.resize}, " + super().extra_repr()

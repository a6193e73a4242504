"""DeepWSD: log(1 + mean_k sum_j [W_j + L2_j / (sqrt(exp(-1/(W_j+10))) (W_j+10)^2)]), squared if f > 1.

Liao et al. 2022, "DeepWSD: Projecting Degradations in Perceptual Space to Wasserstein Distance
in Deep Feature Space", as the official repository (Buka-Xing/DeepWSD: ``prepare_image``,
``downsample``, ``ws_distance``, ``DeepWSD.forward(as_loss=False)``) computes it:

1. preparation: an image whose longer side L satisfies 512 < L < 1000 is resized to 256x256
   (PIL bilinear, aspect ratio not kept); others are left as they are;
2. downsampling by f = max(1, round(L / 256)) (L after step 1, round half to even) with an
   f x f average pool, stride f; the window is w = 16 if f >= 5 else 4;
3. six stages: the image itself and relu1_2 ... relu5_3 of the L2-pooled VGG16 (no ImageNet
   normalisation). Each stage is zero-padded (negative padding crops) on the left and at the
   bottom to round(h / w) * w rows and round(width / w) * w columns (round half to even);
4. each stage tensor (C, H, W) of one image is read in memory order as a (w^2, C H W / w^2)
   matrix (a plain reshape, as the official code does): every column is one "window" of w^2
   values. For a column with values x and y: weights p = x^2 / (sum_stage x + 1e-6) and
   q = y^2 / (sum_stage y + 1e-6) on the positions 0 .. w^2 - 1, W = the 1-D optimal transport
   cost with ground cost |i - j|^2 between these unnormalised weights (POT's
   ``wasserstein_1d(..., p=2)``: the squared 2-Wasserstein distance, no root) and
   L2 = sum (x - y)^2; the column's distance is W + L2 / (sqrt(exp(-1/(W+10))) (W+10)^2);
5. the score s is the sum over columns, averaged over the six stages; the output is
   log(s + 1) when f = 1 and log(s + 1)^2 when f > 1 (``as_loss=True`` returns s).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from smic.backbone import VGG16, backbone_for
from smic.io import check_pair
from smic.kernels.wsd import column_distances
from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool, Stages, join_pair, split_pair
from smic.registry import register
from smic.resize import resize_like_pil
from smic.sharing import memo

PREPARE_RANGE = (512, 1000)  # longer side strictly inside: resized to PREPARE_SIZE
PREPARE_SIZE = (256, 256)
TARGET_SIZE = 256  # the downsampling factor brings the longer side near this
STAGES = 6  # the image and five VGG16 stages


def downsampling_factor(longer_side: int) -> int:
    """f = max(1, round(longer_side / 256)), rounding half to even (numpy's round)."""
    return int(max(1, round(longer_side / TARGET_SIZE)))


def _prepared_size(height: int, width: int, prepare: bool) -> tuple[int, int]:
    if prepare and PREPARE_RANGE[0] < max(height, width) < PREPARE_RANGE[1]:
        return PREPARE_SIZE
    return height, width


def min_side(height: int, width: int, prepare: bool = True) -> int:
    """The shorter side an HxW image needs: every stage must keep >= 1 window after rounding.

    Stage 5 has ceil(s / 16) rows for s rows after downsampling, and round(n / w) must be >= 1,
    so s must be >= 33 (w = 4) or 129 (w = 16), i.e. the shorter side >= 33 f or 129 f. Images
    resized to 256x256 by the preparation step need no more than 1 pixel.
    """
    if _prepared_size(height, width, prepare) == PREPARE_SIZE:
        return 1
    factor = downsampling_factor(max(height, width))
    return (129 if factor >= 5 else 33) * factor


def memory_order_columns(feature: Tensor, window: int) -> Tensor:
    """The official reshape of each image's (..., C, H, W) block, read in memory order, into
    (..., w^2, C H W / w^2): column j holds the elements j, j + C H W / w^2, ..."""
    return feature.reshape(*feature.shape[:-3], window * window, -1)


def window_distances(fx: Tensor, fy: Tensor, window: int) -> Tensor:
    """Per-column distances (N, C H W / window^2) of one padded stage (N, C, H, W)."""
    totals = [f.sum(dim=(1, 2, 3)) for f in (fx, fy)]
    return column_distances(memory_order_columns(fx, window), memory_order_columns(fy, window), *totals)


def _column_map(distances: torch.Tensor, shape: torch.Size, window: int) -> torch.Tensor:
    """Spread each column's distance evenly over its window^2 elements, sum over channels."""
    n, channels, height, width = shape
    samples = window * window
    spread = (distances / samples).unsqueeze(1).expand(n, samples, distances.shape[1])
    return spread.reshape(n, channels, height, width).sum(dim=1, keepdim=True)


def prepare_input(images: torch.Tensor, prepare: bool = True) -> tuple[torch.Tensor, int, int]:
    """Steps 1-2: the official preparation and downsampling; returns (images, factor f, window w)."""
    return memo("deepwsd_prepare", prepare, (images,), lambda: _prepare_input(images, prepare))


def _prepare_input(images: torch.Tensor, prepare: bool) -> tuple[torch.Tensor, int, int]:
    size = _prepared_size(images.shape[-2], images.shape[-1], prepare)
    if size != tuple(images.shape[-2:]):
        images = resize_like_pil(images, size)
    factor = downsampling_factor(max(size))
    if factor > 1:
        images = F.avg_pool2d(images, factor, stride=factor)
    return images, factor, 16 if factor >= 5 else 4


def padded_stages(images: torch.Tensor, backbone: VGG16, window: int) -> Stages:
    """Step 3: the image (stage 0) and its five VGG16 stages, each padded (or cropped) on the left
    and at the bottom to round(size / w) * w rows and columns."""
    features = {0: images, **backbone(images)}
    return dict(memo("deepwsd_padding", window, tuple(features.values()), lambda: _padded(features, window)))


def _padded(features: Stages, window: int) -> Stages:
    stages = {}
    for stage, feature in features.items():
        rows, cols = feature.shape[-2:]
        pad_rows = round(rows / window) * window - rows
        pad_cols = round(cols / window) * window - cols
        stages[stage] = F.pad(feature, (pad_cols, 0, 0, pad_rows))
    return stages


def finish(score: torch.Tensor, factor: int, as_loss: bool) -> torch.Tensor:
    """Step 5's output: s, or log(s + 1), squared when f > 1."""
    if as_loss:
        return score
    score = torch.log(score + 1)
    return score**2 if factor > 1 else score


def deepwsd(
    ref: torch.Tensor,
    dist: torch.Tensor,
    *,
    prepare: bool = True,
    as_loss: bool = False,
    backbone: VGG16 | None = None,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """DeepWSD of each pair in (N, 3, H, W) batches in [0, 1] (0 for identical images).

    ``prepare`` applies the official 256x256 resize for a longer side in (512, 1000);
    ``as_loss=True`` returns the raw score s instead of log(s + 1) (squared when f > 1).
    ``backbone`` must be an L2-pooled :class:`VGG16` (default: the shared one).
    Statistics are per image (the official code pools the sums over the whole batch, which
    matters only for N > 1). Raises ``ValueError`` if the images are too small (:func:`min_side`).

    Maps: six (N, 1, h_k, w_k) maps, one per stage, on that stage's padded grid (the image
    after preparation and downsampling, then the five VGG16 grids, each padded or cropped to
    a multiple of the window). Each column distance is spread evenly over the w^2 elements of
    its column and summed over channels. For the VGG stages (C a multiple of 16, w = 4) a column
    is one spatial position and 16 channels (c, c + C/16, ...), so the map is the per-position
    distance; on the image stage columns straddle positions (the official memory-order reshape).
    Each map sums to its stage's term: s = (sum of all six map sums) / 6. With ``pool`` the
    stage-3 and stage-4 terms become (number of positions) x the attention-weighted mean of their
    maps, A from these stages' padded features.
    """
    height, width = ref.shape[-2:]
    needed = min_side(height, width, prepare)
    if min(height, width) < needed:
        factor = downsampling_factor(max(height, width))
        try:
            check_pair(ref, dist, needed)
        except ValueError as error:
            raise ValueError(
                f"{error} (at {height}x{width}, DeepWSD downsamples by {factor} and needs at least "
                f"one {16 if factor >= 5 else 4}x{16 if factor >= 5 else 4} window at every stage: "
                f"the shorter side must be at least {needed})"
            ) from error
    backbone = backbone_for("DeepWSD", "l2", backbone, ref)
    param = next(backbone.parameters())

    pair, factor, window = prepare_input(join_pair(ref, dist, param.device, param.dtype), prepare)
    n = ref.shape[0]
    total = torch.zeros(n, device=param.device, dtype=param.dtype)
    maps = []
    stages = padded_stages(pair, backbone, window)
    pool.observe(*split_pair(stages, n))
    for stage, feature in stages.items():
        distances = window_distances(feature[:n], feature[n:], window)
        if pool.weights(stage, (feature.shape[-2], feature.shape[-1])) is not None:
            local = _column_map(distances, feature[:n].shape, window)
            total = total + pool.mean(stage, local)[:, 0] * local[0, 0].numel()
        else:
            total = total + distances.sum(dim=1)
        if return_maps:
            maps.append(_column_map(distances, feature[:n].shape, window).to(ref.dtype))
    score = finish(total / STAGES, factor, as_loss).to(ref.dtype)
    return (score, maps) if return_maps else score


@register
class DeepWSD(Metric):
    """DeepWSD (official repository's algorithm and output); 0 for identical images."""

    name = "deepwsd"
    lower_better = True
    score_range = (0.0, float("inf"))

    def __init__(self, prepare: bool = True, as_loss: bool = False) -> None:
        super().__init__()
        # smallest square that works (33x33: relu5_3 is 3x3, one 4x4 window after padding);
        # the exact requirement depends on the aspect: see min_side, checked in forward
        self.min_size = 33
        self.prepare = prepare
        self.as_loss = as_loss
        self.backbone = VGG16("l2")

    def check(self, ref: torch.Tensor, dist: torch.Tensor) -> None:
        check_pair(ref, dist, 1)  # the size DeepWSD needs depends on the aspect: deepwsd() checks it

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        # only the sizes the preparation resizes (longer side in (512, 1000)); others pass untouched
        if size is not None and _prepared_size(*size, self.prepare) != tuple(size):
            return (
                f"deepwsd: prepare=True (the default) resizes {size[0]}x{size[1]} images to 256x256 as "
                "Pillow does (in 8 bits for 8-bit data: no gradient); use prepare=False, resizing the "
                "images beforehand, for a differentiable DeepWSD"
            )
        return None

    map_stages = (0, 1, 2, 3, 4, 5)
    attention_source = "features"

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return deepwsd(
            ref,
            dist,
            prepare=self.prepare,
            as_loss=self.as_loss,
            backbone=self.backbone,
            return_maps=return_maps,
            pool=pool,
        )

    def extra_repr(self) -> str:
        return f"prepare={self.prepare}, as_loss={self.as_loss}, " + super().extra_repr()

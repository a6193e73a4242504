"""SMIC attention (the paper's Sec. II-B): where a viewer looks, from feature dependency.

For stage s of the L2-pooled VGG16 (s = 3: relu3_3, 256 channels; s = 4: relu4_3, 512 channels):

    P_k = w_k . F_s          K random 1-D projections of the features (a 1x1 conv, no bias)
    SMIC_p = (1/K) sum_k MIC(P_k(dist)[patch p], P_k(ref)[patch p])     over the patch's pixels
    A_p = 1 - SMIC_p         higher dependency, lower attention

with 7x7 patches at stride 7 and minepy's MIC (alpha 0.5, c 10). ``projection="xavier"`` gives the
authors' weights bit for bit (torch.manual_seed(-3566), xavier_uniform_ of the 256->32 layer, the
default init of the 512->32 layer consuming the generator, xavier_uniform_ of that layer);
``"gaussian"`` draws the paper's Gaussian directions, normalised to the unit sphere.

``kind="mic"`` is the paper's Table II ablation ("MIC without slicing"): one MIC per patch between
the channel-averaged reference and distorted features (the fixed direction 1/C instead of K random
ones). It keeps the sample count of a patch (49) and measures dependency without slicing, so the
comparison with SMIC isolates the random projections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F

from smic.backbone import VGG16, shared_vgg16
from smic.kernels.mic import mic

Projection = Literal["xavier", "gaussian"]
Resize = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
Kind = Literal["smic", "mic"]
STAGE_CHANNELS = {3: 256, 4: 512}
AUTHORS_SEED = -3566


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
            bound = math.sqrt(6.0 / (channels + k))
            weight = torch.empty(k, channels).uniform_(-bound, bound, generator=generator)
        elif kind == "gaussian":
            weight = torch.randn(k, channels, generator=generator)
            weight = weight / weight.norm(dim=1, keepdim=True)
        else:
            raise ValueError(f"projection must be 'xavier' or 'gaussian', got {kind!r}")
        weights[stage] = weight.view(k, channels, 1, 1)
    return {stage: weights[stage] for stage in stages}


def windows(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w, size*size): the values of each patch, row-major, in one copy
    (F.unfold's order; unfolding the two spatial dims as views leaves only the final copy)."""
    return x.unfold(2, size, stride).unfold(3, size, stride).flatten(-2)


def patches(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, L, C, size*size): the values of each patch, patches row-major."""
    return windows(x, size, stride).flatten(2, 3).transpose(1, 2)


def dependency_map(
    f_ref: torch.Tensor,
    f_dist: torch.Tensor,
    weight: torch.Tensor | None,
    patch: int = 7,
    stride: int = 7,
    alpha: float = 0.5,
    c: float = 10,
) -> torch.Tensor:
    """Per-patch dependency (N, h, w) in float64: SMIC with ``weight`` (K, C, 1, 1), else the MIC
    of the channel-averaged features."""
    if min(f_ref.shape[-2:]) < patch:
        raise ValueError(
            f"features of {f_ref.shape[-2]}x{f_ref.shape[-1]} are smaller than one {patch}x{patch} "
            "patch: the image is too small for the attention"
        )
    if weight is None:
        p_ref, p_dist = f_ref.mean(dim=1, keepdim=True), f_dist.mean(dim=1, keepdim=True)
    else:
        w = weight.to(f_ref)
        p_ref, p_dist = F.conv2d(f_ref, w), F.conv2d(f_dist, w)
    values = mic(windows(p_dist, patch, stride), windows(p_ref, patch, stride), alpha=alpha, c=c)  # (N, K, h, w)
    return values.double().mean(dim=1)


def resize_linear(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (N, h, w) maps with the corners aligned (``align_corners=True``)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=True)[:, 0]


def _zoom_matrix(length: int, out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(out, length) weights of scipy's order-1 zoom along one axis, in its own float64 arithmetic:
    output k samples the input at k * (length - 1) / (out - 1); a sample that rounding puts past
    the last input (k * f > length - 1) is outside, and mode 'constant' makes it 0."""
    factor = (length - 1) / (out - 1) if out > 1 else 1.0
    coords = torch.arange(out, dtype=torch.float64) * factor
    start = coords.floor().clamp(max=length - 1)
    frac = coords - start
    weights = torch.zeros(out, length + 1, dtype=torch.float64)
    rows = torch.arange(out)
    weights[rows, start.long()] = 1 - frac
    weights[rows, start.long() + 1] += frac
    weights[coords > length - 1] = 0
    return weights[:, :length].to(device, dtype)


def zoom_linear(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``scipy.ndimage.zoom(map, size / shape, order=1)`` for a batch (N, h, w): the authors' resize.

    Unlike ``resize_linear`` it keeps scipy's quirk of zeroing an output row or column whose
    coordinate lands a rounding error past the input's last sample.
    """
    out_h, out_w = size
    rows = _zoom_matrix(maps.shape[-2], _zoom_length(maps.shape[-2], out_h), maps.dtype, maps.device)
    cols = _zoom_matrix(maps.shape[-1], _zoom_length(maps.shape[-1], out_w), maps.dtype, maps.device)
    return rows @ maps @ cols.T


def _zoom_length(length: int, target: int) -> int:
    """scipy's output length for the zoom factor target / length: round(length * factor)."""
    return int(round(length * (target / length)))


@dataclass
class Attention:
    """Attention maps A = 1 - dependency per stage (N, h_s, w_s), and their combination."""

    stages: dict[int, torch.Tensor]

    def combined(self, size: tuple[int, int] | None = None, resize: Resize | None = None) -> torch.Tensor:
        """Mean of the stage maps on the first stage's grid, then resized to ``size``
        (``resize_linear`` by default; the authors' variants pass ``zoom_linear``)."""
        resize = resize or resize_linear
        first = next(iter(self.stages.values()))
        grid = tuple(first.shape[-2:])
        mean = torch.stack([resize(a, grid) for a in self.stages.values()]).mean(dim=0)
        return resize(mean, size) if size is not None else mean


def attention_from_features(
    feats_ref: dict[int, torch.Tensor],
    feats_dist: dict[int, torch.Tensor],
    kind: Kind = "smic",
    k: int = 32,
    patch: int = 7,
    stride: int = 7,
    projection: Projection = "xavier",
    seed: int = AUTHORS_SEED,
    alpha: float = 0.5,
    c: float = 10,
) -> Attention:
    """Attention from stage features already computed (keys: stage numbers 3 and/or 4)."""
    if kind not in ("smic", "mic"):
        raise ValueError(f"attention must be 'smic' or 'mic', got {kind!r}")
    weights = projection_weights(projection, k, seed, tuple(feats_ref)) if kind == "smic" else {}
    return Attention({
        stage: 1.0 - dependency_map(feats_ref[stage], feats_dist[stage], weights.get(stage), patch, stride, alpha, c)
        for stage in feats_ref
    })


def attention_map(
    ref: torch.Tensor,
    dist: torch.Tensor,
    *,
    kind: Kind = "smic",
    stages: Sequence[int] = (3, 4),
    k: int = 32,
    patch: int = 7,
    stride: int = 7,
    projection: Projection = "xavier",
    seed: int = AUTHORS_SEED,
    alpha: float = 0.5,
    c: float = 10,
    size: tuple[int, int] | None = None,
    backbone: VGG16 | None = None,
) -> tuple[Attention, torch.Tensor]:
    """SMIC attention of image pairs (N, 3, H, W) in [0, 1] (no normalisation, as the authors).

    Returns the per-stage maps and their combination resized to ``size`` (default: the image size).
    ``backbone``: an L2-pooled :class:`VGG16`; the default, ``channels_last=False``, has the
    authors' rounding on the CPU (channels-last is faster there, its maps may differ in a few cells).
    """
    from smic.io import check_pair

    if not set(stages) <= {3, 4}:
        raise ValueError(f"stages must be drawn from (3, 4), got {tuple(stages)}")
    # each pooling halves the size (rounding up for L2 pooling, down for max pooling)
    check_pair(ref, dist, min_size=2 ** (max(stages) - 1) * patch)
    net = backbone or shared_vgg16("l2", str(ref.device), ref.dtype, channels_last=False)  # the authors' rounding
    with torch.inference_mode():
        f_ref, f_dist = net(ref, stages=max(stages)), net(dist, stages=max(stages))
    attention = attention_from_features(
        {s: f_ref[s - 1] for s in stages}, {s: f_dist[s - 1] for s in stages},
        kind, k, patch, stride, projection, seed, alpha, c,
    )
    return attention, attention.combined(size or tuple(ref.shape[-2:]))


def attend(distortion_map: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Pool any local distortion map with attention: sum(A * M) / sum(A) per image.

    ``distortion_map`` is (N, h, w) or (N, 1, h, w) on any grid; ``attention`` (N, h', w') is
    resized to that grid bilinearly first. Constant attention gives the plain spatial mean.
    """
    values = distortion_map[:, 0] if distortion_map.dim() == 4 else distortion_map
    if values.dim() != 3 or values.shape[0] != attention.shape[0]:
        raise ValueError(
            f"distortion_map must be (N, h, w) or (N, 1, h, w) with N = {attention.shape[0]}, "
            f"got {tuple(distortion_map.shape)}"
        )
    weights = resize_linear(attention.to(values.device, torch.float64), tuple(values.shape[-2:]))
    return (weights * values.double()).sum(dim=(1, 2)) / weights.sum(dim=(1, 2))


def spatial_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over the last two dimensions of (N, C, h, w): (N, C)."""
    return values.mean(dim=(-2, -1))


class AttentionPool:
    """Spatial means weighted by SMIC attention: the paper's pooling, used inside a metric.

    A metric calls ``pool.mean(stage, values)`` wherever the official code takes a spatial
    mean; stage 3 and 4 values are pooled as sum(A_s v) / sum(A_s) (A_s resized bilinearly to
    their grid), stage 0 (pixel-grid maps) with the mean of A_3 and A_4 (Eq. 7), other stages
    plainly. The attention comes from the metric's own stage-3/4 features (``from_features``)
    or from the L2-pooled VGG16 of the images (``from_images``). Constant attention leaves
    every mean, hence the official score, unchanged.
    """

    def __init__(self, kind: Kind = "smic", **options: object) -> None:
        self.kind, self.options = kind, options
        self.attention: Attention | None = None
        self._weights: dict[tuple[int, tuple[int, int]], torch.Tensor | None] = {}

    def from_features(self, feats_ref: dict[int, torch.Tensor], feats_dist: dict[int, torch.Tensor]) -> None:
        if self.attention is None:
            self.attention = attention_from_features(feats_ref, feats_dist, self.kind, **self.options)

    def from_images(self, ref: torch.Tensor, dist: torch.Tensor, backbone: VGG16) -> None:
        with torch.inference_mode():
            f_ref, f_dist = backbone(ref, stages=4), backbone(dist, stages=4)
        self.from_features({3: f_ref[2], 4: f_ref[3]}, {3: f_dist[2], 4: f_dist[3]})

    def weights(self, stage: int, size: tuple[int, int]) -> torch.Tensor | None:
        """Normalised weights (N, 1, h, w) for a stage's grid (made once per grid), or None for
        a plain mean."""
        if self.attention is None:
            raise ValueError("AttentionPool used before its attention was computed")
        key = (stage, size)
        if key not in self._weights:
            if stage == 0:
                maps = self.attention.combined()
            elif stage in self.attention.stages:
                maps = self.attention.stages[stage]
            else:
                maps = None
            weights = None if maps is None else resize_linear(maps, size)[:, None]
            self._weights[key] = None if weights is None else weights / weights.sum(dim=(-2, -1), keepdim=True)
        return self._weights[key]

    def mean(self, stage: int, values: torch.Tensor) -> torch.Tensor:
        weights = self.weights(stage, tuple(values.shape[-2:]))
        if weights is None:
            return spatial_mean(values)
        # one batched float64 product (N, C, hw) x (N, hw, 1): float32 accumulation over a large
        # grid would lose 1e-5 (identical images must keep SSIM 1)
        flat = weights[:, 0].to(values.device, torch.float64).flatten(-2).unsqueeze(-1)
        return torch.matmul(values.flatten(-2).double(), flat)[..., 0].to(values.dtype)

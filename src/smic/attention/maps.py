"""SMIC attention (the paper's Sec. II-B): where a viewer looks, from feature dependency.

For stage s of the L2-pooled VGG16 (s = 3: relu3_3, 256 channels; s = 4: relu4_3, 512 channels):

    P_k = w_k . F_s          K random 1-D projections of the features (a 1x1 conv, no bias)
    SMIC_p = (1/K) sum_k MIC(P_k(dist)[patch p], P_k(ref)[patch p])     over the patch's pixels
    A_p = 1 - SMIC_p         higher dependency, lower attention

with 7x7 patches at stride 7 and minepy's MIC (alpha 0.5, c 10); see :class:`AttentionSettings`.
``kind="mic"`` is the paper's Table II ablation ("MIC without slicing"): one MIC per patch between
the channel-averaged reference and distorted features (the fixed direction 1/C instead of K
random ones). It keeps the sample count of a patch (49) and measures dependency without slicing,
so the comparison with SMIC isolates the random projections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from smic.attention.projections import projection_weights
from smic.attention.settings import AttentionSettings
from smic.attention.windows import windows
from smic.backbone import VGG16, shared_vgg16
from smic.io import check_pair
from smic.kernels.mic import mic
from smic.pooling import Stages
from smic.sharing import memo

Resize = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
ATTENDED_STAGES = (3, 4)


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


@dataclass
class Attention:
    """Attention maps A = 1 - dependency per stage (N, h_s, w_s), and their combination."""

    stages: dict[int, torch.Tensor]

    def combined(self, size: tuple[int, int] | None = None, resize: Resize | None = None) -> torch.Tensor:
        """Mean of the stage maps on the first stage's grid, then resized to ``size``
        (``resize_linear`` by default; the authors' variants pass their scipy zoom)."""
        resize = resize or resize_linear
        first = next(iter(self.stages.values()))
        grid = (first.shape[-2], first.shape[-1])
        mean = torch.stack([resize(a, grid) for a in self.stages.values()]).mean(dim=0)
        return resize(mean, size) if size is not None else mean


def _settings(settings: AttentionSettings | None, options: dict[str, Any]) -> AttentionSettings:
    """``settings`` with keyword overrides (``attention_map(..., stride=6)``)."""
    unknown = set(options) - set(AttentionSettings.names())
    if unknown:
        raise ValueError(
            f"unknown attention setting {sorted(unknown)[0]!r}; choose from {', '.join(AttentionSettings.names())}"
        )
    return replace(settings or AttentionSettings(), **options)


def attention_from_features(
    feats_ref: Stages, feats_dist: Stages, settings: AttentionSettings | None = None, **options: Any
) -> Attention:
    """Attention of the attended stages (3 and/or 4) present in the features already computed;
    once per settings and features inside ``smic.sharing.shared_work()``."""
    settings = _settings(settings, options)
    attended = [stage for stage in ATTENDED_STAGES if stage in feats_ref]
    features = [feats_ref[stage] for stage in attended] + [feats_dist[stage] for stage in attended]
    shared = memo(
        "attention",
        (settings, tuple(attended)),
        features,
        lambda: _attention(feats_ref, feats_dist, settings, attended),
    )
    return Attention(dict(shared.stages))  # the maps shared, the dict each caller's own


def _attention(feats_ref: Stages, feats_dist: Stages, settings: AttentionSettings, attended: list[int]) -> Attention:
    weights = (
        projection_weights(settings.projection, settings.k, settings.seed, attended) if settings.kind == "smic" else {}
    )
    return Attention(
        {
            stage: 1.0
            - dependency_map(
                feats_ref[stage],
                feats_dist[stage],
                weights.get(stage),
                settings.patch,
                settings.stride,
                settings.alpha,
                settings.c,
            )
            for stage in attended
        }
    )


def attention_map(
    ref: torch.Tensor,
    dist: torch.Tensor,
    *,
    stages: Sequence[int] = ATTENDED_STAGES,
    size: tuple[int, int] | None = None,
    backbone: VGG16 | None = None,
    settings: AttentionSettings | None = None,
    **options: Any,
) -> tuple[Attention, torch.Tensor]:
    """SMIC attention of image pairs (N, 3, H, W) in [0, 1] (no normalisation, as the authors).

    Returns the per-stage maps and their combination resized to ``size`` (default: the image
    size). ``settings`` (or its fields as keywords: ``kind``, ``k``, ``patch``, ``stride``,
    ``projection``, ``seed``, ``alpha``, ``c``) say how. ``backbone``: an L2-pooled
    :class:`VGG16`; the default, ``channels_last=False``, has the authors' rounding on the CPU
    (channels-last is faster there, its maps may differ in a few cells).
    """
    settings = _settings(settings, options)
    if not set(stages) <= set(ATTENDED_STAGES):
        raise ValueError(f"stages must be drawn from {ATTENDED_STAGES}, got {tuple(stages)}")
    # each pooling halves the size (rounding up for L2 pooling, down for max pooling)
    check_pair(ref, dist, min_size=2 ** (max(stages) - 1) * settings.patch)
    net = backbone or shared_vgg16("l2", str(ref.device), ref.dtype, channels_last=False)  # the authors' rounding
    with torch.inference_mode():
        f_ref, f_dist = net(ref, stages=max(stages)), net(dist, stages=max(stages))
    attention = attention_from_features({s: f_ref[s] for s in stages}, {s: f_dist[s] for s in stages}, settings)
    return attention, attention.combined(size or (ref.shape[-2], ref.shape[-1]))

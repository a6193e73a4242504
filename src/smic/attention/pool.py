"""Pooling with attention: any map with ``attend``, a metric's own means with ``AttentionPool``."""

from __future__ import annotations

import torch

from smic.attention.maps import Attention, attention_from_features, resize_linear
from smic.attention.settings import AttentionSettings
from smic.backbone import VGG16
from smic.pooling import Stages, spatial_mean


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
    weights = resize_linear(attention.to(values.device, torch.float64), (values.shape[-2], values.shape[-1]))
    return (weights * values.double()).sum(dim=(1, 2)) / weights.sum(dim=(1, 2))


class AttentionPool:
    """Spatial means weighted by SMIC attention: the paper's pooling (a ``smic.pooling.Pool``).

    Of the ``stages`` it weighs, stage 3 and 4 values are pooled as sum(A_s v) / sum(A_s) (A_s
    resized bilinearly to their grid) and stage 0 (pixel-grid maps) with the mean of A_3 and A_4
    (Eq. 7); every other mean is plain. The paper weighs stage 0 for the pixel metrics and stages
    3 and 4 for the deep ones, whose stage 0 is the image itself (Eq. 8).
    The attention comes from the stage-3/4 features the metric hands to ``observe`` or from the
    L2-pooled VGG16 of the images (``from_images``), whichever comes first. Constant attention
    leaves every mean, hence the official score, unchanged.
    """

    def __init__(self, settings: AttentionSettings | None = None, stages: tuple[int, ...] = (0, 3, 4)) -> None:
        self.settings = settings or AttentionSettings()
        self.stages = stages
        self.attention: Attention | None = None
        self._weights: dict[tuple[int, tuple[int, int]], torch.Tensor | None] = {}

    def observe(self, ref: Stages, dist: Stages) -> None:
        if self.attention is None:  # attention_from_features takes the attended stages it finds
            self.attention = attention_from_features(ref, dist, self.settings)

    def from_images(self, ref: torch.Tensor, dist: torch.Tensor, backbone: VGG16) -> None:
        with torch.inference_mode():
            self.observe(backbone(ref, stages=4), backbone(dist, stages=4))

    def weights(self, stage: int, size: tuple[int, int]) -> torch.Tensor | None:
        """Normalised weights (N, 1, h, w) for a stage's grid (made once per grid), or None for
        a plain mean."""
        if self.attention is None:
            raise ValueError("AttentionPool used before its attention was computed")
        key = (stage, size)
        if key not in self._weights:
            if stage not in self.stages:
                maps = None
            elif stage == 0:
                maps = self.attention.combined()
            elif stage in self.attention.stages:
                maps = self.attention.stages[stage]
            else:
                maps = None
            weights = None if maps is None else resize_linear(maps, size)[:, None]
            self._weights[key] = None if weights is None else weights / weights.sum(dim=(-2, -1), keepdim=True)
        return self._weights[key]

    def mean(self, stage: int, values: torch.Tensor) -> torch.Tensor:
        weights = self.weights(stage, (values.shape[-2], values.shape[-1]))
        if weights is None:
            return spatial_mean(values)
        # one batched float64 product (N, C, hw) x (N, hw, 1): float32 accumulation over a large
        # grid would lose 1e-5 (identical images must keep SSIM 1)
        flat = weights[:, 0].to(values.device, torch.float64).flatten(-2).unsqueeze(-1)
        return torch.matmul(values.flatten(-2).double(), flat)[..., 0].to(values.dtype)

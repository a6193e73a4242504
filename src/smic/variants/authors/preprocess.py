"""The authors' input preparation, on 8-bit data as their PIL pipeline sees it.

``prepare``: if the shorter side exceeds 128, resize it to max(int(short / 48) * 32, 128) and the
longer side to int(target * long / short) (torchvision's PIL rule), PIL bilinear with antialiasing;
a 512x384 image becomes 341x256. ``prepare_wsd`` (DeepWSD): resize to 256x256 when
512 < longer side < 1000. Both use the batched Pillow-exact resize of ``smic.resize``: one grey
level of difference can flip a MIC's ranks.
"""

from __future__ import annotations

import torch

from smic.resize import resize_like_pil


def prepared_size(height: int, width: int) -> tuple[int, int]:
    """Size after the authors' ``prepare_image``."""
    short = min(height, width)
    if short <= 128:
        return height, width
    target = max(int(short / 48.0) * 32, 128)
    longer = int(target * max(height, width) / short)
    return (target, longer) if height <= width else (longer, target)


def prepare(images: torch.Tensor) -> torch.Tensor:
    """The authors' ``prepare_image`` on a batch (N, 3, H, W) in [0, 1]."""
    size = prepared_size(*images.shape[-2:])
    return images if size == tuple(images.shape[-2:]) else resize_like_pil(images, size)


def prepare_wsd(images: torch.Tensor) -> torch.Tensor:
    """The authors' (and DeepWSD's) ``wsd_prepare_image``: 256x256 when 512 < longer side < 1000."""
    return resize_like_pil(images, (256, 256)) if 512 < max(images.shape[-2:]) < 1000 else images

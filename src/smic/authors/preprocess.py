"""The authors' input preparation, on 8-bit data as their PIL pipeline sees it.

``prepare``: if the shorter side exceeds 128, resize it to max(int(short / 48) * 32, 128) and the
longer side to int(target * long / short) (torchvision's PIL rule), PIL bilinear with antialiasing;
a 512x384 image becomes 341x256. ``prepare_wsd`` (DeepWSD): resize to 256x256 when
512 < longer side < 1000. Images go through PIL one by one because only PIL's fixed-point
resampler gives the authors' pixels exactly, and one level of difference can flip a MIC's ranks.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def _resize_8bit(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, 3, H, W) in [0, 1] to size (h, w) through PIL on the 8-bit values."""
    height, width = size
    out = []
    for image in images:
        levels = torch.round(image.detach().cpu().double() * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        resized = Image.fromarray(levels).resize((width, height), Image.BILINEAR)
        out.append(torch.from_numpy(np.array(resized)).permute(2, 0, 1))
    return (torch.stack(out).to(torch.float32) / 255).to(images.device, images.dtype)


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
    return images if size == tuple(images.shape[-2:]) else _resize_8bit(images, size)


def prepare_wsd(images: torch.Tensor) -> torch.Tensor:
    """The authors' (and DeepWSD's) ``wsd_prepare_image``: 256x256 when 512 < longer side < 1000."""
    return _resize_8bit(images, (256, 256)) if 512 < max(images.shape[-2:]) < 1000 else images

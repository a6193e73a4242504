"""Pillow's BILINEAR resize in torch, batched on any device: what torchvision's PIL path gives.

The official DISTS, DeepWSD and SMIC code resize PIL images; one grey level of difference can
flip a MIC's ranks, so their exact pixels matter.
"""

from __future__ import annotations

import numpy as np
import PIL
import torch

from smic.sharing import memo

_PILLOW_MAJOR = int(PIL.__version__.split(".")[0])


def _pil_bilinear_coefficients(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) float64 weights of Pillow's bilinear resampling along one axis.

    Pillow widens the triangle filter by the reduction factor (its built-in antialiasing),
    centres output pixel i at (i + 0.5) * in/out, and normalises every row to sum 1.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale  # the bilinear filter's support is 1
    taps = int(np.ceil(support)) * 2 + 1
    center = (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    stop = np.minimum(np.trunc(center + support + 0.5), in_size).astype(np.int64)
    index = first[:, None] + np.arange(taps)[None, :]
    argument = ((index - center[:, None]) + 0.5) * (1.0 / filterscale)
    weight = np.where(index < stop[:, None], np.maximum(1.0 - np.abs(argument), 0.0), 0.0)
    total = np.cumsum(weight, axis=1)[:, -1:]  # sequential sum, as Pillow accumulates
    weight = np.where(total != 0.0, weight / np.where(total != 0.0, total, 1.0), weight)
    matrix = np.zeros((out_size, in_size + taps))
    np.put_along_axis(matrix, index, weight, axis=1)
    return matrix[:, :in_size]


def _fixed_point(coefficients: np.ndarray) -> np.ndarray:
    """Pillow's 8-bit path rounds each coefficient to an integer multiple of 2^-22."""
    scaled = coefficients * float(1 << 22)
    return np.trunc(np.where(scaled < 0, scaled - 0.5, scaled + 0.5))


def _resample_8bit(levels: torch.Tensor, matrix: torch.Tensor, dim: int) -> torch.Tensor:
    """One Pillow 8-bit pass: integer-weighted sum plus 2^21, shifted right by 22, clipped.

    Every product and partial sum is an integer below 2^40, so float64 arithmetic is exact.
    """
    moved = levels.movedim(dim, -1)
    summed = moved @ matrix.T + float(1 << 21)
    return torch.floor(summed / float(1 << 22)).clamp(0, 255).movedim(-1, dim)


def _pillow_vertical_first(in_size: tuple[int, int], out_size: tuple[int, int]) -> bool:
    """Pass order of the installed Pillow: up to 12.x always horizontal first; from 13.0 the
    vertical pass goes first when the height shrinks by more than twice as many pixels as
    the width does (Resample.c, ImagingResampleInner). The order changes the 8-bit rounding."""
    if _PILLOW_MAJOR < 13:
        return False
    shrink_h, shrink_w = in_size[0] - out_size[0], in_size[1] - out_size[1]
    return shrink_h > 0 and shrink_h > 2 * shrink_w


def resize_like_pil(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, H, W) images in [0, 1] to ``size`` = (h, w) with PIL's BILINEAR filter.

    For 8-bit data (every value a multiple of 1/255, as loaded from 8-bit files) this equals,
    bit for bit, converting to a PIL uint8 image, ``Image.resize(..., BILINEAR)`` with the
    installed Pillow and dividing by 255: Pillow's fixed-point arithmetic, its 8-bit rounding
    between the two passes and its pass order are reproduced. Other data is resampled with the
    same filter in float64 without quantisation (as a PIL "F" image would be). Batched, on the
    images' device; once per batch and size inside ``smic.sharing.shared_work()``.
    """
    return memo("resize_like_pil", tuple(size), (images,), lambda: _resize_like_pil(images, size))


def _resize_like_pil(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    height, width = images.shape[-2:]
    out_h, out_w = size
    levels = images.double() * 255.0
    eight_bit = bool(((levels - levels.round()).abs() < 1e-3).all())
    result = levels.round() if eight_bit else images.double()
    passes = [(3, width, out_w), (2, height, out_h)]
    if _pillow_vertical_first((height, width), (out_h, out_w)):
        passes.reverse()
    for dim, in_size, out_size in passes:
        if in_size == out_size:
            continue  # Pillow skips it too (it would be the identity)
        weights = _pil_bilinear_coefficients(in_size, out_size)
        if eight_bit:
            matrix = torch.from_numpy(_fixed_point(weights)).to(images.device)
            result = _resample_8bit(result, matrix, dim)
        else:
            matrix = torch.from_numpy(weights).to(images.device)
            result = (result.movedim(dim, -1) @ matrix.T).movedim(-1, dim)
    if eight_bit:
        return (result.float() / 255.0).to(images.dtype)  # torchvision's ToTensor: uint8 / 255
    return result.to(images.dtype)


def resize_shorter_side(images: torch.Tensor, shorter: int = 256) -> torch.Tensor:
    """torchvision's ``resize(pil_image, shorter)`` when the shorter side exceeds ``shorter``: the
    shorter side to ``shorter``, the longer to int(shorter * long / short), PIL bilinear (DISTS's
    official ``prepare_image`` uses 256); smaller images are returned unchanged."""
    height, width = images.shape[-2:]
    if min(height, width) <= shorter:
        return images
    if width <= height:
        size = (int(shorter * height / width), shorter)
    else:
        size = (shorter, int(shorter * width / height))
    return resize_like_pil(images, size)

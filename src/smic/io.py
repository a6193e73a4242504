"""Images in, validated (N, 3, H, W) float tensors in [0, 1] out; every input error is raised here."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

ImageLike = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor


def load_image(source: ImageLike, name: str = "image", rgb: bool = False) -> torch.Tensor:
    """Read a path, PIL image, numpy array or tensor as a float32 tensor (1, C, H, W) in [0, 1].

    uint8 data is divided by 255; float data must already lie in [0, 1]. Greyscale stays one
    channel unless ``rgb=True`` (then it is repeated to three), so that a grey/colour mix is
    reported instead of silently converted.
    """
    if isinstance(source, (str, os.PathLike)):
        source = _read_file(Path(source), name)
    if isinstance(source, Image.Image):
        source = _pil_to_array(source)
    if isinstance(source, np.ndarray):
        tensor = _array_to_tensor(source, name)
    elif isinstance(source, torch.Tensor):
        tensor = source.detach()
        if tensor.dim() == 2:
            tensor = tensor[None]
        if tensor.dim() == 3:
            tensor = tensor[None]
    else:
        raise ValueError(f"{name}: cannot read an image from {type(source).__name__}")
    if rgb and tensor.shape[1] == 1:
        tensor = tensor.expand(-1, 3, -1, -1).contiguous()
    return tensor


def load_pair(ref: str | os.PathLike[str], dist: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a reference and a distorted image file as one (1, 3, H, W) pair.

    A grey pair is repeated to RGB, since the metrics take colour; a grey/colour mix raises
    ``ValueError``, because it usually means two files that do not belong together.
    """
    ref_image, dist_image = load_image(ref, "ref"), load_image(dist, "dist")
    if ref_image.shape[1] != dist_image.shape[1]:
        grey, colour = ("ref", "dist") if ref_image.shape[1] == 1 else ("dist", "ref")
        raise ValueError(
            f"{grey} is greyscale (1 channel) but {colour} is colour (3 channels): "
            f"ref {os.fspath(ref)}, dist {os.fspath(dist)}"
        )
    if ref_image.shape[1] == 1:
        return ref_image.expand(-1, 3, -1, -1).contiguous(), dist_image.expand(-1, 3, -1, -1).contiguous()
    return ref_image, dist_image


def _read_file(path: Path, name: str) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{name}: {path} is not a readable image ({error})") from error


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("L", "RGB"):
        return np.asarray(image)
    if image.mode in ("1", "P", "I;16", "I", "F", "LA"):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))  # RGBA, CMYK, YCbCr...: alpha dropped


def _array_to_tensor(array: np.ndarray, name: str) -> torch.Tensor:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected an HxW or HxWx3 array, got shape {array.shape}")
    if array.dtype == np.uint8:
        data = torch.from_numpy(np.array(array, copy=True)).to(torch.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        data = torch.from_numpy(np.array(array, dtype=np.float32, copy=True))
    else:
        raise ValueError(f"{name}: unsupported array dtype {array.dtype} (use uint8 or float in [0, 1])")
    return data.permute(2, 0, 1)[None]


def check_pair(ref: torch.Tensor, dist: torch.Tensor, min_size: int = 1) -> None:
    """Raise ``ValueError`` naming ``ref`` or ``dist`` unless both are equal-shape (N, 3, H, W)
    finite float tensors in [0, 1] with H, W >= ``min_size``."""
    for name, image in (("ref", ref), ("dist", dist)):
        if not isinstance(image, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(image).__name__}")
        if image.dim() != 4:
            raise ValueError(f"{name}: expected shape (N, 3, H, W), got {tuple(image.shape)}")
        if not image.is_floating_point():
            raise ValueError(f"{name}: expected a float tensor in [0, 1], got {image.dtype}")
    if ref.shape[1] != dist.shape[1]:
        grey = "ref" if ref.shape[1] == 1 else "dist"
        raise ValueError(
            f"{grey} is greyscale (1 channel) but the other image is colour (3 channels): "
            "convert both to the same mode (e.g. load_image(..., rgb=True))"
        )
    if ref.shape != dist.shape:
        raise ValueError(f"size mismatch: ref is {tuple(ref.shape)}, dist is {tuple(dist.shape)}")
    for name, image in (("ref", ref), ("dist", dist)):
        if image.numel() == 0:
            raise ValueError(f"{name}: empty image of shape {tuple(image.shape)}")
        if image.shape[1] != 3:
            raise ValueError(
                f"{name}: expected 3 colour channels, got {image.shape[1]}"
                + (" (greyscale: load with rgb=True to repeat it)" if image.shape[1] == 1 else "")
            )
        low, high = (float(v) for v in torch.aminmax(image.detach()))  # one pass; NaN propagates to both
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{name}: contains NaN or inf values")
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name}: values must lie in [0, 1], found [{low:.4g}, {high:.4g}] (divide 8-bit images by 255)"
            )
        if min(image.shape[-2:]) < min_size:
            raise ValueError(
                f"{name}: image of {image.shape[-2]}x{image.shape[-1]} is too small: "
                f"this metric needs at least {min_size}x{min_size} pixels"
            )

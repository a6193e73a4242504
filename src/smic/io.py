"""Images in, validated (N, 3, H, W) float tensors in [0, 1] out; every input error is raised here.

How a file is read (``load_image``, ``load_pair``, ``image_size``):

- Values are scaled by the file's own range, never clipped: 8-bit data / 255, 16-bit data / 65535.
- Modes: ``1`` -> grey 0 or 1; ``L`` and ``I;16`` (any byte order) -> grey; ``RGB``, ``RGBX``,
  ``CMYK`` and ``YCbCr`` -> RGB (CMYK and YCbCr by Pillow's formulas, no ICC colour management);
  a palette image (``P``, ``PA``) -> RGB, always, even when its palette is grey, so that the channel
  count follows from the mode alone. ``I`` (32-bit integers) is read as 16-bit data (/ 65535) when
  every value lies in 0..65535 and refused otherwise; ``F`` (32-bit float) is read as it is when
  every value is finite and in [0, 1] and refused otherwise. Other modes (LAB, HSV, premultiplied
  alpha) are refused. A refusal is a one-line ``ValueError`` naming the input and the reason.
- Alpha (``LA``, ``RGBA``, ``PA``, a palette's transparency) is dropped: the colour channels are
  read as stored, not composited on any background.
- 16-bit colour PNG and TIFF, which Pillow decodes to 8 bits by keeping the high byte, are read at
  16 bits (see ``_low_bytes``); 16-bit colour in any other format is refused rather than truncated.
- The EXIF orientation is applied (``orient=True``): what is returned is the image as a viewer shows
  it. ``orient=False`` returns the pixels as stored.
- The size and the pixel limit (``max_pixels``, default ``MAX_PIXELS``) are checked from the header
  before any pixel is decoded; Pillow's own decompression-bomb limit is not used for these reads.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, TiffImagePlugin, UnidentifiedImageError

from smic.storage import Location, as_location, open_binary

ImageLike = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

MAX_PIXELS = 120_000_000
"""Default ``max_pixels`` of ``load_image`` and ``load_pair``: files with more pixels (width times
height, read from the header) are refused before decoding. 120 MP passes any camera frame up to the
100 MP backs (11648x8736); one such RGB image is 1.4 GB as float32. Pass ``max_pixels=`` (CLI:
``--max-pixels``) to read larger trusted files."""

_ORIENTATION_TAG = 0x0112

# What a damaged or hostile file makes Pillow raise, at open or while decoding; only Pillow calls are
# wrapped, so that smic's own ValueErrors pass through untouched.
_PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, IndexError, KeyError, TypeError)

# The EXIF orientations (1..8) as array operations on (H, W, ...) arrays: what a viewer shows.
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
_INVERSE = {2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def image_size(path: str | os.PathLike[str], name: str = "image", orient: bool = True) -> tuple[int, int]:
    """(height, width) of an image file from its header alone, without decoding any pixel.

    With ``orient=True`` it is the size ``load_image`` returns: an EXIF orientation that turns the
    image by 90 degrees swaps the two.
    """
    return _header(as_location(path), name).size(orient)


def load_image(
    source: ImageLike,
    name: str = "image",
    rgb: bool = False,
    *,
    orient: bool = True,
    max_pixels: int | None = None,
) -> torch.Tensor:
    """Read a path, PIL image, numpy array or tensor as a float32 tensor (1, C, H, W) in [0, 1].

    Files are read by the rules in this module's docstring: each mode at its own precision (8-bit
    / 255, 16-bit / 65535) or refused, alpha dropped, the EXIF orientation applied unless
    ``orient=False``, and more than ``max_pixels`` pixels (default ``MAX_PIXELS``, read when called)
    refused from the header before decoding. A PIL image goes through the same mode rules and, with
    ``orient=True``, its EXIF orientation (Pillow turns a TIFF itself when loading it); the pixel
    limit is for files only. Arrays: uint8 / 255, uint16 / 65535, bool as 0/1, float as it is (it
    must lie in [0, 1]). Greyscale stays one channel unless ``rgb=True`` (then it is repeated to
    three), so that a grey/colour mix is reported instead of silently converted.
    """
    if isinstance(source, (str, os.PathLike)):
        source = _read_file(as_location(source), name, orient, max_pixels)
    elif isinstance(source, Image.Image):
        source = _read_pil(source, name, orient)
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


def load_pair(
    ref: str | os.PathLike[str],
    dist: str | os.PathLike[str],
    *,
    orient: bool = True,
    max_pixels: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a reference and a distorted image file as one (1, 3, H, W) pair.

    Both headers are read first: a file over ``max_pixels`` or a pair of different (oriented) sizes
    is refused before either is decoded. A grey pair is repeated to RGB, since the metrics take
    colour; a grey/colour mix raises ``ValueError``, because it usually means two files that do not
    belong together. ``orient`` and ``max_pixels`` are as in ``load_image``.
    """
    ref_header, dist_header = _header(as_location(ref), "ref"), _header(as_location(dist), "dist")
    ref_header.check_pixels(max_pixels)
    dist_header.check_pixels(max_pixels)
    ref_size, dist_size = ref_header.size(orient), dist_header.size(orient)
    if ref_size != dist_size:
        message = (
            f"size mismatch: ref {os.fspath(ref)} is {_wxh(ref_size)}, "
            f"dist {os.fspath(dist)} is {_wxh(dist_size)} (width x height"
        )
        if orient and ref_header.size(False) == dist_header.size(False):
            turned = [h.label.split(":")[0] for h in (ref_header, dist_header) if h.orientation >= 5]
            message += (
                f"; the stored pixels are the same size: the EXIF orientation of {' and '.join(turned)} "
                "turns it by 90 degrees (orient=False reads the pixels as stored)"
            )
        raise ValueError(message + ")")
    ref_image = load_image(ref, "ref", orient=orient, max_pixels=max_pixels)
    dist_image = load_image(dist, "dist", orient=orient, max_pixels=max_pixels)
    if ref_image.shape[1] != dist_image.shape[1]:
        grey, colour = ("ref", "dist") if ref_image.shape[1] == 1 else ("dist", "ref")
        raise ValueError(
            f"{grey} is greyscale (1 channel) but {colour} is colour (3 channels): "
            f"ref {os.fspath(ref)}, dist {os.fspath(dist)}"
        )
    if ref_image.shape[1] == 1:
        return ref_image.expand(-1, 3, -1, -1).contiguous(), dist_image.expand(-1, 3, -1, -1).contiguous()
    return ref_image, dist_image


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[1]}x{size[0]}"


# ---------------------------------------------------------------------------------------------------
# Files: header first, then the pixels


@dataclass(frozen=True)
class _Header:
    label: str  # "name: path", the start of every message about this file
    stored: tuple[int, int]  # (height, width) of the pixels as stored
    orientation: int  # EXIF orientation, 1..8 (1 where there is none or it is unreadable)

    def size(self, orient: bool) -> tuple[int, int]:
        return self.stored[::-1] if orient and self.orientation >= 5 else self.stored

    def check_pixels(self, max_pixels: int | None) -> None:
        limit = MAX_PIXELS if max_pixels is None else max_pixels
        pixels = self.stored[0] * self.stored[1]
        if pixels > limit:
            raise ValueError(
                f"{self.label}: {_wxh(self.stored)} is {pixels:,} pixels, over the limit of {limit:,}; "
                "if the file is trusted, raise it with max_pixels= (CLI: --max-pixels)"
            )


class _PillowLimit:
    """Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is one setting for the whole
    process, checked at open time with its own limit and errors that name no file. smic checks
    ``max_pixels`` itself from the header, so Pillow's check is off while any smic read runs and
    put back when the last one ends (a counter, since the bench runner reads from several threads)."""

    lock = threading.Lock()
    readers = 0
    saved: int | None = None


@contextmanager
def _pillow_limit_off() -> Iterator[None]:
    with _PillowLimit.lock:
        if _PillowLimit.readers == 0:
            _PillowLimit.saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _PillowLimit.readers += 1
    try:
        yield
    finally:
        with _PillowLimit.lock:
            _PillowLimit.readers -= 1
            if _PillowLimit.readers == 0:
                Image.MAX_IMAGE_PIXELS = _PillowLimit.saved


@contextmanager
def _pillow_errors(label: str) -> Iterator[None]:
    """Pillow's exceptions as one-line ``ValueError``s that name the input."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValueError(
            f"{label}: refused as a possible decompression bomb ({_one_line(error)}); "
            "if the file is trusted, raise the limit with max_pixels= (CLI: --max-pixels)"
        ) from error
    except UnidentifiedImageError as error:  # its own message names our file handle, not the file
        raise ValueError(f"{label}: not a readable image (Pillow cannot identify its format)") from error
    except _PILLOW_ERRORS as error:
        raise ValueError(f"{label}: not a readable image ({_one_line(error)})") from error


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@contextmanager
def _opened(path: Location, name: str) -> Iterator[ImageFile.ImageFile]:
    """The file opened by Pillow (its header read, no pixel decoded yet), with Pillow's limit off.

    Opened from a file object, not a path: from a path Pillow 13 memory-maps uncompressed TIFFs,
    and that path decodes a TIFF whose orientation swaps width and height with the wrong row length.
    """
    if isinstance(path, Path) and not path.is_file():
        raise FileNotFoundError(f"{name}: no such file: {path}")
    label = f"{name}: {path}"
    with _pillow_limit_off(), ExitStack() as stack:
        try:
            handle = stack.enter_context(open_binary(path))
        except FileNotFoundError:
            raise FileNotFoundError(f"{name}: no such file: {path}") from None
        except OSError as error:
            raise ValueError(f"{label}: not a readable image ({_one_line(error)})") from error
        except ValueError as error:  # a URI whose filesystem is out of reach, named by storage
            raise ValueError(f"{name}: {error}") from error
        with _pillow_errors(label):
            image = Image.open(handle)
        with image:
            yield image


def _header(path: Location, name: str) -> _Header:
    with _opened(path, name) as image:
        return _header_of(image, path, name)


def _header_of(image: ImageFile.ImageFile, path: Location, name: str) -> _Header:
    label = f"{name}: {path}"
    with _pillow_errors(label):
        width, height = image.size
        if isinstance(image, TiffImagePlugin.TiffImageFile):
            # Pillow (>= 11) reports a TIFF's size already turned by its orientation; the tags keep the stored one
            width, height = int(image.tag_v2.get(256, width)), int(image.tag_v2.get(257, height))
    return _Header(label, (height, width), _file_orientation(image, path))


def _file_orientation(image: ImageFile.ImageFile, path: Location) -> int:
    if image.format == "PNG" and "exif" not in image.info:
        # Pillow finds an eXIf chunk placed after the pixel data only by decoding them; walk the chunks instead
        data = _png_exif_chunk(path)
        if data is not None:
            image.info["exif"] = data
    return _orientation(image)


def _orientation(image: Image.Image) -> int:
    try:
        # the base reader: PNG's own decodes the whole image first when the header has no EXIF
        value = Image.Image.getexif(image).get(_ORIENTATION_TAG, 1)
    except _PILLOW_ERRORS:
        return 1  # EXIF that Pillow cannot parse: shown as stored, as viewers do
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_exif_chunk(path: Location) -> bytes | None:
    """The payload of a PNG's eXIf chunk, read by skipping from chunk header to chunk header."""
    try:
        with open_binary(path) as handle:
            handle.seek(8)
            while len(head := handle.read(8)) == 8:
                length, kind = struct.unpack(">I4s", head)
                if kind == b"eXIf":
                    data = handle.read(length)
                    return data if len(data) == length else None
                if kind == b"IEND":
                    return None
                handle.seek(length + 4, os.SEEK_CUR)
    except OSError:
        pass
    return None


def _read_file(path: Location, name: str, orient: bool, max_pixels: int | None) -> np.ndarray:
    with _opened(path, name) as image:
        header = _header_of(image, path, name)
        header.check_pixels(max_pixels)
        array = _decode(image, path, header.label)
        # Pillow turns TIFFs itself while loading them (and drops the tag when it does); others come as stored
        turned = header.orientation != 1 and (image.format == "TIFF" or _ORIENTATION_TAG not in _safe_exif_keys(image))
    if orient and not turned and header.orientation != 1:
        array = _ORIENT[header.orientation](array)
    elif not orient and turned:
        array = _ORIENT[_INVERSE[header.orientation]](array)
    if array.shape[:2] != header.size(orient):
        raise ValueError(
            f"{header.label}: decoded {_wxh(array.shape[:2])} pixels but the header says {_wxh(header.size(orient))}"
        )
    return array


def _safe_exif_keys(image: Image.Image) -> set[int]:
    try:
        return set(Image.Image.getexif(image).keys())
    except _PILLOW_ERRORS:
        return set()


def _decode(image: ImageFile.ImageFile, path: Location, label: str) -> np.ndarray:
    low = _low_byte_rawmodes(image, label)  # before load(), which empties image.tile
    if low is None:
        with _pillow_errors(label):
            image.load()
        return _pil_to_array(image, label)
    grey_alpha = _rawmode(image.tile[0].args) == "LA;16B"
    with _pillow_errors(label):
        low_bytes = _low_bytes(path, low)
        if grey_alpha:
            # the RGBA raw mode holds all four bytes: grey high, grey low, alpha high, alpha low
            return (low_bytes[..., 0].astype(np.uint16) << 8) | low_bytes[..., 1]
        image.load()
        high = np.asarray(image)
    return ((high.astype(np.uint16) << 8) | low_bytes)[..., :3]


# ---------------------------------------------------------------------------------------------------
# 16-bit colour: Pillow has no 16-bit colour mode, so it keeps the high byte of each sample


_SIXTEEN_BIT_COLOUR = {"RGB": ("RGB;16B", "RGB;16L"), "RGBA": ("RGBA;16B", "RGBA;16L")}


def _rawmode(args: object) -> str | None:
    raw = args[0] if isinstance(args, tuple) and args else args
    return raw if isinstance(raw, str) else None


def _low_byte_rawmodes(image: ImageFile.ImageFile, label: str) -> list[str] | None:
    """For each tile, the raw mode that unpacks the low byte of each 16-bit sample where Pillow's own
    keeps only the high byte; ``None`` where nothing is lost. Refuses 16-bit data it cannot recover."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return None
    rawmodes = [_rawmode(tile.args) for tile in image.tile]
    if not any(raw is not None and ";16" in raw for raw in rawmodes):
        return None
    low: list[str] = []
    for raw in rawmodes:
        if raw is not None and raw.endswith(";16N"):
            raw = raw[:-1] + ("L" if sys.byteorder == "little" else "B")
        pair = _SIXTEEN_BIT_COLOUR.get(image.mode, ())
        if image.format in ("PNG", "TIFF") and raw in pair:
            low.append(pair[1 - pair.index(raw)])  # the other byte order picks the other byte
        elif image.format == "PNG" and image.mode == "RGBA" and raw == "LA;16B":
            low.append("RGBA")  # 4 bytes a pixel either way; see _decode
        else:
            raise ValueError(
                f"{label}: 16-bit {image.format} data in mode {image.mode} ({raw}) would lose its low byte in "
                "Pillow; save it as 16-bit PNG or TIFF, or as 8-bit"
            )
    return low


def _low_bytes(path: Location, rawmodes: list[str]) -> np.ndarray:
    """Decode the file again with Pillow's own decoder, each tile unpacked by the raw mode that picks
    the low byte of each sample; filtering and decompression are the same, only the unpacking differs.

    Chosen over a second library (pypng is pure Python and slow; imagecodecs and OpenCV are large
    binary dependencies) because it is exact, runs at Pillow's C speed and adds no dependency.
    """
    with open_binary(path) as handle, Image.open(handle) as again:
        if len(again.tile) != len(rawmodes):
            raise OSError("the tiles changed between two opens")
        tiles = []
        for tile, raw in zip(again.tile, rawmodes):
            if not hasattr(tile, "_replace"):  # tiles are plain tuples before Pillow 11
                raise OSError("reading 16-bit colour at 16 bits needs Pillow >= 11")
            args = (raw, *tile.args[1:]) if isinstance(tile.args, tuple) else raw
            tiles.append(tile._replace(args=args))
        again.tile = tiles
        again.load()
        return np.asarray(again)


# ---------------------------------------------------------------------------------------------------
# In memory


def _read_pil(image: Image.Image, name: str, orient: bool) -> np.ndarray:
    filename = getattr(image, "filename", "")
    label = f"{name}: {filename}" if filename else f"{name}: PIL image"
    if isinstance(image, ImageFile.ImageFile) and image.tile and _low_byte_rawmodes(image, label) is not None:
        raise ValueError(
            f"{label}: 16-bit colour that Pillow decodes to 8 bits; pass the file's path to read it at 16 bits"
        )
    with _pillow_errors(label):
        image.load()
    array = _pil_to_array(image, label)
    # Pillow has turned a TIFF already when loading it
    orientation = _orientation(image) if orient and image.format != "TIFF" else 1
    return _ORIENT[orientation](array) if orientation != 1 else array


def _pil_to_array(image: Image.Image, label: str) -> np.ndarray:
    """The mode rules of this module's docstring: uint8, uint16 or float32 in [0, 1], (H, W) or (H, W, 3)."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return np.asarray(image)
    if mode in ("1", "LA"):
        return np.asarray(image.convert("L"))  # 1: 0/255; LA: the grey channel as stored
    if mode in ("P", "PA"):
        # through RGBA: the palette colours as stored (RGB would warn about byte transparency)
        return np.asarray(image.convert("RGBA"))[..., :3]
    if mode in ("RGBA", "RGBX", "CMYK", "YCbCr"):
        return np.asarray(image.convert("RGB"))
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)  # any byte order to native
    if mode == "I":
        data = np.asarray(image)
        low, high = (int(data.min()), int(data.max())) if data.size else (0, 0)
        if low < 0 or high > 65535:
            raise ValueError(
                f"{label}: 32-bit integer image (mode I) with values in [{low}, {high}]; only 16-bit data "
                "(0..65535, divided by 65535) is read: rescale it to 16 or 8 bits"
            )
        return data.astype(np.uint16)
    if mode == "F":
        data = np.asarray(image, dtype=np.float32)
        finite = bool(np.isfinite(data).all())
        bottom, top = (float(data.min()), float(data.max())) if data.size and finite else (0.0, 0.0)
        if not finite or bottom < 0.0 or top > 1.0:
            found = "NaN or inf values" if not finite else f"values in [{bottom:.6g}, {top:.6g}]"
            raise ValueError(
                f"{label}: 32-bit float image (mode F) with {found}; only finite values in [0, 1] are read "
                "(as they are)"
            )
        return data
    raise ValueError(f"{label}: mode {mode} is not supported; convert it to RGB or L first")


def _array_to_tensor(array: np.ndarray, name: str) -> torch.Tensor:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected an HxW or HxWx3 array, got shape {array.shape}")
    array = np.ascontiguousarray(array)  # a flipped or turned view has negative strides, which torch refuses
    if array.dtype == np.uint8:
        data = torch.from_numpy(array.copy()).to(torch.float32) / 255.0
    elif array.dtype == np.uint16:
        data = torch.from_numpy(array.astype(np.float32)) / 65535.0
    elif array.dtype == np.bool_:
        data = torch.from_numpy(array.astype(np.float32))
    elif np.issubdtype(array.dtype, np.floating):
        data = torch.from_numpy(np.array(array, dtype=np.float32, copy=True))
    else:
        raise ValueError(f"{name}: unsupported array dtype {array.dtype} (use uint8, uint16, bool or float in [0, 1])")
    return data.permute(2, 0, 1)[None]


def as_pair(ref: ImageLike, dist: ImageLike, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A metric's inputs as tensors: tensors stay as they are (the fast path); two files are read
    by :func:`load_pair` (sizes checked from the headers, a grey pair repeated to RGB); PIL images
    and numpy arrays by :func:`load_image` (grey repeated to RGB). Read images go to ``device``."""
    if isinstance(ref, torch.Tensor) and isinstance(dist, torch.Tensor):
        return ref, dist
    if isinstance(ref, (str, os.PathLike)) and isinstance(dist, (str, os.PathLike)):
        pair = load_pair(ref, dist)
    else:
        pair = (
            ref if isinstance(ref, torch.Tensor) else load_image(ref, "ref", rgb=True),
            dist if isinstance(dist, torch.Tensor) else load_image(dist, "dist", rgb=True),
        )
    return pair[0].to(device) if device else pair[0], pair[1].to(device) if device else pair[1]


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

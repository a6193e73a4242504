"""Image files read at their own precision, upright, and refused from the header when too large.

The references here are independent of smic: pixel values come from the arrays the tests generate
(or, for JPEG, from Pillow's own decoding of the stored pixels), and the EXIF orientation is applied
from the EXIF 2.3 description of tag 274 (which side the stored row 0 and column 0 are shown on).
"""

from __future__ import annotations

import re
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

import smic.io
from smic.io import image_size, load_image, load_pair

# ---------------------------------------------------------------------------------------------------
# Helpers: EXIF orientation from the spec, a PNG writer that Pillow cannot replace (16-bit colour)

# EXIF 2.3, tag 274: the side of the shown image where the stored row 0 and the stored column 0 go
SPEC = {
    1: ("top", "left"),
    2: ("top", "right"),
    3: ("bottom", "right"),
    4: ("bottom", "left"),
    5: ("left", "top"),
    6: ("right", "top"),
    7: ("right", "bottom"),
    8: ("left", "bottom"),
}


def upright(stored: np.ndarray, tag: int) -> np.ndarray:
    """The image as a viewer shows it: each stored pixel (r, c) moved to its place by SPEC."""
    row0, col0 = SPEC[tag]
    h, w = stored.shape[:2]
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    if row0 in ("top", "bottom"):  # rows stay rows
        i = r if row0 == "top" else h - 1 - r
        j = c if col0 == "left" else w - 1 - c
        out = np.empty_like(stored)
    else:  # stored rows become shown columns
        j = r if row0 == "left" else h - 1 - r
        i = c if col0 == "top" else w - 1 - c
        out = np.empty((w, h, *stored.shape[2:]), stored.dtype)
    out[i, j] = stored[r, c]
    return out


def exif_bytes(tag: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = tag
    return exif.tobytes()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type


def png_bytes(
    array: np.ndarray,
    bits: int,
    *,
    seed: int = 0,
    interlace: bool = False,
    exif: bytes | None = None,
    exif_after_pixels: bool = False,
    size: tuple[int, int] | None = None,
    pixel_data: bytes | None = None,
) -> bytes:
    """A PNG written from the spec: every row with a random filter (None, Sub, Up, Average, Paeth),
    optionally Adam7-interlaced, an eXIf chunk before or after the pixel data; ``size`` (width,
    height) and ``pixel_data`` forge the header or the compressed data."""
    array = array if array.ndim == 3 else array[:, :, None]
    h, w, channels = array.shape
    bpp = channels * bits // 8
    rng = np.random.default_rng(seed)

    def scanlines(sub: np.ndarray) -> bytes:
        rows = np.frombuffer(sub.astype(">u2" if bits == 16 else "u1").tobytes(), np.uint8)
        rows = rows.reshape(sub.shape[0], -1).astype(np.int64)
        out, prior = [], np.zeros(rows.shape[1], np.int64)
        for row in rows:
            left = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
            upper_left = np.concatenate([np.zeros(bpp, np.int64), prior[:-bpp]])
            p = left + prior - upper_left
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upper_left)
            paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upper_left))
            kind = int(rng.integers(0, 5))
            predictor = (0, left, prior, (left + prior) // 2, paeth)[kind]
            out.append(bytes([kind]) + ((row - predictor) % 256).astype(np.uint8).tobytes())
            prior = row
        return b"".join(out)

    if interlace:
        passes = [array[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
        raw = b"".join(scanlines(sub) for sub in passes if sub.shape[0] and sub.shape[1])
    else:
        raw = scanlines(array)
    width, height = size or (w, h)
    header = struct.pack(">IIBBBBB", width, height, bits, COLOUR_TYPE[channels], 0, 0, int(interlace))
    exif_chunk = chunk(b"eXIf", exif) if exif is not None else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + (b"" if exif_after_pixels else exif_chunk)
        + chunk(b"IDAT", zlib.compress(raw) if pixel_data is None else pixel_data)
        + (exif_chunk if exif_after_pixels else b"")
        + chunk(b"IEND", b"")
    )


def as_array(tensor: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) -> (H, W, C) float64."""
    return tensor[0].permute(1, 2, 0).double().numpy()


def cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    c, k = cmyk[..., :3].astype(np.float64), cmyk[..., 3:].astype(np.float64)
    return (255 - c) * (255 - k) / 255 / 255


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    y, cb, cr = (ycc[..., i].astype(np.float64) for i in range(3))  # JFIF, full range
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)])
    return np.moveaxis(rgb, 0, -1).clip(0, 255) / 255


# ---------------------------------------------------------------------------------------------------
# (a) property: any mode, depth, size and orientation, against the independent reference

FORMATS = {
    "1": ("PNG", "TIFF"),
    "L": ("PNG", "TIFF", "JPEG"),
    "LA": ("PNG", "TIFF"),
    "P": ("PNG", "TIFF"),
    "P+transparency": ("PNG",),
    "RGB": ("PNG", "TIFF", "JPEG"),
    "RGBA": ("PNG", "TIFF"),
    "CMYK": ("TIFF", "JPEG"),
    "YCbCr": ("TIFF", "JPEG"),
    "I;16": ("PNG", "TIFF"),
    "I;16B": ("TIFF",),
    "I;16L": ("TIFF",),
    "I": ("TIFF",),
    "F": ("TIFF",),
    "16-bit grey": ("raw PNG",),
    "16-bit grey+alpha": ("raw PNG",),
    "16-bit RGB": ("raw PNG",),
    "16-bit RGBA": ("raw PNG",),
    "8-bit RGB": ("raw PNG",),
}
CHANNELS = {"16-bit grey": 1, "16-bit grey+alpha": 2, "16-bit RGB": 3, "16-bit RGBA": 4, "8-bit RGB": 3}


def make_file(
    path: Path, kind: str, fmt: str, h: int, w: int, tag: int, seed: int, variant: int
) -> tuple[np.ndarray | None, str | None]:
    """Write one file; return the stored image as smic should read it (H, W, C) in [0, 1], or the
    start of the refusal it should raise. JPEG's reference is filled in by the caller."""
    rng = np.random.default_rng(seed)
    u8 = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    u16 = rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    u16[0, 0], u8[0, 0] = 65535, 255  # the top of the range is read as exactly 1
    exif = exif_bytes(tag)
    if fmt == "raw PNG":
        channels, bits = CHANNELS[kind], 8 if kind.startswith("8") else 16
        data = (u8 if bits == 8 else u16)[..., :channels]
        path.write_bytes(
            png_bytes(data, bits, seed=seed, interlace=variant % 2 == 1, exif=exif, exif_after_pixels=variant >= 2)
        )
        colour = data[..., : 1 if channels < 3 else 3]
        return colour / (255.0 if bits == 8 else 65535.0), None
    options: dict[str, object] = {"exif": exif}
    if kind == "1":
        bits = u8[..., 0] > 127
        image = Image.fromarray(bits.astype(np.uint8) * 255).convert("1")
        expected = bits[..., None].astype(np.float64)
    elif kind in ("L", "LA", "RGB", "RGBA"):
        n = len(kind)
        image = Image.fromarray(u8[..., 0] if n == 1 else u8[..., :n], kind)
        expected = u8[..., : 1 if n <= 2 else 3] / 255.0
    elif kind.startswith("P"):
        palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
        index = u8[..., 0]
        image = Image.fromarray(index, "L").convert("P")
        image.putpalette(palette.tobytes())
        image.frombytes(index.tobytes())
        if kind == "P+transparency":
            options["transparency"] = (
                int(index[0, 0]) if variant % 2 else rng.integers(0, 256, 256).astype(np.uint8).tobytes()
            )
        expected = palette[index] / 255.0
    elif kind in ("CMYK", "YCbCr"):
        n = len(kind) if kind == "CMYK" else 3
        image = Image.frombytes(kind, (w, h), u8[..., :n].tobytes())
        expected = cmyk_to_rgb(u8) if kind == "CMYK" else ycbcr_to_rgb(u8[..., :3])
    elif kind.startswith("I;16"):
        order = {"I;16": "<u2", "I;16B": ">u2", "I;16L": "<u2"}[kind]
        image = Image.frombytes(kind, (w, h), u16[..., 0].astype(order).tobytes())
        expected = u16[..., :1] / 65535.0
    elif kind == "I":
        low, high = ((0, 65535), (-1000, 65535), (0, 70000), (0, 255))[variant]
        values = rng.integers(low, high + 1, (h, w), dtype=np.int32)
        image = Image.fromarray(values, "I")
        if values.min() < 0 or values.max() > 65535:
            expected = None
        else:
            expected = values[..., None] / 65535.0
    else:  # F
        low, high = ((0.0, 1.0), (-0.25, 1.0), (0.0, 1.5), (0.0, 1.0))[variant]
        values = rng.uniform(low, high, (h, w)).astype(np.float32)
        if variant == 3:
            values[h // 2, w // 2] = np.nan
        image = Image.fromarray(values, "F")
        finite = bool(np.isfinite(values).all())
        expected = values[..., None].astype(np.float64) if finite and 0 <= values.min() and values.max() <= 1 else None
    if fmt == "JPEG":
        options["quality"] = 90
    image.save(path, fmt, **options)
    refusal = {"I": "32-bit integer image (mode I)", "F": "32-bit float image (mode F)"}.get(kind)
    return expected, None if expected is not None else refusal


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(sorted(FORMATS)),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    tag=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    variant=st.integers(0, 3),
)
def test_any_file_reads_as_its_reference(tmp_path_factory, data, kind, h, w, tag, seed, variant):
    fmt = data.draw(st.sampled_from(FORMATS[kind]), label="format")
    path = tmp_path_factory.mktemp("prop") / f"image.{'jpg' if fmt == 'JPEG' else 'tif' if fmt == 'TIFF' else 'png'}"
    expected, refusal = make_file(path, kind, fmt, h, w, tag, seed, variant)
    assert image_size(path) == upright(np.zeros((h, w)), tag).shape
    assert image_size(path, orient=False) == (h, w)
    if refusal is not None:
        with pytest.raises(ValueError, match=f"^{re.escape(f'image: {path}: {refusal}')}"):
            load_image(path)
        return
    if fmt == "JPEG":  # lossy: the reference is Pillow's own decoding of the stored pixels
        with Image.open(path) as stored:
            pixels = np.asarray(stored)
        expected = cmyk_to_rgb(pixels) if kind == "CMYK" else pixels.reshape(h, w, -1) / 255.0
    tolerance = 1.5 / 255 if kind in ("CMYK", "YCbCr") else 1e-6
    np.testing.assert_allclose(as_array(load_image(path)), upright(expected, tag), rtol=0, atol=tolerance)
    np.testing.assert_allclose(as_array(load_image(path, orient=False)), expected, rtol=0, atol=tolerance)


def test_spec_orientation_agrees_with_pillow():
    # the test's reference and Pillow's exif_transpose are written independently; they must agree
    from PIL import ImageOps

    stored = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for tag in range(1, 9):
        image = Image.fromarray(stored)
        image.getexif()[0x0112] = tag
        image.info["exif"] = image.getexif().tobytes()
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(image)), upright(stored, tag)), tag


# ---------------------------------------------------------------------------------------------------
# (b) the cases one by one


def test_16_bit_grey_png_keeps_all_65536_levels(tmp_path):
    ramp = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")  # Pillow writes I;16 as a 16-bit grey PNG
    values = load_image(tmp_path / "ramp.png")[0, 0].double().numpy()
    assert np.unique(values).size == 65536  # was 1: clipped by a conversion to 8-bit L
    np.testing.assert_allclose(values, ramp / 65535, rtol=0, atol=1e-7)
    assert values[0, 0] == 0 and values[-1, -1] == 1


def test_16_bit_grey_tiff_in_both_byte_orders(tmp_path):
    ramp = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    for mode, order in (("I;16", "<u2"), ("I;16B", ">u2")):
        Image.frombytes(mode, (256, 256), ramp.astype(order).tobytes()).save(tmp_path / "ramp.tif")
        values = load_image(tmp_path / "ramp.tif")[0, 0].double().numpy()
        assert np.unique(values).size == 65536, mode
        np.testing.assert_allclose(values, ramp / 65535, rtol=0, atol=1e-7)


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_of_every_colour_type(tmp_path, channels, interlace):
    pixels = np.random.default_rng(channels).integers(0, 65536, (37, 29, channels), dtype=np.uint16)
    (tmp_path / "x.png").write_bytes(png_bytes(pixels, 16, seed=channels, interlace=interlace))
    with Image.open(tmp_path / "x.png") as opened:
        pillow = np.asarray(opened)
    got = as_array(load_image(tmp_path / "x.png"))
    colour = pixels[..., : 1 if channels < 3 else 3]
    np.testing.assert_allclose(got, colour / 65535, rtol=0, atol=1e-7)
    if channels >= 3:
        assert np.unique(pillow[..., :3]).size <= 256 < np.unique(got).size  # Pillow alone keeps 8 bits


def test_16_bit_rgb_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    pixels = np.random.default_rng(3).integers(0, 65536, (21, 34, 3), dtype=np.uint16)
    for compression in (None, "zlib"):
        for order in "<>":
            tifffile.imwrite(tmp_path / "x.tif", pixels, photometric="rgb", compression=compression, byteorder=order)
            got = as_array(load_image(tmp_path / "x.tif"))
            np.testing.assert_allclose(got, pixels / 65535, rtol=0, atol=1e-7, err_msg=f"{compression} {order}")


def test_palette_images_are_colour(tmp_path):
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    index = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8)
    image = Image.fromarray(index, "L").convert("P")
    image.putpalette(palette.tobytes())
    image.frombytes(index.tobytes())
    for name, options in (
        ("plain", {}),
        ("index", {"transparency": 1}),
        ("bytes", {"transparency": bytes([255, 0, 128, 255])}),
    ):
        image.save(tmp_path / f"{name}.png", **options)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow warns on P -> RGB with byte transparency; smic does not
            got = load_image(tmp_path / f"{name}.png")
        assert got.shape == (1, 3, 2, 4)  # was (1, 1, 2, 4): palettes were turned grey
        np.testing.assert_allclose(as_array(got), palette[index] / 255, rtol=0, atol=1e-7)  # alpha dropped
    grey = Image.fromarray(index * 60, "L").convert("P")
    grey.save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey.png").shape == (1, 3, 2, 4)  # the rule: a palette is colour


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_6_matches_the_upright_copy(tmp_path, fmt):
    rng = np.random.default_rng(6)
    stored = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    stored = np.kron(stored[::8, ::8], np.ones((8, 8, 1), np.uint8))  # smooth, so JPEG copies agree
    suffix = "png" if fmt == "PNG" else "jpg"
    options = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    Image.fromarray(stored).save(tmp_path / f"tagged.{suffix}", fmt, exif=exif_bytes(6), **options)
    Image.fromarray(np.rot90(stored, -1).copy()).save(tmp_path / f"upright.{suffix}", fmt, **options)
    tagged, copy = load_image(tmp_path / f"tagged.{suffix}"), load_image(tmp_path / f"upright.{suffix}")
    assert tagged.shape == copy.shape == (1, 3, 40, 24)  # was (1, 3, 24, 40): the tag was ignored
    assert image_size(tmp_path / f"tagged.{suffix}") == (40, 24)
    np.testing.assert_allclose(as_array(tagged), as_array(copy), rtol=0, atol=0 if fmt == "PNG" else 3 / 255)
    as_stored = load_image(tmp_path / f"tagged.{suffix}", orient=False)
    assert as_stored.shape == (1, 3, 24, 40)
    if fmt == "PNG":
        np.testing.assert_allclose(as_array(as_stored), stored / 255, rtol=0, atol=1e-7)
    # a PIL image is read with its orientation too
    with Image.open(tmp_path / f"tagged.{suffix}") as image:
        assert torch.equal(load_image(image), tagged)


def test_exif_after_the_pixel_data_is_found_without_decoding(tmp_path, monkeypatch):
    stored = np.arange(15, dtype=np.uint8).reshape(3, 5)
    (tmp_path / "x.png").write_bytes(png_bytes(stored, 8, exif=exif_bytes(8), exif_after_pixels=True))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    assert image_size(tmp_path / "x.png") == (5, 3)
    monkeypatch.undo()
    got = as_array(load_image(tmp_path / "x.png"))[..., 0]
    np.testing.assert_allclose(got, upright(stored, 8) / 255, rtol=0, atol=1e-7)


def write_pair(tmp_path: Path, ref_size: tuple[int, int], dist_size: tuple[int, int], **dist_options):
    ref, dist = tmp_path / "ref.png", tmp_path / "dist.png"
    Image.new("RGB", ref_size[::-1], "red").save(ref)
    pixels = np.zeros((*dist_size, 3), np.uint8)
    dist.write_bytes(png_bytes(pixels, 8, **dist_options))
    return ref, dist


def test_size_mismatch_is_found_before_decoding(tmp_path, monkeypatch):
    # dist's header is valid (16x20) and its pixel data are not: the size error must come first
    ref, dist = write_pair(tmp_path, (16, 16), (16, 20), pixel_data=b"\x00garbage, not zlib")
    with pytest.raises(ValueError, match=r"dist: .*dist\.png: not a readable image"):
        load_image(dist, "dist")
    with pytest.raises(ValueError, match=r"^size mismatch: ref .*ref\.png is 16x16, dist .*dist\.png is 20x16"):
        load_pair(ref, dist)
    # and neither file is decoded to find it
    ref, dist = write_pair(tmp_path, (16, 16), (16, 20))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(ValueError, match=r"^size mismatch") as error:
        load_pair(ref, dist)
    assert "\n" not in str(error.value) and "orientation" not in str(error.value)


def test_size_mismatch_made_by_orientation_says_so(tmp_path):
    ref, dist = write_pair(tmp_path, (16, 24), (16, 24), exif=exif_bytes(6))
    with pytest.raises(ValueError, match=r"dist .* is 16x24 .*EXIF orientation of dist.*orient=False") as error:
        load_pair(ref, dist)
    assert "\n" not in str(error.value)
    got_ref, got_dist = load_pair(ref, dist, orient=False)
    assert got_ref.shape == got_dist.shape == (1, 3, 16, 24)


def test_a_100000_by_100000_png_header_fails_fast(tmp_path):
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_bytes(np.zeros((1, 1), np.uint8), 8, size=(100_000, 100_000)))
    assert image_size(huge) == (100_000, 100_000)
    start = time.perf_counter()
    with pytest.raises(ValueError) as error:
        load_image(huge, "dist")
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert message.startswith(f"dist: {huge}: 100000x100000 is 10,000,000,000 pixels, over the limit of")
    assert "max_pixels=" in message and "--max-pixels" in message and "\n" not in message
    Image.new("L", (4, 4)).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match=r"^ref: .*huge\.png: 100000x100000"):
        load_pair(huge, tmp_path / "small.png")


def test_max_pixels_limit_and_its_override(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.new("RGB", (30, 20)).save(path)
    with pytest.raises(ValueError, match=r"30x20 is 600 pixels, over the limit of 599"):
        load_image(path, max_pixels=599)
    assert load_image(path, max_pixels=600).shape == (1, 3, 20, 30)
    with pytest.raises(ValueError, match="over the limit of 599"):
        load_pair(path, path, max_pixels=599)
    monkeypatch.setattr(smic.io, "MAX_PIXELS", 100)  # the module default, read at call time
    with pytest.raises(ValueError, match="over the limit of 100"):
        load_image(path)
    assert load_pair(path, path, max_pixels=10_000)[0].shape == (1, 3, 20, 30)


def test_pillow_bomb_limit_does_not_fire_before_ours(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.new("RGB", (30, 20)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250)  # Pillow would warn past 250 and refuse past 500
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(path).shape == (1, 3, 20, 30)
        threads = [threading.Thread(target=load_pair, args=(path, path)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert Image.MAX_IMAGE_PIXELS == 250  # put back once the last read ends


@pytest.mark.parametrize("raised", [Image.DecompressionBombError, Image.DecompressionBombWarning])
def test_pillow_bomb_errors_name_the_file(tmp_path, monkeypatch, raised):
    path = tmp_path / "x.png"
    Image.new("RGB", (30, 20)).save(path)

    def bomb(self):
        raise raised("Image size (600 pixels) exceeds limit,\ncould be decompression bomb DOS attack.")

    monkeypatch.setattr(ImageFile.ImageFile, "load", bomb)
    with pytest.raises(ValueError, match=rf"^ref: {path}: refused as a possible decompression bomb") as error:
        load_image(path, "ref")
    assert "\n" not in str(error.value) and "max_pixels=" in str(error.value)


def test_mode_i_is_read_as_16_bit_data_or_refused(tmp_path):
    values = np.array([[0, 1, 65535]], np.int32)
    Image.fromarray(values, "I").save(tmp_path / "ok.tif")
    np.testing.assert_allclose(load_image(tmp_path / "ok.tif")[0, 0].double().numpy(), values / 65535, atol=1e-7)
    for bad, shown in (([0, 70000], r"\[0, 70000\]"), ([-3, 5], r"\[-3, 5\]")):
        Image.fromarray(np.array([bad], np.int32), "I").save(tmp_path / "bad.tif")
        with pytest.raises(
            ValueError, match=rf"^image: .*bad\.tif: 32-bit integer image \(mode I\) with values in {shown}"
        ):
            load_image(tmp_path / "bad.tif")


def test_mode_f_is_read_as_it_is_or_refused(tmp_path):
    values = np.array([[0.0, 0.25, 1.0]], np.float32)
    Image.fromarray(values, "F").save(tmp_path / "ok.tif")
    assert torch.equal(load_image(tmp_path / "ok.tif")[0, 0], torch.from_numpy(values))
    for bad, shown in (([0.0, 1.5], r"values in \[0, 1\.5\]"), ([np.nan, 0.5], "NaN or inf values")):
        Image.fromarray(np.array([bad], np.float32), "F").save(tmp_path / "bad.tif")
        with pytest.raises(ValueError, match=rf"^image: .*bad\.tif: 32-bit float image \(mode F\) with {shown}"):
            load_image(tmp_path / "bad.tif")


def test_mode_1_is_grey_0_or_1(tmp_path):
    Image.fromarray(np.array([[0, 255, 0]], np.uint8)).convert("1").save(tmp_path / "x.png")
    assert load_image(tmp_path / "x.png").flatten().tolist() == [0.0, 1.0, 0.0]


def test_unsupported_modes_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^ref: PIL image: mode LAB is not supported"):
        load_image(Image.new("LAB", (2, 2)), "ref")


def test_a_16_bit_colour_pil_image_is_refused_not_truncated(tmp_path):
    pixels = np.full((2, 3, 3), 258, np.uint16)
    (tmp_path / "x.png").write_bytes(png_bytes(pixels, 16))
    with Image.open(tmp_path / "x.png") as image, pytest.raises(ValueError, match="pass the file's path"):
        load_image(image)


def test_numpy_uint16_and_bool_arrays():
    values = np.array([[0, 1, 65535]], np.uint16)
    np.testing.assert_allclose(load_image(values)[0, 0].double().numpy(), values / 65535, atol=1e-7)
    assert load_image(np.array([[True, False]])).flatten().tolist() == [1.0, 0.0]

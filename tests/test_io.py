"""Every bad input gets a clear error that names the input."""

import numpy as np
import pytest
import torch
from PIL import Image

import smic
from smic.io import check_pair, load_image


def pair(shape=(1, 3, 16, 16)):
    return torch.rand(shape), torch.rand(shape)


def test_size_mismatch():
    with pytest.raises(ValueError, match="size mismatch: ref is \\(1, 3, 16, 16\\), dist is \\(1, 3, 16, 20\\)"):
        check_pair(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 20))


def test_grey_and_colour():
    with pytest.raises(ValueError, match="dist is greyscale"):
        check_pair(torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16))


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_out_of_range(value):
    ref, dist = pair()
    dist[0, 0, 0, 0] = value
    with pytest.raises(ValueError, match="dist: values must lie in \\[0, 1\\]"):
        check_pair(ref, dist)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_and_inf(value):
    ref, dist = pair()
    ref[0, 1, 2, 3] = value
    with pytest.raises(ValueError, match="ref: contains NaN or inf"):
        check_pair(ref, dist)


def test_too_small():
    with pytest.raises(ValueError, match="too small: this metric needs at least 11x11"):
        check_pair(*pair((1, 3, 8, 32)), min_size=11)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="ref: no such file"):
        load_image(tmp_path / "absent.png", "ref")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"^dist: .*broken\.png: not a readable image \(Pillow cannot identify"):
        load_image(broken, "dist")


def test_sources_agree(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "x.png")
    expected = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    for source in (tmp_path / "x.png", str(tmp_path / "x.png"), Image.fromarray(array), array, array / 255.0):
        assert torch.allclose(load_image(source), expected)


def test_grey_file_stays_grey_unless_asked(tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").shape == (1, 1, 4, 4)
    assert load_image(tmp_path / "g.png", rgb=True).shape == (1, 3, 4, 4)


def test_metric_call_checks_inputs():
    ref, dist = pair()
    dist[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="dist: contains NaN"):
        smic.create_metric("psnr")(ref, dist)


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        smic.create_metric("nope")


def test_empty_image():
    with pytest.raises(ValueError, match="ref: empty image"):
        check_pair(torch.rand(1, 3, 0, 5), torch.rand(1, 3, 0, 5))


def test_metrics_take_paths_pil_images_and_arrays(tmp_path):
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    dist = np.clip(ref.astype(int) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    Image.fromarray(ref).save(tmp_path / "ref.png")
    Image.fromarray(dist).save(tmp_path / "dist.png")
    metric = smic.create_metric("psnr")
    expected = metric(
        torch.from_numpy(ref).permute(2, 0, 1)[None] / 255.0, torch.from_numpy(dist).permute(2, 0, 1)[None] / 255.0
    )
    for pair in (
        (tmp_path / "ref.png", str(tmp_path / "dist.png")),
        (Image.fromarray(ref), Image.fromarray(dist)),
        (ref, dist),
        (Image.fromarray(ref).convert("L"), Image.fromarray(dist).convert("L")),
    ):
        value = metric(*pair)
        if pair[0].__class__.__name__ == "Image" and pair[0].mode == "L":
            assert value.shape == (1,)  # grey repeated to RGB
        else:
            assert torch.equal(value, expected)
    scores, maps = metric.maps(tmp_path / "ref.png", tmp_path / "dist.png")
    assert torch.equal(scores, expected) and maps[0].shape == (1, 1, 20, 24)

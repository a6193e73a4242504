"""SSIM: the MATLAB convention against the official TID2013 values, the RGB convention
against pytorch-msssim 1.0.0 (values recorded in reference_golden_img1.json)."""

import pytest
import torch

import smic
from smic.metrics.grey import matlab_rgb2gray
from smic.metrics.ssim import gaussian_window, ssim


def test_matlab_convention_reproduces_official_tid2013(tid_pairs, tid_official):
    metric = smic.create_metric("ssim", convention="matlab")
    for name, (ref, dist) in tid_pairs.items():
        # official values are printed to 4 decimals
        assert metric(ref, dist).item() == pytest.approx(tid_official["official"]["ssim"][name], abs=1e-4)


@pytest.mark.parametrize(
    "win_size,key", [(11, "SSIM_pytorch_msssim_win11_dr1_raw"), (7, "SSIM_pytorch_msssim_win7_dr1_raw")]
)
def test_rgb_convention_matches_pytorch_msssim(img1_pair, img1_golden, win_size, key):
    value = smic.create_metric("ssim", win_size=win_size)(*img1_pair).item()
    assert value == pytest.approx(img1_golden["scores_official_base"][key], abs=1e-5)


def test_window_and_grey_conversion_by_hand():
    window = gaussian_window(3, 1.0)
    expected = torch.tensor([0.6065306597, 1.0, 0.6065306597], dtype=torch.float64)
    assert torch.allclose(window, expected / expected.sum())
    # rgb2gray of (200, 100, 50): 0.298936*200 + 0.587043*100 + 0.114021*50 = 124.1915 -> 124
    pixel = torch.tensor([200.0, 100.0, 50.0]).view(1, 3, 1, 1) / 255
    assert matlab_rgb2gray(pixel).item() == 124.0


def test_identical_images_and_map_shape():
    image = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    score, maps = ssim(image, image, return_maps=True)
    assert torch.allclose(score, torch.ones(2), atol=1e-6)
    assert maps[0].shape == (2, 1, 10, 14)


def test_too_small_for_the_window():
    image = torch.rand(1, 3, 10, 10)
    with pytest.raises(ValueError, match="ref: image of 10x10 is too small"):
        smic.create_metric("ssim")(image, image)

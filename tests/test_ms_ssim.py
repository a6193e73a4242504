"""MS-SSIM: the MATLAB convention (msssim.m) against the official TID2013 values and pyiqa's
MATLAB run on YCbCr input, the RGB convention against pytorch-msssim 1.0.0."""

import pytest
import torch

import smic
from smic.metrics.ms_ssim import WEIGHTS, downsample, ms_ssim, multiscale
from smic.metrics.ssim import gaussian_window
from tests.conftest import noisy_pair

# The official values of official_values.json are printed to 4 decimals: allow 1e-4 plus half a digit.
TOLERANCE = 1e-4 + 5e-5
# pyiqa's ResultsCalibra/ms_ssim_org_result.txt: msssim.m on the Y channel of YCbCr (MATLAB rgb2ycbcr)
PYIQA_MATLAB_YCBCR = {"I03": 0.6981, "I04": 0.9998, "I06": 0.9999, "I08": 0.9570, "I19": 0.8547}
# pytorch_msssim.ms_ssim(ref, dist, data_range=1.0), version 1.0.0, float32
PYTORCH_MSSSIM = {
    "I03": 0.6701908111572266,
    "I04": 0.9541817307472229,
    "I06": 0.9911127090454102,
    "I08": 0.9523923993110657,
    "I19": 0.7984808087348938,
}


@pytest.mark.parametrize("name", ["I03", "I04", "I06", "I08", "I19"])
def test_matlab_weighted_sum_against_official_tid2013(tid_pairs, tid_official, name):
    # pyiqa's run of msssim.m on rgb2gray input combined the scales with its 'wtd_sum' method:
    # the product form gives 0.6700 and 0.8418 for I03 and I19 against 0.6733 and 0.8462
    ref, dist = tid_pairs[name]
    value = smic.create_metric("ms_ssim", method="wtd_sum")(ref, dist).item()
    assert value == pytest.approx(tid_official["official"]["ms_ssim"][name], abs=TOLERANCE)


def test_product_and_weighted_sum_differ_where_official_values_tell_them_apart(tid_pairs, tid_official):
    ref, dist = tid_pairs["I19"]
    product = smic.create_metric("ms_ssim")(ref, dist).item()
    assert product == pytest.approx(0.8418, abs=TOLERANCE)  # msssim.m 'product' on rgb2gray, pyiqa's port agrees
    assert abs(product - tid_official["official"]["ms_ssim"]["I19"]) > 4e-3


def test_msssim_m_pipeline_reproduces_pyiqa_matlab_run_on_ycbcr(tid_pairs):
    window = gaussian_window(11, 1.5)
    coefficients = torch.tensor((65.481, 128.553, 24.966), dtype=torch.float64).view(1, 3, 1, 1)
    for name, (ref, dist) in tid_pairs.items():
        y_ref, y_dist = (
            (torch.round(img.double() * 255) * coefficients / 255).sum(1, keepdim=True) + 16 for img in (ref, dist)
        )
        value, _ = multiscale(y_ref, y_dist, window, 255.0, (0.01, 0.03), WEIGHTS, "matlab")
        assert value.item() == pytest.approx(PYIQA_MATLAB_YCBCR[name], abs=TOLERANCE)


def test_rgb_convention_matches_pytorch_msssim(tid_pairs):
    metric = smic.create_metric("ms_ssim", convention="rgb")
    for name, (ref, dist) in tid_pairs.items():
        assert metric(ref, dist).item() == pytest.approx(PYTORCH_MSSSIM[name], abs=1e-6)


def test_downsampling_by_hand():
    x = torch.arange(15, dtype=torch.float64).view(1, 1, 3, 5)
    # msssim.m: 2x2 block means, the odd last row/column averaged with itself (symmetric padding)
    expected = torch.tensor([[3.0, 5.0, 6.5], [10.5, 12.5, 14.0]], dtype=torch.float64)
    assert torch.equal(downsample(x, "matlab")[0, 0], expected)
    # pytorch-msssim: avg_pool2d(2, padding=(1, 1)), zeros counted: output (2, 3)
    assert downsample(x, "rgb").shape == (1, 1, 2, 3)
    assert downsample(x, "rgb")[0, 0, 0, 1].item() == pytest.approx((0 + 0 + 1 + 2) / 4)


@pytest.mark.parametrize("convention", ["matlab", "rgb"])
def test_map_grids_per_scale(convention):
    # (scores, batches, identity and the map count are the shared contract: test_contract.py)
    ref, dist = noisy_pair(3, (1, 3, 180, 200), 0.05)
    _, maps = smic.create_metric("ms_ssim", convention=convention).maps(ref, dist)
    side = (lambda n: (n + 1) // 2) if convention == "matlab" else (lambda n: n // 2 + 1 if n % 2 else n // 2)
    h, w = 180, 200
    for level, local in enumerate(maps):
        assert local.shape == (1, 1, h - 10, w - 10), level
        h, w = side(h), side(w)


@pytest.mark.parametrize("convention,min_size", [("matlab", 176), ("rgb", 161)])
def test_too_small_for_five_scales(convention, min_size):
    metric = smic.create_metric("ms_ssim", convention=convention)
    assert metric.min_size == min_size
    image = torch.rand(1, 3, min_size - 1, 300)
    with pytest.raises(ValueError, match=f"ref: image of {min_size - 1}x300 is too small"):
        metric(image, image)
    with pytest.raises(ValueError, match="MS-SSIM at 5 scales"):
        ms_ssim(image, image, convention=convention)
    image = torch.rand(1, 3, min_size, 300)
    assert metric(image, image).item() == pytest.approx(1.0, abs=1e-6)


def test_registered_metadata():
    metric = smic.create_metric("ms_ssim")
    assert metric.name == "ms_ssim" and metric.lower_better is False and metric.score_range == (0.0, 1.0)
    with pytest.raises(ValueError, match="convention"):
        smic.create_metric("ms_ssim", convention="yuv")
    with pytest.raises(ValueError, match="method must be 'product' or 'wtd_sum'"):
        smic.create_metric("ms_ssim", method="sum")

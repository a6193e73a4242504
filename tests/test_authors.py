"""variant="authors" equals the authors' code (KANGX99/SMIC @9f05235, run on CPU with
torchvision's VGG16 weights): reference_golden_img1.json, recorded by running it out of tree."""

import hashlib

import pytest

import smic
from smic.variants.authors.preprocess import prepare, prepared_size

SCORES = {
    "psnr": "PSNR_SMIC",
    "ssim": "SSIM_SMIC",
    "lpips": "LPIPS_SMIC",
    "dists": "DISTS_SMIC",
    "deepwsd": "DeepWSD_SMIC",
}


def test_prepared_size_rule():
    assert prepared_size(384, 512) == (256, 341)
    assert prepared_size(512, 384) == (341, 256)
    assert prepared_size(100, 300) == (100, 300)
    assert prepared_size(200, 200) == (128, 128)  # max(int(200/48)*32, 128)


def test_preparation_is_the_authors_pixel_for_pixel(img1_pair, img1_golden):
    prepared = prepare(img1_pair[0])
    assert tuple(prepared.shape) == tuple(img1_golden["prepared"]["smic_prepare_image_shape"])
    digest = hashlib.sha256(prepared.numpy().tobytes()).hexdigest()
    assert digest == img1_golden["prepared"]["smic_prepare_image_ref_sha256_f32"]


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(SCORES))
def test_scores_equal_the_authors_code(img1_pair, img1_golden, name):
    value = smic.create_metric(name, attention="smic", variant="authors")(*img1_pair).item()
    assert value == pytest.approx(img1_golden["scores_reference_smic"][SCORES[name]], rel=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize(
    "name,expected", [("psnr", 100.0), ("ssim", 0.0), ("lpips", 0.0), ("dists", 0.4321258068084717), ("deepwsd", 0.0)]
)
def test_identical_images(img1_pair, name, expected):
    # the authors' code on (ref, ref): reference_golden_img1.json "identity_check_Img1_ref_vs_ref"
    ref = img1_pair[0]
    metric = smic.create_metric(name, attention="smic", variant="authors")
    assert metric(ref, ref).item() == pytest.approx(expected, abs=1e-6)


def test_reference_variant_metadata():
    metric = smic.create_metric("ssim", attention="smic", variant="authors")
    assert metric.lower_better  # a weighted mean of 1 - SSIM
    with pytest.raises(ValueError, match="attention must be one of smic, mic or none"):
        smic.create_metric("psnr", attention="saliency")

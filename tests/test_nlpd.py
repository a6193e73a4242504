"""NLPD: the official NLP_dist.m (rgb2gray input) against the official TID2013 values, and the
metric's contract (identity, batches, sizes, maps, attention pooling)."""

import pytest
import torch

import smic
from smic.metrics.nlpd import LEVELS, laplacian_pyramid, min_size_for, nlpd
from tests.conftest import constant_pool, noisy_pair, tid_batch, top_half_distorted, top_half_pool

# The official values are printed with 15 decimals; NLP_dist.m reproduced in float64 agrees to
# 4e-16 on all five pairs. 1e-12 leaves room for other BLAS / convolution kernels' summation order.
TOLERANCE_FLOAT64 = 1e-12
# float32 images give float32 scores: the float64 result rounded to float32 (relative 6e-8).
TOLERANCE_FLOAT32 = 1e-7


@pytest.mark.parametrize("name", ["I03", "I04", "I06", "I08", "I19"])
def test_official_tid2013_values(tid_pairs, tid_official, name):
    ref, dist = tid_pairs[name]
    official = tid_official["official"]["nlpd"][name]
    assert nlpd(ref.double(), dist.double()).item() == pytest.approx(official, abs=TOLERANCE_FLOAT64)
    assert smic.create_metric("nlpd")(ref, dist).item() == pytest.approx(official, abs=TOLERANCE_FLOAT32)


def test_batch_of_the_tid_pairs_matches_the_singles(tid_pairs, tid_official):
    names = sorted(tid_pairs)
    ref, dist, expected = tid_batch(tid_pairs, tid_official, "nlpd", names)
    assert torch.allclose(nlpd(ref, dist), expected, atol=TOLERANCE_FLOAT64, rtol=0)


def random_pair(seed: int, shape=(3, 3, 67, 90)):
    return noisy_pair(seed, shape, 0.05)


def test_identical_images_give_zero_and_batch_is_consistent():
    ref, dist = random_pair(1)
    metric = smic.create_metric("nlpd")
    assert torch.equal(metric(ref, ref), torch.zeros(3))
    batch = metric(ref, dist)
    singles = torch.cat([metric(ref[i : i + 1], dist[i : i + 1]) for i in range(3)])
    assert torch.allclose(batch, singles, atol=1e-7, rtol=0)
    assert torch.all(batch > 0)
    # lower is better: more noise, larger distance
    noisier = (ref + 3 * (dist - ref)).clamp(0, 1)
    assert torch.all(metric(ref, noisier) > batch)


def test_maps_one_per_level_with_ceil_halving():
    ref, dist = random_pair(2)
    metric = smic.create_metric("nlpd")
    score, maps = metric.maps(ref, dist)
    assert torch.allclose(score, metric(ref, dist))
    assert len(maps) == len(metric.map_stages) == LEVELS
    h, w = 67, 90
    for level, local in enumerate(maps):
        assert local.shape == (3, 1, h, w), level
        assert torch.all(local >= 0)
        h, w = (h + 1) // 2, (w + 1) // 2
    # the score is the mean over levels of the root of each map's mean
    rebuilt = torch.stack([local.double().mean(dim=(1, 2, 3)).sqrt() for local in maps]).mean(dim=0)
    assert torch.allclose(rebuilt.float(), score, atol=1e-7)


def test_pyramid_reconstructs_the_image():
    # a Laplacian pyramid is exactly invertible: expanding and adding the bands back gives the image
    from smic.metrics.nlpd import _expand, pyramid_kernel

    image = torch.rand(2, 1, 45, 70, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    bands = laplacian_pyramid(image)
    kernel = pyramid_kernel()
    current = bands[-1]
    for band in reversed(bands[:-1]):
        current = band + _expand(current, tuple(band.shape[-2:]), kernel)
    assert torch.allclose(current, image, atol=1e-12)


def test_grey_input_and_low_pass_filter_by_hand():
    # a constant image has no band-pass energy: all bands but the residual are 0, borders included
    flat = torch.full((1, 1, 40, 40), 0.5, dtype=torch.float64)
    bands = laplacian_pyramid(flat)
    for band in bands[:-1]:
        assert torch.allclose(band, torch.zeros_like(band), atol=1e-12)
    assert torch.allclose(bands[-1], torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64))
    # a 1-channel input is the grey image itself; 3 equal channels give rgb2gray(v) = v (8-bit levels)
    levels = torch.randint(0, 256, (1, 1, 40, 40), generator=torch.Generator().manual_seed(7)).double() / 255
    other = torch.randint(0, 256, (1, 1, 40, 40), generator=torch.Generator().manual_seed(8)).double() / 255
    grey = nlpd(levels, other).item()
    assert grey > 0
    assert nlpd(levels.expand(1, 3, 40, 40), other.expand(1, 3, 40, 40)).item() == pytest.approx(grey, abs=1e-12)


def test_too_small_for_six_levels():
    metric = smic.create_metric("nlpd")
    assert metric.min_size == min_size_for() == 17
    image = torch.rand(1, 3, 16, 40)
    with pytest.raises(ValueError, match="ref: image of 16x40 is too small"):
        metric(image, image)
    with pytest.raises(ValueError, match="6-level pyramid needs images of at least 17 px"):
        nlpd(image, image)
    image = torch.rand(1, 3, 17, 17)
    score, maps = metric.maps(image, image.flip(-1))
    assert torch.isfinite(score).all() and maps[-1].shape == (1, 1, 1, 1)


def test_constant_attention_gives_the_plain_score():
    ref, dist = random_pair(4, (2, 3, 64, 80))
    plain = nlpd(ref, dist)
    assert torch.allclose(nlpd(ref, dist, pool=constant_pool()), plain, rtol=1e-6)


def test_attention_weights_each_level():
    ref, dist = top_half_distorted(5, 64, 80)
    pool = top_half_pool()
    # attention on the distorted top half raises the distance
    assert torch.all(nlpd(ref, dist, pool=pool) > nlpd(ref, dist))


def test_registered_metadata():
    metric = smic.create_metric("nlpd")
    assert metric.name == "nlpd" and metric.lower_better is True and metric.score_range == (0.0, float("inf"))
    with pytest.raises(ValueError, match="beta"):
        smic.create_metric("nlpd", beta=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_matches_cpu(tid_pairs):
    ref, dist = tid_pairs["I03"]
    cpu = nlpd(ref.double(), dist.double())
    gpu = nlpd(ref.double().cuda(), dist.double().cuda())
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-12)

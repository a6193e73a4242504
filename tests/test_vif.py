"""VIF: the official wavelet-domain vifvec.m (rgb2gray input) against the official TID2013
values, and what is VIF's own (float64 identity, sizes, the numerator/denominator maps); the
contract every metric keeps (batches, identity, maps, attention pooling) is test_contract.py."""

import pytest
import torch

import smic
from smic.metrics.vif import LEVELS, MIN_SIZE, vif
from tests.conftest import noisy_pair, tid_batch

# The official values are printed to 4 decimals: allow 1e-4 plus half a printed digit.
# (vifvec.m reproduced in float64 agrees to 3.8e-5 on all five pairs.)
TOLERANCE = 1e-4 + 5e-5
NAMES = ["I03", "I04", "I06", "I08", "I19"]


@pytest.mark.parametrize("name", NAMES)
def test_official_tid2013_values(tid_pairs, tid_official, name):
    ref, dist = tid_pairs[name]
    official = tid_official["official"]["vif"][name]
    assert vif(ref.double(), dist.double()).item() == pytest.approx(official, abs=TOLERANCE)
    assert smic.create_metric("vif")(ref, dist).item() == pytest.approx(official, abs=TOLERANCE)


def test_batch_of_two_tid_pairs_matches_the_official_values(tid_pairs, tid_official):
    names = ["I03", "I19"]  # the singles are covered above; a batch of two keeps the test short
    ref, dist, expected = tid_batch(tid_pairs, tid_official, "vif", names)
    assert torch.allclose(vif(ref, dist), expected, atol=TOLERANCE, rtol=0)


def random_pair(seed: int, shape=(3, 3, 80, 100)):
    return noisy_pair(seed, shape, 0.1)


def test_identity_is_one_in_float64_and_more_noise_less_information():
    # (float32 identity, batches and the range are the shared contract: test_contract.py)
    ref, dist = random_pair(1)
    assert torch.allclose(vif(ref.double(), ref.double()), torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)
    noisier = (ref + 3 * (dist - ref)).clamp(0, 1)
    assert torch.all(vif(ref, noisier) < vif(ref, dist))


def test_contrast_enhancement_exceeds_one():
    ref, _ = random_pair(2, (1, 3, 80, 100))
    ref = 0.25 + 0.5 * ref  # room to stretch
    enhanced = (0.5 + 1.5 * (ref - 0.5)).clamp(0, 1)
    assert vif(ref.double(), enhanced.double()).item() > 1


def test_maps_numerators_then_denominators():
    ref, dist = random_pair(3)
    metric = smic.create_metric("vif")
    score, maps = metric.maps(ref.double(), dist.double())
    assert len(maps) == len(metric.map_stages) == 2 * LEVELS
    # 80x100: levels 80x100, 40x50, 20x25, 10x13; blocks of 3, minus 3, 2, 1, 1 per border
    shapes = [(20, 27), (9, 12), (4, 6), (1, 2)]
    for level, shape in enumerate(shapes):
        assert maps[level].shape == maps[LEVELS + level].shape == (3, 1, *shape)
    numerator = sum(m.sum(dim=(1, 2, 3)) for m in maps[:LEVELS])
    denominator = sum(m.sum(dim=(1, 2, 3)) for m in maps[LEVELS:])
    assert torch.allclose(numerator / denominator, score, atol=1e-12)
    assert all(torch.all(m >= 0) for m in maps)


def test_too_small_for_four_levels():
    metric = smic.create_metric("vif")
    assert metric.min_size == MIN_SIZE == 72
    image = torch.rand(1, 3, 71, 100)
    with pytest.raises(ValueError, match="ref: image of 71x100 is too small"):
        metric(image, image)
    with pytest.raises(ValueError, match="4-level steerable pyramid needs images of at least 72 px"):
        vif(image, image)
    ref, dist = random_pair(4, (1, 3, 72, 72))
    score, maps = metric.maps(ref, dist)
    assert torch.isfinite(score).all() and maps[LEVELS - 1].shape == (1, 1, 1, 1)


def test_registered_metadata():
    metric = smic.create_metric("vif")
    assert metric.name == "vif" and metric.lower_better is False
    assert metric.score_range == (0.0, float("inf"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_matches_cpu(tid_pairs):
    ref, dist = tid_pairs["I03"]
    cpu = vif(ref.double(), dist.double())
    gpu = vif(ref.double().cuda(), dist.double().cuda())
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-10)

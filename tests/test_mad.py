"""MAD: the calibrated convention against the official TID2013 values, the MATLAB convention's
sanity, and the metric's contract (identity, batches, sizes, maps, attention pooling)."""

import pytest
import torch
import torch.nn.functional as F

import smic
from smic.metrics.mad import MIN_SIZE, block_moments, mad
from tests.conftest import constant_pool

NAMES = ["I03", "I04", "I06", "I08", "I19"]


def tolerance(official: float) -> float:
    # printed to 4 decimals: 1e-4 relative plus half a printed digit (reproduced within 7.2e-7 relative)
    return 1e-4 * abs(official) + 5e-5


@pytest.mark.parametrize("name", NAMES)
def test_official_tid2013_values(tid_pairs, tid_official, name):
    ref, dist = tid_pairs[name]
    official = tid_official["official"]["mad"][name]
    assert mad(ref.double(), dist.double()).item() == pytest.approx(official, abs=tolerance(official))
    if name == "I03":  # the metric object (float32 input) once; the functional form covers all five
        assert smic.create_metric("mad")(ref, dist).item() == pytest.approx(official, abs=tolerance(official))


def test_matlab_convention_on_grey_input(tid_pairs):
    # MAD_index.m sees rgb2gray: the chroma-only distortion of I04 is invisible there
    ref, dist = tid_pairs["I04"]
    assert mad(ref.double(), dist.double(), convention="matlab").item() == 0.0
    ref, dist = tid_pairs["I08"]
    assert mad(ref.double(), dist.double(), convention="matlab").item() == pytest.approx(88.0733, abs=1e-3)


def random_pair(seed: int, shape=(3, 3, 48, 56)):
    """A smooth reference (upsampled coarse noise: little masking, so the noise is detected) and
    the reference with some white noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(*shape[:2], shape[2] // 8, shape[3] // 8, generator=generator)
    ref = 0.2 + 0.6 * F.interpolate(coarse, size=shape[2:], mode="bilinear", align_corners=False)
    dist = (ref + 0.05 * torch.randn(shape, generator=generator)).clamp(0, 1)
    return ref.double(), dist.double()


@pytest.mark.parametrize("convention", ["calibrated", "matlab"])
def test_identical_images_give_zero_and_batch_is_consistent(convention):
    ref, dist = random_pair(1, (3, 3, 64, 80))
    assert torch.equal(mad(ref, ref, convention), torch.zeros(3, dtype=torch.float64))
    batch = mad(ref, dist, convention)
    singles = torch.cat([mad(ref[i : i + 1], dist[i : i + 1], convention) for i in range(3)])
    assert torch.allclose(batch, singles, rtol=1e-12, atol=0)
    assert torch.all(batch > 0)
    noisier = (ref + 3 * (dist - ref)).clamp(0, 1)
    assert torch.all(mad(ref, noisier, convention) > batch)


def test_too_small():
    metric = smic.create_metric("mad")
    assert metric.min_size == MIN_SIZE == 34
    image = torch.rand(1, 3, 33, 40)
    with pytest.raises(ValueError, match="ref: image of 33x40 is too small"):
        metric(image, image)
    with pytest.raises(ValueError, match="at least 34 px per side"):
        mad(image, image)
    ref, dist = random_pair(2, (1, 3, 34, 34))
    for convention in ("calibrated", "matlab"):
        assert torch.isfinite(mad(ref, dist, convention)).all()


def test_maps_and_their_grids():
    ref, dist = random_pair(3, (2, 3, 48, 56))
    score, maps = smic.create_metric("mad").maps(ref, dist)
    assert [m.shape for m in maps] == [(2, 3, 9, 11)] * 2  # blocks of 16 at a stride of 4
    _, maps = mad(ref, dist, "matlab", return_maps=True)
    assert [m.shape for m in maps] == [(2, 1, 15, 23)] * 2  # rows and columns 16 .. side - 18
    grey = ref[:, :1]  # one channel: the maps are plain spatial grids and the RMS gives the score
    score, (detect, appear) = mad(grey, dist[:, :1], return_maps=True)
    d, a = detect.pow(2).mean(dim=(1, 2, 3)).sqrt(), appear.pow(2).mean(dim=(1, 2, 3)).sqrt()
    alpha = 1 / (1 + 0.4671 * d.pow(0.1296))
    assert torch.allclose(d.pow(alpha) * a.pow(1 - alpha), score, rtol=1e-3)


@pytest.mark.parametrize("convention", ["calibrated", "matlab"])
def test_constant_attention_gives_the_plain_score(convention):
    ref, dist = random_pair(5, (2, 3, 48, 64))
    plain = mad(ref, dist, convention)
    pooled = mad(ref, dist, convention, pool=constant_pool())
    assert torch.allclose(pooled, plain, rtol=1e-10, atol=0)


def test_registered_metadata():
    metric = smic.create_metric("mad")
    assert metric.name == "mad" and metric.lower_better is True
    assert metric.score_range == (0.0, float("inf"))
    assert metric.convention == "calibrated"
    with pytest.raises(ValueError, match="unknown MAD convention"):
        smic.create_metric("mad", convention="rgb")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_matches_cpu(tid_pairs):
    ref, dist = tid_pairs["I03"]
    cpu = mad(ref.double(), dist.double())
    gpu = mad(ref.double().cuda(), dist.double().cuda())
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-9)


@pytest.mark.parametrize("size", [8, 16])
def test_block_moments_equal_the_two_pass_formula(size):
    # against the plain computation on the written-out blocks; an offset of 1000 tests stability,
    # a flat corner that flat blocks give exact zeros
    x = 1000 + torch.rand(2, 3, 45, 62, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[..., :20, :24] = 7.0
    mean, m2, m3, m4 = block_moments(x, size)
    rows, cols = (45 - size) // 4 + 1, (62 - size) // 4 + 1
    blocks = torch.nn.functional.unfold(x, size, stride=4).view(2, 3, size * size, rows, cols)
    centred = blocks - blocks.mean(dim=2, keepdim=True)
    assert mean.shape == (2, 3, rows, cols)
    assert torch.allclose(mean, blocks.mean(dim=2), rtol=1e-14, atol=0)
    for order, ours in ((2, m2), (3, m3), (4, m4)):
        direct = centred.pow(order).sum(dim=2)
        assert torch.allclose(ours, direct, rtol=1e-9, atol=1e-9 * float(direct.abs().max())), order
    flat = slice(0, (20 - size) // 4 + 1), slice(0, (24 - size) // 4 + 1)
    assert float(m2[..., flat[0], flat[1]].abs().max()) == 0.0

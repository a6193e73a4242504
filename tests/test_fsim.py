"""FSIM / FSIMc: FeatureSIM.m against the official TID2013 values, and the metric's conventions."""

import math

import pytest
import torch

import smic
from smic.metrics.fsim import (
    _average_downsample,
    downsample_factor,
    fsim,
    log_gabor_filters,
)

# official_values.json prints 4 significant digits: allow 1e-4 plus half a digit of the 4th decimal
TOLERANCE = 1e-4 + 5e-5


@pytest.mark.parametrize("name", ["I03", "I04", "I06", "I08", "I19"])
def test_fsimc_matches_official_tid2013(tid_pairs, tid_official, name):
    ref, dist = tid_pairs[name]
    value = smic.create_metric("fsim")(ref, dist).item()
    assert value == pytest.approx(tid_official["official"]["fsim"][name], abs=TOLERANCE)


def test_official_values_are_fsimc_not_fsim(tid_pairs, tid_official):
    # the grey-level FSIM misses the official values on the chromatically distorted pairs
    ref, dist = tid_pairs["I04"]
    grey = fsim(ref, dist, chromatic=False).item()
    assert abs(grey - tid_official["official"]["fsim"]["I04"]) > 1e-2


def test_downsampling_factor_and_filter():
    assert downsample_factor(384, 512) == 2  # round(1.5) = 2 in MATLAB
    assert downsample_factor(383, 512) == 1
    assert downsample_factor(100, 100) == 1
    assert downsample_factor(640, 900) == 3
    x = torch.arange(15, dtype=torch.float64).view(1, 1, 3, 5)
    # conv2(x, ones(2)/4, 'same'): each sample with its right and lower neighbours, zeros beyond
    expected = torch.tensor(
        [[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 9) / 4], [(10 + 11) / 4, (12 + 13) / 4, 14 / 4]],
        dtype=torch.float64,
    )
    assert torch.allclose(_average_downsample(x, 2)[0, 0], expected)


def test_filters_vanish_at_zero_frequency():
    filters = log_gabor_filters(32, 40)
    assert filters.shape == (4, 4, 32, 40)
    assert torch.all(filters[:, :, 0, 0] == 0)
    # the smallest scale peaks near the centre frequency 1/6 along the first orientation (0 rad)
    row = filters[0, 0, 0, :20]
    assert math.isclose(row.argmax().item() / 40, 1 / 6, abs_tol=1 / 40)


def test_map_on_downsampled_grid(tid_pairs):
    ref, dist = tid_pairs["I08"]
    score, maps = smic.create_metric("fsim").maps(ref, dist)
    assert maps[0].shape == (1, 1, 192, 256)
    assert 0 < score.item() < 1


def test_too_small():
    metric = smic.create_metric("fsim")
    image = torch.rand(1, 3, metric.min_size - 1, 40)
    with pytest.raises(ValueError, match="too small"):
        metric(image, image)
    with pytest.raises(ValueError, match="FSIM needs images"):
        fsim(image, image)
    image = torch.rand(1, 3, metric.min_size, 40)
    assert metric(image, image).item() == pytest.approx(1.0, abs=1e-6)


def test_registered_metadata():
    metric = smic.create_metric("fsim")
    assert metric.name == "fsim" and metric.lower_better is False and metric.score_range == (0.0, 1.0)
    assert metric.chromatic is True

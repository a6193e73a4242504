"""PSNR against the official values (TID2013 calibration pairs: data range 255 on 8-bit RGB)."""

import pytest
import torch

import smic
from smic.metrics.psnr import psnr
from tests.conftest import noisy_pair


def test_tid2013_official_values(tid_pairs, tid_official):
    metric = smic.create_metric("psnr")
    for name, (ref, dist) in tid_pairs.items():
        assert metric(ref, dist).item() == pytest.approx(tid_official["official"]["psnr"][name], abs=0.005)


def test_img1_full_precision(img1_pair, img1_golden):
    # 10 log10(1 / MSE), MSE in float64 over the raw 512x384 RGB values (reference_golden_img1.json)
    value = psnr(*img1_pair).item()
    assert value == pytest.approx(img1_golden["scores_official_base"]["PSNR_rgb_dr1_raw"], rel=1e-6)


def test_hand_computed_value_and_map():
    ref = torch.zeros(1, 3, 4, 4)
    dist = torch.full((1, 3, 4, 4), 0.1)
    score, maps = psnr(ref, dist, return_maps=True)
    assert score.item() == pytest.approx(20.0, abs=1e-5)  # 10 log10(1 / 0.01)
    assert maps[0].shape == (1, 1, 4, 4)
    assert torch.allclose(maps[0], torch.full((1, 1, 4, 4), 0.01))


def test_identical_is_infinite_and_batches_match():
    ref, dist = noisy_pair(0, (3, 3, 16, 16), 0.05)
    batched = psnr(ref, dist)
    assert torch.equal(batched, torch.cat([psnr(ref[i : i + 1], dist[i : i + 1]) for i in range(3)]))
    assert torch.isinf(psnr(ref, ref)).all()

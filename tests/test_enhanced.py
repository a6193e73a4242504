"""variant="paper": the official metrics' local maps pooled with attention (Eq. 7/8), checked
against plain re-computations and against the base metrics under constant attention."""

import numpy as np
import pytest
import torch

import smic
from smic.attention import Attention, resize_linear


def pair(seed: int = 0, size=(64, 80)):
    generator = torch.Generator().manual_seed(seed)
    ref = torch.rand(2, 3, *size, generator=generator)
    dist = (ref + 0.1 * torch.randn(ref.shape, generator=generator)).clamp(0, 1)
    return ref, dist


def constant_attention(metric, value: float = 0.37):
    def attention(ref, dist):
        n = ref.shape[0]
        return Attention({3: torch.full((n, 2, 2), value, dtype=torch.float64),
                          4: torch.full((n, 1, 1), value, dtype=torch.float64)})
    metric.attention = attention
    return metric


@pytest.mark.weights
@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_constant_attention_gives_the_base_metric(name):
    ref, dist = pair()
    enhanced = constant_attention(smic.create_metric(name, attention="smic", variant="paper"))
    assert torch.allclose(enhanced(ref, dist), smic.create_metric(name)(ref, dist), rtol=1e-6)


@pytest.mark.weights
def test_psnr_paper_is_the_weighted_mse_recomputed_by_hand():
    ref, dist = pair(1)
    metric = smic.create_metric("psnr", attention="smic", variant="paper")
    attention = metric.attention(ref, dist)
    # Eq. (7): A = mean of A_3 and A_4 (A_4 resized to A_3's grid), resized to the image grid
    combined = resize_linear((attention.stages[3] + resize_linear(attention.stages[4], attention.stages[3].shape[-2:])) / 2,
                             (64, 80)).numpy()
    error = ((ref.double() - dist.double()) ** 2).mean(dim=1).numpy()
    expected = [10 * np.log10(1 / ((combined[i] * error[i]).sum() / combined[i].sum())) for i in range(2)]
    assert metric(ref, dist).numpy() == pytest.approx(expected, rel=1e-5)


@pytest.mark.weights
@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_identical_images_get_the_best_value(name):
    ref, _ = pair(2)
    value = smic.create_metric(name, attention="smic", variant="paper")(ref, ref)
    assert torch.all(torch.isinf(value)) if name == "psnr" else torch.allclose(value, torch.ones(2))


@pytest.mark.weights
def test_any_local_map_can_be_pooled():
    ref, dist = pair(3)
    attention, combined = smic.attention_map(ref, dist)
    gradient = (dist - ref).abs().mean(dim=1)[:, 1:, 1:]  # a map of another size and metric
    pooled = smic.attend(gradient, combined)
    weights = resize_linear(combined, gradient.shape[-2:])
    assert torch.allclose(pooled, (weights * gradient).sum((1, 2)) / weights.sum((1, 2)), rtol=1e-6)

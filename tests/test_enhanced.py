"""variant="paper": the official metrics' local maps pooled with attention (Eq. 7/8), checked
against plain re-computations and against the base metrics under constant attention."""

import numpy as np
import pytest
import torch

import smic
from smic.attention import resize_linear
from tests.conftest import constant_pool, noisy_pair


def pair(seed: int = 0, size=(64, 80)):
    return noisy_pair(seed, (2, 3, *size), 0.1)


def constant_attention(metric, value: float = 0.37):
    metric.pool = lambda: constant_pool(value)
    return metric


@pytest.mark.weights
@pytest.mark.parametrize("name", ["psnr", "ssim", "lpips", "dists", "deepwsd"])
def test_constant_attention_gives_the_base_metric(name):
    ref, dist = pair()
    enhanced = constant_attention(smic.create_metric(name, attention="smic", variant="paper"))
    assert torch.allclose(enhanced(ref, dist), smic.create_metric(name)(ref, dist), rtol=1e-6)


@pytest.mark.weights
def test_default_variant_is_the_papers_equations_on_every_metric():
    for name in ("psnr", "fsim"):
        default = smic.create_metric(name, attention="smic")
        assert type(default) is type(smic.create_metric(name, attention="smic", variant="paper"))
        assert default.lower_better == smic.create_metric(name).lower_better  # same direction
    assert type(smic.create_metric("psnr", attention="smic")) is not type(
        smic.create_metric("psnr", attention="smic", variant="authors")
    )
    with pytest.raises(ValueError, match="metric 'fsim' has no 'authors' variant"):
        smic.create_metric("fsim", attention="smic", variant="authors")


@pytest.mark.weights
def test_reference_is_a_deprecated_name_of_authors():
    with pytest.warns(FutureWarning, match="variant='reference' is deprecated.*use variant='authors'"):
        spec = smic.MetricSpec.parse("lpips+smic:variant=reference")
    assert spec == smic.MetricSpec("lpips", "smic", "authors") and spec.label == "lpips+smic:variant=authors"
    with pytest.warns(FutureWarning):
        metric = smic.create_metric("psnr", attention="smic", variant="reference")
    assert type(metric) is type(smic.create_metric("psnr", attention="smic", variant="authors"))


def test_variant_needs_an_attention():
    with pytest.raises(ValueError, match="ssim: variant='paper' needs an attention"):
        smic.create_metric("ssim", variant="paper")


def test_psnr_paper_is_the_weighted_mse_recomputed_by_hand():
    ref, dist = pair(1)
    metric = smic.create_metric("psnr", attention="smic", variant="paper")
    pool = metric.pool()
    pool.from_images(ref, dist, metric.net)
    attention = pool.attention
    # Eq. (7): A = mean of A_3 and A_4 (A_4 resized to A_3's grid), resized to the image grid
    combined = resize_linear(
        (attention.stages[3] + resize_linear(attention.stages[4], attention.stages[3].shape[-2:])) / 2, (64, 80)
    ).numpy()
    error = ((ref.double() - dist.double()) ** 2).mean(dim=1).numpy()
    expected = [10 * np.log10(1 / ((combined[i] * error[i]).sum() / combined[i].sum())) for i in range(2)]
    assert metric(ref, dist).numpy() == pytest.approx(expected, rel=1e-5)


@pytest.mark.weights
@pytest.mark.parametrize(
    "name,best", [("psnr", float("inf")), ("ssim", 1.0), ("lpips", 0.0), ("dists", 0.0), ("deepwsd", 0.0)]
)
def test_identical_images_get_the_best_value(name, best):
    ref, _ = pair(2)
    value = smic.create_metric(name, attention="smic", variant="paper")(ref, ref)
    assert (
        torch.all(torch.isinf(value))
        if best == float("inf")
        else torch.allclose(value, torch.full((2,), best), atol=1e-6)
    )


@pytest.mark.weights
def test_any_local_map_can_be_pooled():
    ref, dist = pair(3)
    _attention, combined = smic.attention_map(ref, dist)
    gradient = (dist - ref).abs().mean(dim=1)[:, 1:, 1:]  # a map of another size and metric
    pooled = smic.attend(gradient, combined)
    weights = resize_linear(combined, gradient.shape[-2:])
    assert torch.allclose(pooled, (weights * gradient).sum((1, 2)) / weights.sum((1, 2)), rtol=1e-6)


@pytest.mark.weights
def test_lpips_paper_recomputed_from_its_maps():
    ref, dist = pair(5)
    metric = smic.create_metric("lpips", attention="smic", variant="paper")
    value, attention = metric.explain(ref, dist)
    _, maps = smic.create_metric("lpips").score(ref, dist, return_maps=True)
    expected = np.zeros(2)
    for i in range(2):
        for stage, local in enumerate(maps, start=1):
            values = local[i, 0].double().numpy()
            if stage in (3, 4):  # Eq. (8): attention of that stage, bilinear to the map's grid
                weights = resize_linear(attention.stages[stage][i : i + 1], values.shape)[0].numpy()
                expected[i] += (weights * values).sum() / weights.sum()
            else:
                expected[i] += values.mean()
    assert value.numpy() == pytest.approx(expected, rel=1e-5)


def ladder_images():
    from scipy.ndimage import gaussian_filter
    from skimage import data

    ref = data.astronaut()[64:448:3, ::3].astype(np.float64) / 255  # 128x171
    rng = np.random.default_rng(0)
    noise = rng.normal(size=ref.shape)
    blur = [np.clip(gaussian_filter(ref, (s, s, 0)), 0, 1) for s in (0.5, 1.0, 2.0, 4.0)]
    noisy = [np.clip(ref + s * noise, 0, 1) for s in (0.02, 0.05, 0.1, 0.2)]
    return ref, {"blur": blur, "noise": noisy, "jpeg": [jpeg(ref, q) for q in (60, 30, 15, 5)]}


def jpeg(image, quality):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB")).astype(np.float64) / 255


def to_tensor(array):
    return torch.from_numpy(array).permute(2, 0, 1)[None].float()


@pytest.mark.weights
@pytest.mark.parametrize("name", ["psnr", "ssim", "lpips", "dists", "deepwsd"])
def test_paper_variant_follows_a_distortion_ladder(name):
    ref, ladders = ladder_images()
    metric = smic.create_metric(name, attention="smic", variant="paper")
    for kind, images in ladders.items():
        scores = metric(to_tensor(ref).expand(4, -1, -1, -1), torch.cat([to_tensor(d) for d in images])).tolist()
        worse = scores if metric.lower_better else [-s for s in scores]
        assert worse == sorted(worse), f"{name} {kind}: {scores}"

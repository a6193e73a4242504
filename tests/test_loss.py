"""smic.loss: what each metric's loss minimises, the forms it refuses, and an optimisation that
brings a distorted image back towards its reference with every differentiable loss."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import smic
from smic.cli.main import sample_pair
from smic.metrics.base import NotDifferentiableError
from smic.registry import metric_class
from smic.spec import MetricSpec

STEPS = 30
LR = 1e-3  # Adam moves every pixel by about LR per step: 0.03 in all, the JPEG error's scale
PSNR_GAIN = 0.05  # dB; measured: dists+smic gains the least, 0.19 dB (LPIPS 0.8, the others > 1.3)


@pytest.fixture(scope="module")
def pieapp_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PieAPP with random weights (the published file is the user's to give)."""
    from smic.metrics.pieapp import PieAPPNet

    path = tmp_path_factory.mktemp("pieapp") / "pieapp_random.pth"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(PieAPPNet().state_dict(), path)
    return str(path)


def pair(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The packaged astronaut and its JPEG (quality 12) copy, top-left crop."""
    ref, dist = sample_pair()
    return ref[..., :height, :width], dist[..., :height, :width]


def noisy(ref: torch.Tensor, sigma: float = 0.1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (ref + sigma * torch.randn(ref.shape, generator=generator)).clamp(0, 1)


def test_psnr_loss_is_the_mse_and_zero_for_identical_images() -> None:
    ref, dist = pair(32, 40)
    ref, dist = torch.cat([ref, ref]), torch.cat([dist, ref])  # the second pair: identical
    loss = smic.loss("psnr", reduction="none")
    d = dist.clone().requires_grad_(True)
    values = loss(ref, d)
    mse = (ref[0] - dist[0]).double().pow(2).mean()
    assert torch.allclose(values[0].double(), mse, rtol=1e-5) and float(values[1].detach()) == 0.0
    values.sum().backward()  # PSNR is inf at identity: its own backward would be NaN there
    assert d.grad is not None and torch.isfinite(d.grad).all() and not d.grad[1].any()
    data_range = smic.loss("psnr", data_range=2.0, reduction="none")(ref[:1], dist[:1])
    assert torch.allclose(data_range.double(), mse / 4, rtol=1e-5)


def test_higher_is_better_metrics_minimise_their_distance_to_the_best_score() -> None:
    ref, dist = pair(32, 40)
    ssim = smic.create_metric("ssim")(ref, dist)
    assert torch.allclose(smic.loss("ssim")(ref, dist), 1 - ssim)
    ms_ssim = smic.create_metric("ms_ssim", convention="rgb")
    big_ref, big_dist = pair(161, 169)
    assert torch.allclose(smic.loss("ms_ssim", convention="rgb")(big_ref, big_dist), 1 - ms_ssim(big_ref, big_dist))
    assert float(smic.loss("ssim")(ref, ref)) == 0.0


def test_lower_is_better_metrics_minimise_their_score_and_reductions() -> None:
    ref, dist = pair(40, 48)
    ref, dist = torch.cat([ref, ref]), torch.cat([dist, noisy(ref)])
    scores = smic.create_metric("mad")(ref, dist)
    assert torch.equal(smic.loss("mad", reduction="none")(ref, dist), scores)
    assert torch.allclose(smic.loss("mad")(ref, dist), scores.mean())
    assert torch.allclose(smic.loss("mad", reduction="sum")(ref, dist), scores.sum())
    with pytest.raises(ValueError, match="reduction must be one of mean, sum, none, got 'max'"):
        smic.loss("mad", reduction="max")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ssim:convention=matlab", "use convention='rgb'"),
        ("ms_ssim", "use convention='rgb'"),
        ("mad:convention=matlab", "use convention='calibrated'"),
        ("fsim", "no option avoids it"),
        ("vif", "no option avoids it"),
        ("nlpd", "no option avoids it"),
    ],
)
def test_a_form_without_gradient_is_refused_when_the_loss_is_made(text: str, words: str) -> None:
    with pytest.raises(NotDifferentiableError, match=words):
        smic.loss(text)


@pytest.mark.weights
def test_the_authors_forms_are_refused_and_the_paper_form_named() -> None:
    with pytest.raises(NotDifferentiableError, match=r"variant='authors'.*use variant='paper'"):
        smic.loss("lpips", attention="smic", variant="authors")
    with pytest.raises(NotDifferentiableError, match="use convention='rgb'"):
        smic.loss("ssim+smic:convention=matlab")


@pytest.mark.weights
def test_spec_text_and_keywords_build_the_same_loss() -> None:
    ref, dist = pair(56, 64)
    by_text, by_keywords = (
        smic.loss("ssim+smic", reduction="none"),
        smic.loss("ssim", attention="smic", reduction="none"),
    )
    assert torch.equal(by_text(ref, dist), by_keywords(ref, dist))
    assert torch.equal(by_text(ref, dist), 1 - smic.create_metric("ssim", attention="smic")(ref, dist))


# the option that gives a gradient where the default has none
DIFFERENTIABLE_OPTIONS = {"ms_ssim": (("convention", "rgb"),)}


def optimisation_cases() -> list:
    """Every differentiable form of the registry, official and +smic (paper)."""
    cases = []
    for name in smic.list_metrics():
        options = DIFFERENTIABLE_OPTIONS.get(name, ())
        if metric_class(name).differentiable or options:
            for form in (MetricSpec(name, options=options), MetricSpec(name, "smic", options=options)):
                needs_vgg16 = form.attention is not None or metric_class(name).attention_source == "features"
                cases.append(pytest.param(form, id=form.label, marks=[pytest.mark.weights] if needs_vgg16 else []))
    return cases


@pytest.mark.parametrize("spec", optimisation_cases())
def test_optimising_the_loss_brings_the_image_back(spec: MetricSpec, pieapp_weights: str) -> None:
    """Adam on the pixels of the JPEG copy, clamped to [0, 1] after each step: the loss falls and
    PSNR rises. PieAPP runs with random weights, so only its loss is checked."""
    options: dict[str, Any] = {"weights": pieapp_weights} if spec.name == "pieapp" else {}
    loss = smic.loss(spec, **options)
    side = max(loss.metric.min_size, 56)
    ref, start = pair(side, side + 8)
    dist = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([dist], lr=LR)
    first: float | None = None
    for _ in range(STEPS):
        optimiser.zero_grad()
        value = loss(ref, dist)
        value.backward()
        optimiser.step()
        with torch.no_grad():
            dist.clamp_(0, 1)
        first = float(value.detach()) if first is None else first
    psnr = smic.create_metric("psnr")
    assert first is not None
    with torch.no_grad():
        assert float(loss(ref, dist)) < first
        if spec.name != "pieapp":
            assert float(psnr(ref, dist)) > float(psnr(ref, start)) + PSNR_GAIN

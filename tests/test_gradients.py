"""Gradients: every metric form states ``differentiable``; a differentiable form's autograd gradient
agrees with finite differences in float64; a form without one raises ``NotDifferentiableError``
(naming the option that gives one) instead of returning a silent zero or failing inside autograd.

The finite-difference check is a directional derivative: for random directions u, v over ref and
dist, grad . (u, v) against (f(x + h w) - f(x - h w)) / 2h. The VGG16 metrics have millions of
ReLU and max-pool kinks, so steps cross some: LPIPS's quotient is off by 1e-2 relative at
h = 1e-6 and (lpips+smic) 5e-4 at 1e-8, within 1.2e-7 at 1e-9. The paper forms recompute the
attention at each point, and MIC, a function of ranks, jumps where a step reorders two values:
at 1e-6 psnr+smic's quotient is 80 times off, at 1e-8 none jumps here. Smooth metrics with small
gradients lose more to float64 rounding at small steps. So the check takes the best of the steps
1e-6, 1e-8 and 1e-9 (the gradient is true where the quotient converges to it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import torch

import smic
from smic.attention import AttentionPool
from smic.cli.main import sample_pair
from smic.metrics.base import Metric, NotDifferentiableError
from smic.registry import has_authors_form, metric_class
from smic.spec import MetricSpec
from smic.variants.paper import PaperSMIC

# the table of issue 16: the default options of each metric (the paper's +smic form follows it)
DIFFERENTIABLE = {
    "deepwsd": True,
    "dists": True,
    "fsim": False,  # FeatureSIM.m on round(255 x)
    "lpips": True,
    "mad": True,  # calibrated (every channel x 255, no rounding)
    "ms_ssim": False,  # msssim.m on rgb2gray rounded to uint8
    "nlpd": False,  # NLP_dist.m on rgb2gray rounded to uint8
    "pieapp": True,
    "psnr": True,
    "ssim": True,  # rgb
    "vif": False,  # vifvec.m on rgb2gray rounded to uint8
}
# options that change it, and the words the error must name
OPTION_FORMS = {
    "ssim:convention=matlab": (False, "convention='rgb'"),
    "ms_ssim:convention=rgb": (True, None),
    "ms_ssim:convention=rgb:method=wtd_sum": (True, None),
    "mad:convention=matlab": (False, "convention='calibrated'"),
    "fsim:chromatic=False": (False, "no option"),
}
REFUSALS = {
    "ms_ssim": "convention='rgb'",
    "nlpd": "smic.metrics.nlpd.nlpd",
    "vif": "smic.metrics.vif.vif",
    "fsim": "no option",
}
STEPS = (1e-6, 1e-8, 1e-9)
RTOL = 1e-4  # measured, best step: at most 1.3e-6 (ms_ssim+smic), most below 2e-7
ATOL = 1e-12


def needs_vgg16(spec: MetricSpec) -> bool:
    return spec.attention is not None or metric_class(spec.name).attention_source == "features"


@pytest.fixture(scope="module")
def pieapp_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PieAPP with random weights (the published file is the user's to give): gradients do not
    depend on the values."""
    from smic.metrics.pieapp import PieAPPNet

    path = tmp_path_factory.mktemp("pieapp") / "pieapp_random.pth"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(PieAPPNet().state_dict(), path)
    return str(path)


def build(spec: MetricSpec, pieapp_weights: str) -> Metric:
    options = {"weights": pieapp_weights} if spec.name == "pieapp" else {}
    return MetricSpec.of(spec, **options).build()


def natural_pair(height: int, width: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """The packaged astronaut / JPEG pair's top-left crop squeezed into [0.1, 0.9] (a step never
    leaves [0, 1]), plus a little noise: 8-bit data has exact ties (flat areas, max-pools) where
    the score has a kink right at the point; MAD needs natural structure to see any error."""
    ref, dist = sample_pair()
    generator = torch.Generator().manual_seed(0)
    return tuple(  # type: ignore[return-value]
        0.1
        + 0.8 * image[..., :height, :width].to(dtype)
        + 0.02 * torch.rand(1, 3, height, width, generator=generator, dtype=dtype)
        for image in (ref, dist)
    )


def directional_errors(metric: Metric, ref: torch.Tensor, dist: torch.Tensor) -> tuple[float, list[float]]:
    """grad . w and |difference quotient - grad . w| for each step, w = (u, v) random."""
    generator = torch.Generator().manual_seed(1)
    u = torch.randn(ref.shape, generator=generator, dtype=ref.dtype)
    v = torch.randn(dist.shape, generator=generator, dtype=dist.dtype)
    r, d = ref.clone().requires_grad_(True), dist.clone().requires_grad_(True)
    metric(r, d).sum().backward()
    assert r.grad is not None and d.grad is not None
    assert torch.isfinite(r.grad).all() and torch.isfinite(d.grad).all()
    analytic = float((r.grad * u).sum() + (d.grad * v).sum())
    with torch.no_grad():
        quotients = [
            float((metric(ref + h * u, dist + h * v) - metric(ref - h * u, dist - h * v)).sum()) / (2 * h)
            for h in STEPS
        ]
    return analytic, [abs(q - analytic) for q in quotients]


def gradient_cases() -> list:
    """Every differentiable form of the registry: official and +smic (paper), and the option forms."""
    cases = []
    for name in smic.list_metrics():
        if metric_class(name).differentiable:
            cases += [MetricSpec(name), MetricSpec(name, "smic")]
    cases += [MetricSpec.parse(text) for text, (yes, _) in OPTION_FORMS.items() if yes]
    cases.append(MetricSpec.of("ms_ssim:convention=rgb", attention="smic"))  # its default has no gradient
    cases.append(MetricSpec("psnr", "mic"))  # the ablation: the same structure
    return [
        pytest.param(spec, id=spec.label, marks=[pytest.mark.weights] if needs_vgg16(spec) else []) for spec in cases
    ]


def test_every_metric_states_differentiable() -> None:
    assert set(DIFFERENTIABLE) == set(smic.list_metrics()), "a new metric: add it to the table"
    for name, expected in DIFFERENTIABLE.items():
        assert metric_class(name).differentiable is expected, name
        if has_authors_form(name):  # the authors' code runs under inference_mode
            assert metric_class(name, "smic", "authors").differentiable is False, name


@pytest.mark.parametrize("text", list(OPTION_FORMS))
def test_options_decide_on_the_instance(text: str) -> None:
    expected, _ = OPTION_FORMS[text]
    assert MetricSpec.parse(text).build().differentiable is expected


@pytest.mark.parametrize("text", [*REFUSALS, *(t for t, (yes, _) in OPTION_FORMS.items() if not yes)])
def test_a_form_without_gradient_refuses_inputs_that_require_one(text: str) -> None:
    spec = MetricSpec.parse(text)
    metric = spec.build()
    words = REFUSALS.get(text) or OPTION_FORMS[text][1] or ""
    side = metric.min_size
    ref, dist = natural_pair(side, side + 8, torch.float32)
    reason = metric.no_gradient()
    assert reason is not None and words in reason
    with pytest.raises(NotDifferentiableError, match=f"^{spec.name}: .*" + re.escape(words)):
        metric(ref, dist.clone().requires_grad_(True))
    with pytest.raises(NotDifferentiableError):
        metric.maps(ref.clone().requires_grad_(True), dist)
    with torch.no_grad():  # no gradient asked for: the score as always
        assert torch.equal(metric(ref, dist.clone().requires_grad_(True)), metric(ref, dist))


@pytest.mark.weights
def test_the_paper_form_refuses_where_its_metric_does() -> None:
    metric = smic.create_metric("ssim", attention="smic", convention="matlab")
    assert not metric.differentiable
    ref, dist = natural_pair(56, 64, torch.float32)
    with pytest.raises(NotDifferentiableError, match="use convention='rgb'"):
        metric(ref, dist.requires_grad_(True))
    with pytest.raises(NotDifferentiableError, match="use convention='rgb'"):
        metric.explain(ref, dist)


@pytest.mark.weights
@pytest.mark.parametrize("name", ["psnr", "ssim", "lpips", "dists", "deepwsd"])
def test_the_authors_forms_refuse_gradients_and_name_the_paper_form(name: str) -> None:
    metric = smic.create_metric(name, attention="smic", variant="authors")
    assert not metric.differentiable
    ref, dist = natural_pair(56, 64, torch.float32)
    message = f"^{name} with variant='authors' is the authors' code.*use variant='paper'"
    for call in (metric, metric.maps, metric.explain):
        with pytest.raises(NotDifferentiableError, match=message):
            call(ref, dist.clone().requires_grad_(True))


@pytest.mark.weights
def test_a_resize_that_rounds_refuses_the_sizes_it_resizes() -> None:
    """DISTS's resize=True (shorter side > 256) and DeepWSD's preparation (longer side in
    (512, 1000)) resample 8-bit data in 8 bits: refused at those sizes only."""
    dists, deepwsd = smic.create_metric("dists", resize=True), smic.create_metric("deepwsd")
    assert dists.differentiable and deepwsd.differentiable  # the options allow it at other sizes
    assert dists.no_gradient((257, 300)) is not None and dists.no_gradient((256, 300)) is None
    assert smic.create_metric("dists").no_gradient((257, 300)) is None
    ref = torch.full((1, 3, 8, 600), 0.5)
    with pytest.raises(NotDifferentiableError, match=r"^deepwsd: prepare=True .* 8x600 .* use prepare=False"):
        deepwsd(ref, ref.clone().requires_grad_(True))
    assert smic.create_metric("deepwsd", prepare=False).no_gradient((8, 600)) is None
    assert deepwsd.no_gradient((8, 512)) is None and deepwsd.no_gradient((8, 1000)) is None


@pytest.mark.parametrize("spec", gradient_cases())
def test_gradient_agrees_with_finite_differences(spec: MetricSpec, pieapp_weights: str) -> None:
    metric = build(spec, pieapp_weights).double()
    assert metric.differentiable
    # the smallest size the form takes (the paper's attention needs 56 px), not square
    side = max(metric.min_size, 56 if spec.attention else 40)
    # PieAPP: two 64x64 patches across (stride 27), so that the attention weighs something
    ref, dist = natural_pair(side, side + 27 if spec.name == "pieapp" else side + 8)
    analytic, errors = directional_errors(metric, ref, dist)
    assert analytic != 0.0
    assert min(errors) <= RTOL * abs(analytic) + ATOL, (analytic, errors)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors: thread hand-offs cost more than the work (40x on a loaded CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(("name", "options"), [("psnr", {}), ("ssim", {"win_size": 3})])
def test_full_jacobian_of_the_pixel_metrics(name: str, options: dict) -> None:
    """torch.autograd.gradcheck on every input element (smooth metrics: one step, 1e-6); SSIM
    with a 3-tap window, so that a 6x7 image has a 4x5 map."""
    metric = smic.create_metric(name, **options).double()
    ref, dist = natural_pair(6, 7)
    assert torch.autograd.gradcheck(
        metric, (ref.requires_grad_(True), dist.requires_grad_(True)), eps=1e-6, atol=1e-7, rtol=1e-5
    )


@pytest.mark.weights
@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_gradcheck_of_the_paper_forms(name: str) -> None:
    """torch's own check, in its fast mode (random projections of the Jacobian): the attention is
    recomputed at each step, and a constant there."""
    metric = smic.create_metric(name, attention="smic").double()
    ref, dist = natural_pair(56, 64)
    assert torch.autograd.gradcheck(
        metric, (ref.requires_grad_(True), dist.requires_grad_(True)), eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True
    )


@pytest.mark.weights
@pytest.mark.parametrize("name", ["ssim", "lpips"])
def test_the_attention_is_a_constant_weight(name: str) -> None:
    """The paper form's gradient is the one with its attention computed beforehand and held
    fixed: MIC has no gradient, and none flows through it."""
    metric = smic.create_metric(name, attention="smic").double()
    assert isinstance(metric, PaperSMIC)
    ref, dist = natural_pair(56, 64)
    probe = metric.pool()  # the attention of this pair, computed once
    if metric.net is not None:
        probe.from_images(ref, dist, metric.net)
    else:
        metric.base.score(ref, dist, pool=probe)

    def gradient() -> torch.Tensor:
        d = dist.clone().requires_grad_(True)
        metric(ref, d).sum().backward()
        assert d.grad is not None
        return d.grad

    recomputed = gradient()

    def fixed() -> AttentionPool:
        pool = AttentionPool(probe.settings, probe.stages)
        pool.attention = probe.attention
        return pool

    metric.pool = fixed  # type: ignore[method-assign]
    assert torch.equal(gradient(), recomputed)


def test_mad_is_flat_where_its_distortion_is_invisible() -> None:
    """MAD is 0 where d_detect is (alpha = 1): identical images, or an error the masking hides.
    Its gradient there is 0, not autograd's NaN from sqrt and pow at 0."""
    metric = smic.create_metric("mad").double()
    ref, _ = natural_pair(40, 48)
    dist = ref.clone().requires_grad_(True)
    score = metric(ref, dist)
    score.sum().backward()
    assert float(score.detach()) == 0.0
    assert dist.grad is not None and torch.equal(dist.grad, torch.zeros_like(dist))

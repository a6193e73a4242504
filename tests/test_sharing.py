"""Shared work across metrics (smic.sharing): the same bits as alone, each pass once, no stale hit."""

import gc
import weakref

import pytest
import torch

import smic
from smic.backbone import VGG16
from smic.cli import sample_pair
from smic.metrics.base import Metric
from smic.sharing import active, held_bytes, memo, score_many, shared_work

NAMES = ("psnr", "ssim", "lpips", "dists", "deepwsd")
GROUPS = {
    "authors": (NAMES, {"attention": "smic", "variant": "authors"}),
    "paper": (NAMES, {"attention": "smic"}),
    "official": (("lpips", "dists", "deepwsd"), {}),
}


def group(name: str) -> list[Metric]:
    names, options = GROUPS[name]
    return [smic.create_metric(metric, **options) for metric in names]


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    return sample_pair()  # 192x256: above every form's min_size (the authors' prepare it to 128x170)


@pytest.mark.weights
@pytest.mark.parametrize("name", GROUPS)
def test_shared_scores_and_maps_equal_alone_bit_for_bit(pair, name):
    metrics = group(name)
    alone = [(metric(*pair), metric.maps(*pair)) for metric in metrics]
    with shared_work():
        shared = [(metric(*pair), metric.maps(*pair)) for metric in metrics]
    for metric, (score, (_, maps)), (shared_score, (_, shared_maps)) in zip(metrics, alone, shared):
        assert torch.equal(score, shared_score), metric.name
        assert all(torch.equal(a, b) for a, b in zip(maps, shared_maps, strict=True)), metric.name
    assert all(torch.equal(a, b) for (a, _), b in zip(alone, score_many(metrics, *pair)))


@pytest.fixture
def vgg_passes(monkeypatch):
    """Every VGG16 pass run: (pooling, channels_last, input, stages it started from, stages)."""
    passes = []
    run = VGG16._stages

    def counted(self, x, stages, start=None):
        passes.append((self.pooling, self.channels_last, x, len(start or {}), stages))
        return run(self, x, stages, start)

    monkeypatch.setattr(VGG16, "_stages", counted)
    return passes


@pytest.mark.weights
@pytest.mark.parametrize(
    "name, inputs, resumed",
    [
        # psnr+ssim: L2 of ref and of dist to stage 4; lpips: max of its scaled pair; dists: L2 of its
        # normalised pair; deepwsd: L2 of its pair
        ("paper", 5, [("l2", 1, 4), ("l2", 1, 4), ("l2", 1, 5), ("l2", 1, 5), ("max", 1, 5)]),
        # the prepared ref and dist: relu1_2 once for both poolings, L2 to stage 4 (psnr+ssim),
        # resumed to 5 (dists), max to 5 (lpips); deepwsd: L2 of its pair
        ("authors", 3, [("l2", 1, 4)] * 2 + [("l2", 1, 5)] + [("l2", 4, 5)] * 2 + [("max", 1, 5)] * 2),
        ("official", 3, [("l2", 1, 5), ("l2", 1, 5), ("max", 1, 5)]),
    ],
)
def test_vgg16_runs_each_layer_once_per_input_and_pooling(pair, vgg_passes, name, inputs, resumed):
    score_many(group(name), *pair)
    first = [(layout, x.data_ptr(), x.shape) for _, layout, x, start, _ in vgg_passes if start == 0]
    assert len(set(first)) == len(first) == inputs  # relu1_2 once per input, whatever the pooling
    assert all(stages == 1 for *_, start, stages in vgg_passes if start == 0)
    rest = [(pooling, layout, x.data_ptr(), x.shape, start) for pooling, layout, x, start, _ in vgg_passes if start]
    assert len(set(rest)) == len(rest)
    assert sorted((pooling, start, stages) for pooling, _, _, start, stages in vgg_passes if start) == resumed


@pytest.mark.weights
def test_official_and_paper_lpips_share_one_vgg16_pass(pair, vgg_passes):
    forms = [smic.create_metric("lpips"), smic.create_metric("lpips", attention="smic")]
    scores = score_many(forms, *pair)
    assert [(start, stages) for *_, start, stages in vgg_passes] == [(0, 1), (1, 5)]
    assert torch.equal(scores[1], forms[1](*pair))


@pytest.mark.weights
def test_networks_share_only_weights_as_loaded(vgg_passes):
    x = torch.rand(1, 3, 32, 32)
    a, b, changed = VGG16("l2"), VGG16("l2"), VGG16("l2")
    with torch.no_grad():
        changed.features[0].bias.add_(0.5)
    with shared_work():
        first = a(x)
        assert b(x, stages=3)[3] is first[3]  # another network, same weights: the same tensors
        assert len(vgg_passes) == 2  # relu1_2, then the rest
        assert not torch.equal(changed(x)[1], first[1])
        assert len(vgg_passes) == 4
        max_pooled = VGG16("max")(x)
        assert max_pooled[1] is first[1] and not torch.equal(max_pooled[2], first[2])  # relu1_2: no pooling yet
        assert len(vgg_passes) == 5


def test_memo_works_only_inside_a_context_and_does_not_leak():
    x = torch.arange(4.0)
    calls = []

    def compute():
        calls.append(1)
        return x.sum()

    assert not active()
    memo("sum", (), (x,), compute)
    memo("sum", (), (x,), compute)
    assert len(calls) == 2  # outside: computed every time
    with shared_work():
        assert active()
        first = memo("sum", (), (x,), compute)
        assert memo("sum", (), (x,), compute) is first
        assert memo("sum", ("other",), (x,), compute) is not first  # other params, other entry
        with shared_work():  # a nested context shares the outer memo
            assert memo("sum", (), (x,), compute) is first
    assert len(calls) == 4
    with shared_work():
        memo("sum", (), (x,), compute)  # a new context starts empty
    assert len(calls) == 5 and not active()


def test_no_false_hit_after_an_in_place_change():
    x = torch.arange(4.0)
    with shared_work():
        before = memo("sum", (), (x,), lambda: x.sum())
        x.add_(1)
        after = memo("sum", (), (x,), lambda: x.sum())
        assert (float(before), float(after)) == (6.0, 10.0)
        assert memo("sum", (), (x[:2],), lambda: x[:2].sum()) is not after  # a view is another input


@pytest.mark.weights
def test_no_stale_features_after_an_in_place_change(vgg_passes):
    net, x = VGG16("l2"), torch.rand(1, 3, 32, 32)
    with shared_work():
        first = net(x)[2]
        x.mul_(0.5)
        second = net(x)[2]
    assert len(vgg_passes) == 4  # relu1_2 and the rest, twice
    assert torch.equal(second, net(x)[2]) and not torch.equal(first, second)


def test_the_memo_holds_its_inputs_until_the_context_ends():
    assert held_bytes() == 0
    with shared_work():
        x = torch.rand(8)
        held = weakref.ref(x)
        memo("held", (), (x,), lambda: torch.ones(4))
        del x
        gc.collect()
        assert held() is not None  # no other tensor can take its address while the entry lives
        assert held_bytes() == (8 + 4) * 4
    gc.collect()
    assert held() is None and held_bytes() == 0


def test_nothing_is_shared_for_inputs_that_require_grad():
    x = torch.rand(4, requires_grad=True)
    with shared_work():
        first = memo("square", (), (x,), lambda: x * x)
        second = memo("square", (), (x,), lambda: x * x)
        with torch.no_grad():  # no graph to join: shared
            assert memo("sum", (), (x,), lambda: x.sum()) is memo("sum", (), (x,), lambda: x.sum())
    assert first is not second and first.requires_grad

"""PieAPP v0.1: the network's forward pass with weights made here (random tensors with the official
keys and shapes; the published file is never fetched), the patch grid, pooling and weight checks."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

import smic
from smic.attention import Attention, AttentionPool
from smic.metrics.pieapp import (
    ENV_WEIGHTS,
    MULTISCALE_DIM,
    PieAPP,
    PieAPPNet,
    expected_shapes,
    patch_grid,
    pieapp,
)


def _random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = PieAPPNet()  # torch's default init; only the weight head is made positive
    with torch.no_grad():
        net.fc2_weight.weight.abs_()
        net.fc2_weight.bias.fill_(0.5)
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return _random_state()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, state):
    path = tmp_path_factory.mktemp("pieapp") / "PieAPPv0.1.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def metric(weights_file) -> PieAPP:
    return smic.create_metric("pieapp", weights=str(weights_file))


def _pair(n: int = 2, h: int = 100, w: int = 130, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(n, 3, h, w, generator=g)
    dist = (ref + 0.2 * torch.randn(n, 3, h, w, generator=g)).clamp(0, 1)
    return ref, dist


def test_official_keys_and_shapes():
    shapes = expected_shapes()
    assert len(shapes) == 2 * 11 + 2 * 4 + 2
    assert shapes["fc1_score.weight"] == (512, MULTISCALE_DIM) == (512, 120832)
    assert shapes["fc1_weight.weight"] == (512, 2048)
    assert shapes["ref_score_subtract.weight"] == (1, 1)
    assert shapes["conv11.weight"] == (512, 512, 3, 3)


def test_metadata_and_file_hash(metric, weights_file):
    assert metric.lower_better and metric.min_size == 64 and metric.stride == 27
    assert metric.weights_sha256 == hashlib.sha256(weights_file.read_bytes()).hexdigest()


def test_forward_shape_and_finite(metric):
    ref, dist = _pair()
    score = metric(ref, dist)
    assert score.shape == (2,) and torch.isfinite(score).all()
    assert not torch.equal(score, metric(ref, ref))


def test_identical_images_give_the_bias_path(metric, state):
    """Zero feature differences: every patch scores s_0 = a * 0.01 * fc2(relu(b1)) + b with the
    same weight w_0, so the score is s_0 exactly (0 only if the trained biases make it 0)."""
    ref, _ = _pair()
    hidden = F.relu(state["fc1_score.bias"].double())
    s0 = (
        state["ref_score_subtract.weight"].double().item()
        * 0.01
        * (state["fc2_score.weight"].double()[0] @ hidden + state["fc2_score.bias"].double().item())
        + state["ref_score_subtract.bias"].double().item()
    )
    w0 = (
        state["fc2_weight.weight"].double()[0] @ F.relu(state["fc1_weight.bias"].double())
        + state["fc2_weight.bias"].double().item()
        + 1e-6
    )
    score, (s_map, w_map) = metric.maps(ref, ref)
    assert torch.allclose(score.double(), torch.full((2,), s0.item(), dtype=torch.float64), atol=1e-6)
    assert torch.allclose(s_map.double(), torch.full_like(s_map, s0.item()).double(), atol=1e-6)
    assert torch.allclose(w_map.double(), torch.full_like(w_map, w0.item()).double(), atol=1e-6)


def test_zero_bias_path_gives_zero(tmp_path, state):
    """With ref_score_subtract's bias cancelling the bias path (what training aims at), identical
    images score 0."""
    hidden = F.relu(state["fc1_score.bias"])
    s_before = (
        state["ref_score_subtract.weight"][0, 0]
        * 0.01
        * (state["fc2_score.weight"][0] @ hidden + state["fc2_score.bias"][0])
    )
    tuned = dict(state, **{"ref_score_subtract.bias": (-s_before).view(1)})
    path = tmp_path / "tuned.pth"
    torch.save(tuned, path)
    ref, _ = _pair(n=1, h=64, w=64)
    assert abs(PieAPP(weights=path)(ref, ref).item()) < 1e-6


def test_batch_consistency_and_chunking(metric, weights_file):
    ref, dist = _pair(n=3)
    batched = metric(ref, dist)
    single = torch.cat([metric(ref[i : i + 1], dist[i : i + 1]) for i in range(3)])
    assert torch.allclose(batched, single, rtol=1e-5, atol=1e-6)
    one_patch_at_a_time = PieAPP(weights=weights_file, chunk=1)
    assert torch.allclose(one_patch_at_a_time(ref, dist), batched, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "size, stride, grid",
    [((64, 64), 27, (1, 1)), ((100, 130), 27, (2, 3)), ((100, 130), 6, (7, 12)), ((91, 64), 27, (2, 1))],
)
def test_patch_grid_arithmetic(metric, size, stride, grid):
    assert patch_grid(*size, stride) == grid == ((size[0] - 64) // stride + 1, (size[1] - 64) // stride + 1)
    ref, dist = _pair(n=1, h=size[0], w=size[1])
    _, (s_map, w_map) = pieapp(ref, dist, metric.net, stride=stride, return_maps=True)
    assert s_map.shape == w_map.shape == (1, 1, *grid)


def test_patches_are_bgr_0_255_crops_at_the_stride(metric):
    """Each map entry is the network on the crop at (row * stride, col * stride), in BGR 0..255;
    the score is sum(w s) / sum(w)."""
    ref, dist = _pair(n=1)
    score, (s_map, w_map) = metric.maps(ref, dist)
    for r, c in [(0, 0), (1, 2), (0, 1)]:
        top, left = 27 * r, 27 * c
        crops = [x[:, [2, 1, 0], top : top + 64, left : left + 64] * 255 for x in (ref, dist)]
        s, w = metric.net(*crops)
        assert s.item() == pytest.approx(s_map[0, 0, r, c].item(), rel=1e-4, abs=1e-5)
        assert w.item() == pytest.approx(w_map[0, 0, r, c].item(), rel=1e-4, abs=1e-5)
    expected = (s_map * w_map).sum() / w_map.sum()
    assert score.item() == pytest.approx(expected.item(), rel=1e-5)


def test_missing_weights_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    with pytest.raises(FileNotFoundError, match=r"download_PieAPPv0\.1_PT_weights\.sh"):
        PieAPP()
    with pytest.raises(FileNotFoundError, match="no such file"):
        PieAPP(weights=tmp_path / "absent.pth")


def test_env_variable_supplies_the_file(weights_file, monkeypatch):
    monkeypatch.setenv(ENV_WEIGHTS, str(weights_file))
    assert PieAPP().weights_sha256 == hashlib.sha256(weights_file.read_bytes()).hexdigest()


def test_wrong_keys_and_shapes_are_rejected(tmp_path, state):
    renamed = {("conv1.kernel" if k == "conv1.weight" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(ValueError, match="missing keys"):
        PieAPP(weights=tmp_path / "renamed.pth")
    small = dict(state, **{"fc1_weight.weight": torch.zeros(512, 1024)})
    torch.save(small, tmp_path / "small.pth")
    with pytest.raises(ValueError, match="wrong shape"):
        PieAPP(weights=tmp_path / "small.pth")


def test_pyiqa_layout_and_hash_checks(tmp_path, state):
    """pyiqa's re-release stores ref_score_subtract.weight as (1,) under "params"; a torch.hub-style
    name must match the file's sha256 prefix; ``sha256=`` is enforced."""
    wrapped = {"params": dict(state, **{"ref_score_subtract.weight": state["ref_score_subtract.weight"].view(1)})}
    plain = tmp_path / "plain.pth"
    torch.save(wrapped, plain)
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    named = tmp_path / f"PieAPPv0.1-{digest[:8]}.pth"
    named.write_bytes(plain.read_bytes())
    ref, dist = _pair(n=1, h=64, w=64)
    assert torch.allclose(PieAPP(weights=named)(ref, dist), PieAPP(weights=plain, sha256=digest)(ref, dist))
    misnamed = tmp_path / "PieAPPv0.1-0937b014.pth"
    misnamed.write_bytes(plain.read_bytes())
    with pytest.raises(ValueError, match="hash prefix"):
        PieAPP(weights=misnamed)
    with pytest.raises(ValueError, match="wrong sha256"):
        PieAPP(weights=plain, sha256="0" * 64)


def _pool(values: torch.Tensor) -> AttentionPool:
    pool = AttentionPool()
    pool.attention = Attention({3: values, 4: values})
    return pool


def test_constant_attention_gives_the_plain_score(metric):
    ref, dist = _pair()
    plain = metric(ref, dist)
    pooled = metric.score(ref, dist, pool=_pool(torch.full((2, 5, 6), 0.37, dtype=torch.float64)))
    assert torch.allclose(pooled, plain, rtol=1e-5, atol=1e-6)


def test_attention_multiplies_the_network_weights(metric):
    ref, dist = _pair(n=1)
    _, (s_map, w_map) = metric.maps(ref, dist)
    top = torch.zeros(1, 4, 4, dtype=torch.float64)
    top[:, :2] = 1.0  # attention on the upper half only
    pool = _pool(top)
    pooled = metric.score(ref, dist, pool=pool)
    a = F.avg_pool2d(pool.weights(0, (100, 130)), 64, 27)
    expected = (a * w_map.double() * s_map.double()).sum() / (a * w_map.double()).sum()
    assert pooled.item() == pytest.approx(expected.item(), rel=1e-5)
    assert pooled.item() != pytest.approx(metric(ref, dist).item(), rel=1e-4)


def test_small_images_are_rejected(metric):
    ref, dist = _pair(n=1, h=63, w=80)
    with pytest.raises(ValueError):
        metric(ref, dist)

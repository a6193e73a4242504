"""variant="reference" against the authors' code on ten pairs (tests/data/authors_golden.json:
their smic-pytorch scripts run out of tree on CPU; see its "about"). Scores within 1e-4
relative; attention maps within 1e-5 per cell (with the AVX2 kernels conftest.py pins)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import smic
from tests.conftest import FIXTURES

GOLDEN = json.loads((Path(__file__).parent / "data" / "authors_golden.json").read_text())["pairs"]
KEYS = {"psnr": "PSNR_SMIC", "ssim": "SSIM_SMIC", "lpips": "LPIPS_SMIC", "dists": "DISTS_SMIC", "deepwsd": "DeepWSD_SMIC"}
FILES = {name: ("tid2013_calib/ref/%s.png" % name, "tid2013_calib/dist/%s.png" % name)
         for name in ("I03", "I04", "I06", "I08", "I19")}
FILES.update({name: (f"reference_pairs/{name}_ref.png", f"reference_pairs/{name}_dist.png") for name in ("Img1", "Img2")})


def generated_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """astronaut rows 64..447 blurred (sigma 2) or with N(0, 20) noise (seed 0); coffee blurred
    (sigma 1.5, 600x400: the DeepWSD 256x256 branch); rounded half to even, clipped, 8-bit."""
    from scipy.ndimage import gaussian_filter
    from skimage import data

    def eight_bit(values: np.ndarray) -> np.ndarray:
        return np.clip(np.round(values), 0, 255).astype(np.uint8)

    astronaut = np.ascontiguousarray(data.astronaut()[64:448])
    coffee = np.ascontiguousarray(data.coffee())
    noise = np.random.default_rng(0).normal(0, 20, astronaut.shape)
    return {
        "astro_blur": (astronaut, eight_bit(gaussian_filter(astronaut.astype(np.float64), (2, 2, 0)))),
        "astro_noise": (astronaut, eight_bit(astronaut + noise)),
        "coffee_blur": (coffee, eight_bit(gaussian_filter(coffee.astype(np.float64), (1.5, 1.5, 0)))),
    }


def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if name in FILES:
        if not FIXTURES.is_dir():
            pytest.skip(f"golden fixtures not found at {FIXTURES}")
        return tuple(smic.load_image(FIXTURES / path) for path in FILES[name])
    return tuple(smic.load_image(image) for image in generated_pairs()[name])


@pytest.fixture(scope="module")
def metrics():
    return {name: smic.create_metric(name, attention="smic") for name in KEYS}


@pytest.mark.weights
@pytest.mark.parametrize("pair", sorted(GOLDEN))
def test_scores(metrics, pair):
    ref, dist = load(pair)
    for name, key in KEYS.items():
        expected = GOLDEN[pair]["scores"][key]
        assert metrics[name](ref, dist).item() == pytest.approx(expected, rel=1e-4), (pair, name)


@pytest.mark.weights
@pytest.mark.parametrize("pair", sorted(name for name in GOLDEN if "maps" in GOLDEN[name]))
def test_attention_maps(metrics, pair):
    ref, dist = load(pair)
    for name, key in KEYS.items():
        _, attention = metrics[name].explain(ref, dist)
        for stage in (3, 4):
            golden = torch.tensor(GOLDEN[pair]["maps"][key][f"stage{stage}"], dtype=torch.float64)
            error = (attention.stages[stage][0] - golden).abs()
            assert float(error.max()) < 1e-5, (pair, name, stage)

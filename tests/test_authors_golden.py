"""variant="authors" against the authors' code on ten pairs (tests/data/authors_golden.json:
their smic-pytorch scripts run out of tree on CPU; see its "about"). Scores within 1e-4
relative; attention maps by conftest.assert_attention_map_matches (1e-5 per cell, except where
a near-tie flips one MIC of a cell)."""

import json
from pathlib import Path

import pytest
import torch

import smic
from tests.conftest import assert_attention_map_matches, generated_pair, need_fixtures

GOLDEN = json.loads((Path(__file__).parent / "data" / "authors_golden.json").read_text())["pairs"]
KEYS = {
    "psnr": "PSNR_SMIC",
    "ssim": "SSIM_SMIC",
    "lpips": "LPIPS_SMIC",
    "dists": "DISTS_SMIC",
    "deepwsd": "DeepWSD_SMIC",
}
FILES = {
    name: (f"tid2013_calib/ref/{name}.png", f"tid2013_calib/dist/{name}.png")
    for name in ("I03", "I04", "I06", "I08", "I19")
}
FILES.update(
    {name: (f"reference_pairs/{name}_ref.png", f"reference_pairs/{name}_dist.png") for name in ("Img1", "Img2")}
)


def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if name in FILES:
        folder = need_fixtures()
        return tuple(smic.load_image(folder / path) for path in FILES[name])
    return tuple(smic.load_image(image) for image in generated_pair(name))


DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")),
]


@pytest.fixture(scope="module")
def metrics():
    return {name: smic.create_metric(name, attention="smic", variant="authors") for name in KEYS}


@pytest.mark.weights
@pytest.mark.parametrize("pair", sorted(GOLDEN))
def test_scores(metrics, pair):
    ref, dist = load(pair)
    for name, key in KEYS.items():
        expected = GOLDEN[pair]["scores"][key]
        assert metrics[name](ref, dist).item() == pytest.approx(expected, rel=1e-4), (pair, name)


@pytest.mark.weights
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pair", sorted(name for name in GOLDEN if "maps" in GOLDEN[name]))
def test_attention_maps(metrics, pair, device):
    ref, dist = (image.to(device) for image in load(pair))
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # full float32 convolutions, as on the CPU
    try:
        attentions = {name: metrics[name].to(device).explain(ref, dist)[1] for name in KEYS}
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    for name, key in KEYS.items():
        attention = attentions[name]
        for stage in (3, 4):
            golden = torch.tensor(GOLDEN[pair]["maps"][key][f"stage{stage}"], dtype=torch.float64)
            assert_attention_map_matches(attention.stages[stage][0].cpu(), golden, (pair, name, stage))

"""A pair or batch that would not fit is one line with the ways out, before any allocation."""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
from PIL import Image

from smic import memory
from smic.cli import main
from smic.evaluation.scoring import pairs_from_folders, score_pairs
from smic.spec import MetricSpec

DATA = resources.files("smic") / "data"
REF, DIST = str(DATA / "sample_ref.png"), str(DATA / "sample_dist.png")


def test_the_estimate_scales_with_pixels_and_batch_and_holds_the_reported_lpips_figure():
    lpips = MetricSpec("lpips")
    one = memory.needed_bytes(lpips, 1, 2048, 2048)
    assert memory.needed_bytes(lpips, 4, 2048, 2048) == 4 * one
    assert memory.needed_bytes(lpips, 1, 4096, 4096) == 4 * one
    # the issue measured 8.8 GB for one 2048x2048 LPIPS pair: the estimate must not be under it
    assert 8.8e9 <= one <= 1.5 * 8.8e9
    # a paper form adds its attention's VGG16; the authors' form works on the resized pair
    assert memory.needed_bytes(MetricSpec("psnr", "smic"), 1, 512, 512) > memory.needed_bytes(
        MetricSpec("psnr"), 1, 512, 512
    )


def test_cli_refuses_a_pair_that_would_not_fit_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 10 * 2**20)
    assert main(["score", REF, DIST, "--metric", "lpips"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("smic: error: lpips on 1 pair(s) of 256x192 needs about 0.1 GB but cpu has 0.0 GB free")
    assert "--max-pixels" in err and err.count("\n") == 1


def test_engine_halves_a_batch_that_does_not_fit_and_fails_a_pair_that_never_fits(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for folder in ("ref", "dist"):
        (tmp_path / folder).mkdir()
    for i, size in enumerate([(32, 32)] * 4 + [(64, 64)]):
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / "ref" / f"{i}.png")
        Image.fromarray(np.clip(image.astype(int) + 9, 0, 255).astype(np.uint8)).save(tmp_path / "dist" / f"{i}.png")
    psnr = MetricSpec("psnr")
    # room for two 32x32 pairs, not for one 64x64 pair
    monkeypatch.setattr(memory, "free_bytes", lambda device: memory.needed_bytes(psnr, 2, 32, 32))
    batches: list[int] = []
    from smic.metrics.psnr import PSNR

    plain = PSNR.forward

    def counting(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        batches.append(ref.shape[0])
        return plain(self, ref, dist)

    monkeypatch.setattr(PSNR, "forward", counting)
    result = score_pairs(
        pairs_from_folders(tmp_path / "ref", tmp_path / "dist"), ["psnr"], batch_size=4, progress=False
    )
    assert batches == [2, 2]
    assert [f.dist for f in result.failures] == ["dist/4.png"]
    assert "needs about" in result.failures[0].reason and "free" in result.failures[0].reason

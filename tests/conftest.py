"""Shared test helpers: the fixture folder beside the checkout, image pairs from it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import smic
from smic.attention import Attention, AttentionPool

FIXTURES = Path(os.environ.get("SMIC_FIXTURES", Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"))
TID_PAIRS = ("I03", "I04", "I06", "I08", "I19")


# An attention cell is A = 1 - (1/K) sum_k MIC_k over K = 32 projections of a patch. Another
# rounding of VGG16's float32 features (another CPU instruction set or thread count, CUDA) can
# swap the ranks of two projected values of a patch that lie closer than about 1e-6; that changes
# the one MIC_k they belong to, and MIC lies in [0, 1], so the cell moves by at most 1/K. Such
# near-ties are rare: measured, at most 2 cells of a map (of 108-440) move, each by < 2e-3; every
# other cell agrees with the authors' code to 1e-15.
MAP_CELL_TOLERANCE = 1e-5
MAX_FLIPPED_CELLS = 2
FLIPPED_CELL_BOUND = 1 / 32


def assert_attention_map_matches(ours: torch.Tensor, golden: torch.Tensor, where: object) -> None:
    """The one rule for an attention map against the authors' code (see MAP_CELL_TOLERANCE): every
    cell within 1e-5, except at most MAX_FLIPPED_CELLS cells, each within one flipped MIC's reach."""
    error = (ours.double() - golden.double()).abs()
    flipped = error > MAP_CELL_TOLERANCE
    assert ours.shape == golden.shape, where
    assert int(flipped.sum()) <= MAX_FLIPPED_CELLS, (where, int(flipped.sum()), float(error.max()))
    assert float(error.max()) <= FLIPPED_CELL_BOUND, (where, float(error.max()))


NO_FIXTURES = f"golden fixtures not found at {FIXTURES}: set SMIC_FIXTURES to the fixtures folder"


def need_fixtures() -> Path:
    """../shared/fixtures (golden images from other projects, never committed), or a skip."""
    if not FIXTURES.is_dir():
        pytest.skip(NO_FIXTURES)
    return FIXTURES


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Every skip for missing fixtures reported at one place, so pytest -ra folds them into one line."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and NO_FIXTURES in str(report.longrepr[2]):
        report.longrepr = (__file__, need_fixtures.__code__.co_firstlineno, report.longrepr[2])


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return need_fixtures()


@pytest.fixture(scope="session")
def tid_official(fixtures_dir: Path) -> dict:
    """official_values.json of the five TID2013 calibration pairs."""
    return json.loads((fixtures_dir / "tid2013_calib" / "official_values.json").read_text())


@pytest.fixture(scope="session")
def tid_pairs(fixtures_dir: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (ref, dist) tensors (1, 3, 384, 512) of the five TID2013 calibration pairs."""
    folder = fixtures_dir / "tid2013_calib"
    return {
        name: (smic.load_image(folder / "ref" / f"{name}.png"), smic.load_image(folder / "dist" / f"{name}.png"))
        for name in TID_PAIRS
    }


@pytest.fixture(scope="session")
def img1_golden(fixtures_dir: Path) -> dict:
    """The authors' code's outputs for reference_pairs/Img1 (reference_golden_img1.json 'pair')."""
    return json.loads((fixtures_dir / "reference_golden_img1.json").read_text())["pair"]


@pytest.fixture(scope="session")
def img1_pair(fixtures_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    folder = fixtures_dir / "reference_pairs"
    return smic.load_image(folder / "Img1_ref.png"), smic.load_image(folder / "Img1_dist.png")


def generated_pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The generated golden pairs: scikit-image's astronaut (rows 64:448, 384x512) or coffee
    (400x600: DeepWSD's 256x256 branch), Gaussian-blurred (scipy, sigma 2 for astro_blur, 1.5 for
    coffee_blur, on rows and columns) or with N(0, 20) noise from default_rng(0) (astro_noise),
    rounded half to even and clipped to 8 bits."""
    from scipy.ndimage import gaussian_filter

    skimage_data = pytest.importorskip("skimage.data")
    ref = np.ascontiguousarray(skimage_data.astronaut()[64:448] if name.startswith("astro") else skimage_data.coffee())
    if name == "astro_noise":
        dist = ref + np.random.default_rng(0).normal(0, 20, ref.shape)
    else:
        sigma = 2 if name == "astro_blur" else 1.5
        dist = gaussian_filter(ref.astype(np.float64), sigma=(sigma, sigma, 0))
    return ref, np.clip(np.round(dist), 0, 255).astype(np.uint8)


def tid_batch(tid_pairs: dict, tid_official: dict, metric: str, names: list[str]) -> tuple[torch.Tensor, ...]:
    """The named TID2013 calibration pairs as one float64 batch (ref, dist) and the official
    values of ``metric`` for them."""
    ref = torch.cat([tid_pairs[name][0] for name in names]).double()
    dist = torch.cat([tid_pairs[name][1] for name in names]).double()
    expected = torch.tensor([tid_official["official"][metric][name] for name in names], dtype=torch.float64)
    return ref, dist, expected


def noisy_pair(seed: int, shape: tuple[int, ...], noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A uniform random image batch and a copy with Gaussian noise of std ``noise``, clipped."""
    generator = torch.Generator().manual_seed(seed)
    ref = torch.rand(shape, generator=generator)
    dist = (ref + noise * torch.randn(shape, generator=generator)).clamp(0, 1)
    return ref, dist


def top_half_distorted(seed: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random images and copies with strong noise (std 0.3) on their top half only: with
    attention on the top half (top_half_pool) every metric must see more distortion."""
    generator = torch.Generator().manual_seed(seed)
    ref = torch.rand(2, 3, height, width, generator=generator)
    dist = ref.clone()
    half = height // 2
    dist[..., :half, :] = (dist[..., :half, :] + 0.3 * torch.randn(2, 3, half, width, generator=generator)).clamp(0, 1)
    return ref, dist


def img2_pair(
    fixtures_dir: Path, rows: slice = slice(None), cols: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' Img2 pair (or a crop of it) from the shared fixtures."""
    folder = fixtures_dir / "reference_pairs"
    return tuple(smic.load_image(folder / f"Img2_{part}.png")[..., rows, cols] for part in ("ref", "dist"))


def constant_pool(value: float = 0.37, n: int = 2) -> AttentionPool:
    """An AttentionPool whose attention is ``value`` everywhere: pooling must change nothing."""
    pool = AttentionPool()
    pool.attention = Attention(
        {3: torch.full((n, 2, 2), value, dtype=torch.float64), 4: torch.full((n, 1, 1), value, dtype=torch.float64)}
    )
    return pool


def top_half_pool(n: int = 2) -> AttentionPool:
    """An AttentionPool that attends to the top half of the image only."""
    top = torch.tensor([[1.0], [0.0]], dtype=torch.float64).expand(2, 3).expand(n, 2, 3).contiguous()
    pool = AttentionPool()
    pool.attention = Attention({3: top, 4: top.clone()})
    return pool


def stored_scores(store: Path, query: str = "SELECT COUNT(*) FROM scores") -> list[tuple]:
    """The rows of ``query`` on a run's scores.sqlite while another process writes it, [] before
    its tables exist. Opened read-only: a plain connect would create an empty file, which the
    writer then rightly refuses as a damaged store."""
    try:
        db = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:  # not created yet
        return []
    try:
        return db.execute(query).fetchall()
    except sqlite3.Error:  # created, tables not yet
        return []
    finally:
        db.close()

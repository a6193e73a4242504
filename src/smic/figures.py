"""The paper's Fig. 5 for one pair, as a reader wants it: the images, the attention over the
distorted image, the metric's local distortion map(s), the stage attentions A_3, A_4 and their
combination on one colour scale, and the official and ``+smic`` scores.

Layout (a 2-row grid): row 1 the reference, the distorted image and the distorted image with the
combined attention overlaid; row 2 the distortion map(s) the attention weighs (one for the
pixel-grid metrics, whose map Eq. (7) weighs with the combined attention; the stage-3 and stage-4
maps for LPIPS, DISTS and DeepWSD, which Eq. (8) weighs with A_3 and A_4), then A_3, A_4 and the
combined map. The attention is the one the ``+smic`` score was pooled with (the paper variant's
``explain``), so the figure shows what the score used.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from smic.metrics.base import Metric
from smic.spec import create_metric
from smic.variants.paper import PaperSMIC

__all__ = ["MEANINGS", "Meaning", "build_figure", "distortion_map", "draw_panel", "format_score"]

Scale = Literal["log", "p99"]
Pick = Callable[[list[torch.Tensor], int], torch.Tensor]
DEEP_STAGES = (3, 4)
DISTORTION_CMAP = "viridis"
ATTENTION_CMAP = "magma"
CLIP_PERCENTILE = 99.0


def _as_is(maps: list[torch.Tensor], i: int) -> torch.Tensor:
    return maps[i]


def _one_minus(maps: list[torch.Tensor], i: int) -> torch.Tensor:
    return 1 - maps[i]


def _vif_lost(maps: list[torch.Tensor], i: int) -> torch.Tensor:
    # VIF's maps: the numerators of the levels, then their denominators (same grids)
    return maps[len(maps) // 2 + i] - maps[i]


@dataclass(frozen=True)
class Meaning:
    """What a metric's local map shows: a short ``title`` for its panel (``{s}``: the VGG stage), a
    ``detail`` for the notes (``{layer}``: the layers), the ``quantity`` on its colourbar, which map of
    ``metric.maps`` it is (``index``, pixel-grid metrics), how it becomes "larger = worse"
    (``pick``) and its colour ``scale``."""

    display: str
    title: str
    detail: str
    quantity: str
    pick: Pick = _as_is
    index: int = 0
    scale: Scale = "p99"


# one entry per registered metric (tests/test_figures.py checks that none is missing)
MEANINGS: dict[str, Meaning] = {
    # squared errors span decades: on a linear scale all but a few pixels look black
    "psnr": Meaning("PSNR", "squared error", "the squared error, mean over RGB", "squared error", scale="log"),
    "ssim": Meaning("SSIM", "1 − SSIM", "1 − the local SSIM (11×11 Gaussian window)", "1 − SSIM", _one_minus),
    "ms_ssim": Meaning(
        "MS-SSIM", "1 − cs, finest scale", "1 − contrast-structure at the finest of 5 scales", "1 − cs", _one_minus
    ),
    "fsim": Meaning("FSIMc", "1 − S", "1 − the local similarity S (weighted by PCm in the score)", "1 − S", _one_minus),
    "vif": Meaning(
        "VIF", "information lost", "den − num: information lost per block, finest level", "den − num", _vif_lost
    ),
    "nlpd": Meaning(
        "NLPD",
        "NLP squared difference",
        "squared difference of the normalised Laplacian coefficients, finest level",
        "squared difference",
        scale="log",
    ),
    "mad": Meaning(
        "MAD",
        "detection map",
        "the detection map, visibility-masked local MSE × 200 (mean of the colour channels)",
        "masked MSE × 200",
        scale="log",
    ),
    "pieapp": Meaning("PieAPP", "patch error s", "PieAPP's per-patch error s (64×64 patches)", "patch error s"),
    "lpips": Meaning(
        "LPIPS",
        "LPIPS relu{s}_3 distance",
        "lin-weighted squared difference of the unit-normalised {layer} features",
        "LPIPS distance",
    ),
    "dists": Meaning(
        "DISTS",
        "DISTS relu{s}_3 local term",
        "α(1 − S1) + β(1 − S2) from 7×7 local statistics of {layer} (the score uses the global "
        "statistics, +smic their A-weighted form)",
        "DISTS local term",
    ),
    "deepwsd": Meaning(
        "DeepWSD",
        "DeepWSD relu{s}_3 distance",
        "Wasserstein + L2 distance of {layer} per position",
        "DeepWSD distance",
    ),
}


def _meaning(name: str) -> Meaning:
    return MEANINGS.get(
        name, Meaning(name.upper(), "local map", "the metric's first local map, as returned", "local map")
    )


def format_score(value: float) -> str:
    """A score as the figure prints it: five significant digits (keeps official vs +smic apart)."""
    return f"{value:.5g}"


@dataclass
class _Distortion:
    stage: int  # 0: the pixel-grid map (weighted by the combined attention), else the VGG stage
    values: np.ndarray  # (h, w), larger = worse


def _by_stage(metric: Metric) -> bool:
    """Whether the paper variant weighs the metric's stage-3 and stage-4 maps by A_3 and A_4
    (Eq. 8: LPIPS, DISTS, DeepWSD, attention from their own features), else its pixel-grid maps
    by the combined A (Eq. 7)."""
    return type(metric).attention_source == "features"


def _distortion_maps(
    name: str, maps: list[torch.Tensor], map_stages: tuple[int, ...], by_stage: bool
) -> list[_Distortion]:
    meaning = _meaning(name)
    if by_stage:
        return [_Distortion(s, _numpy(meaning.pick(maps, map_stages.index(s)))) for s in DEEP_STAGES]
    return [_Distortion(0, _numpy(meaning.pick(maps, meaning.index)))]


def _numpy(local: torch.Tensor) -> np.ndarray:
    """First image of a (N, C, h, w) map as (h, w) float64; channels averaged (MAD's calibrated
    maps have 3)."""
    return local[0].double().mean(dim=0).cpu().numpy()


def distortion_map(name: str, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """The official metric's local distortion map that attention pools, (h, w), larger = worse.

    PSNR: squared error; SSIM: 1 - SSIM; deep metrics: their stage-3 map; others: see MEANINGS.
    """
    metric = create_metric(name, device=ref.device)
    _, maps = metric.maps(ref, dist)
    return torch.from_numpy(_distortion_maps(name, maps, metric.map_stages, _by_stage(metric))[0].values)


def _scaled(values: np.ndarray, scale: Scale) -> tuple[np.ndarray, Normalize, str, str]:
    """A distortion map ready to draw: its values, colour scale, the scale's description for the
    title and the colourbar's ``extend`` (the end that is clipped)."""
    if scale == "log":
        positive = values[values > 0]
        top = float(positive.max()) if positive.size else 1.0
        # floor at the 1st percentile: exact zeros (JPEG leaves some pixels untouched) have no log
        floor = min(float(np.percentile(positive, 1)) if positive.size else top, top / 10)
        return np.maximum(values, floor), LogNorm(vmin=floor, vmax=top), "log scale, 1st pct floor", "min"
    top = float(np.percentile(values, CLIP_PERCENTILE))
    bottom = min(float(values.min()), 0.0)
    top = top if top > bottom else bottom + 1e-12
    return values, Normalize(vmin=bottom, vmax=top), f"linear, clipped at {CLIP_PERCENTILE:.0f}th pct", "max"


def _attention_kind(kind: str) -> tuple[str, str]:
    """(name of the attention, what A is)."""
    return ("SMIC", "1 − SMIC") if kind == "smic" else ("MIC (no slicing)", "1 − MIC")


def _extent(shape: tuple[int, int], height: int, width: int) -> tuple[float, float, float, float]:
    """Where a map lies on the image: a 'valid'-filtered map (SSIM's: as many rows as columns
    lost) centred at its true place, any other grid stretched over the whole image."""
    lost_rows, lost_columns = height - shape[0], width - shape[1]
    if 0 < lost_rows == lost_columns <= 32:
        margin = lost_rows / 2
        return (margin, width - margin, height - margin, margin)
    return (0, width, height, 0)


def _sub(stage: int) -> str:
    return "₀₁₂₃₄₅"[stage]


def _image(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()


def _plain(axis: plt.Axes, title: str, key: str) -> None:
    axis.set_title(title, fontsize=9)
    axis.set_label(key)  # how tests (and readers of the code) find a panel
    axis.set_xticks([])
    axis.set_yticks([])


def _notes(name: str, meaning: Meaning, distortions: list[_Distortion], kind: str, width: int) -> str:
    """How to read the figure: what M and A are and how each score pools M."""
    _, attention_is = _attention_kind(kind)
    if distortions[0].stage == 0:
        maps = f"M (larger = worse): {meaning.detail}."
        pooling = (
            f"official {meaning.display}: its plain spatial means. {name}+{kind}: each mean taken as "
            "Σ A·v / Σ A with A bilinear on the map's grid (Eq. 7)."
        )
        source = "of the images' L2-pooled VGG16 relu3_3 and relu4_3 features"
    else:
        maps = "M₃, M₄ (larger = worse): " + meaning.detail.format(layer="relu3_3 (M₃) and relu4_3 (M₄)") + "."
        pooling = (
            f"official {meaning.display}: plain spatial means at every stage. {name}+{kind}: the means at "
            "stage 3 weighted by A₃, at stage 4 by A₄ (Eq. 8); the other stages unchanged."
        )
        source = f"of {meaning.display}'s own relu3_3 and relu4_3 features"
    if kind == "mic":
        source += " (one MIC of their channel means)"
    attention = (
        f"A = {attention_is} per 7×7 patch {source}: high where the distorted features depend "
        "little on the reference's, i.e. where the distortion counts more."
    )
    return "\n\n".join(textwrap.fill(text, width) for text in (maps, attention, pooling))


def build_figure(ref: torch.Tensor, dist: torch.Tensor, metric: str, kind: str = "smic") -> Figure:
    """The figure for the first pair of ``ref``, ``dist`` (N, 3, H, W) in [0, 1] (see the module
    docstring). Each panel carries its key as label: ``reference``, ``distorted``, ``overlay``,
    ``notes``, ``distortion`` (``distortion_3`` and ``distortion_4`` for the deep metrics),
    ``attention_3``, ``attention_4``, ``attention``; colourbars are labelled ``colorbar:<key>``."""
    ref, dist = ref[:1], dist[:1]
    enhanced = create_metric(metric, attention=kind, device=ref.device)
    assert isinstance(enhanced, PaperSMIC)  # the paper variant, which tells what it attended
    with torch.inference_mode():
        official_scores, maps = enhanced.base.maps(ref, dist)
        smic_scores, attention = enhanced.explain(ref, dist)
    name = enhanced.base.name
    meaning = _meaning(name)
    distortions = _distortion_maps(name, maps, enhanced.map_stages, _by_stage(enhanced.base))
    height, width = ref.shape[-2:]
    extent = (0, width, height, 0)  # every map drawn over the image it describes

    attention_name, attention_is = _attention_kind(kind)
    stage_maps = {s: a[0].cpu().numpy() for s, a in attention.stages.items()}
    combined = attention.combined((height, width))[0].cpu().numpy()
    # one scale for A_3, A_4 and their mean (which lies between them): cells compare across panels
    low, high = min(a.min() for a in stage_maps.values()), max(a.max() for a in stage_maps.values())
    shared = Normalize(vmin=float(low), vmax=float(high))

    columns = len(distortions) + len(stage_maps) + 1
    # panels about 3.5 in wide; the height leaves room for titles and colourbars below both rows
    figure = plt.figure(figsize=(3.7 * columns, 2 * 3.5 * height / width + 1.9), layout="constrained")
    grid = figure.add_gridspec(2, columns)
    axes = [[figure.add_subplot(grid[row, col]) for col in range(columns if row else 3)] for row in range(2)]
    notes = figure.add_subplot(grid[0, 3:])

    axes[0][0].imshow(_image(ref), extent=extent)
    _plain(axes[0][0], "reference", "reference")
    axes[0][1].imshow(_image(dist), extent=extent)
    _plain(axes[0][1], "distorted", "distorted")
    overlay = axes[0][2]
    overlay.imshow(_image(dist).mean(axis=2), cmap="gray", vmin=0, vmax=1, extent=extent)
    overlay.imshow(combined, cmap=ATTENTION_CMAP, norm=shared, alpha=0.5, extent=extent)
    levels = np.linspace(float(low), float(high), 6)[1:-1]
    centres = np.arange(width) + 0.5, np.arange(height) + 0.5
    contours = overlay.contour(*centres, combined, levels=levels, colors="white", linewidths=0.8)
    overlay.clabel(contours, fontsize=6.5, fmt="%.2f")
    _plain(overlay, f"distorted + A = (A₃ + A₄)/2\n({attention_name}; contours: A values)", "overlay")
    notes.axis("off")
    notes.set_label("notes")
    notes.text(
        0.0,
        1.0,
        _notes(name, meaning, distortions, kind, width=int(52 * (columns - 3))),
        va="top",
        ha="left",
        fontsize=8.5,
        transform=notes.transAxes,
    )

    bottom = axes[1]
    for axis, distortion in zip(bottom, distortions):
        values, norm, scale_text, extend = _scaled(distortion.values, meaning.scale)
        h, w = values.shape
        shown = axis.imshow(
            values, cmap=DISTORTION_CMAP, norm=norm, extent=_extent((h, w), height, width), interpolation="nearest"
        )
        axis.set(xlim=(0, width), ylim=(height, 0))
        symbol = "M" if distortion.stage == 0 else f"M{_sub(distortion.stage)}"
        key = "distortion" if distortion.stage == 0 else f"distortion_{distortion.stage}"
        _plain(axis, f"{symbol}: {meaning.title.format(s=distortion.stage)}\n{h}×{w}, {scale_text}", key)
        # colourbars below their panels keep the columns of both rows aligned
        bar = figure.colorbar(shown, ax=axis, extend=extend, location="bottom", shrink=0.8, aspect=25)
        bar.set_label(f"{meaning.quantity} ({'log' if meaning.scale == 'log' else 'linear'})", fontsize=8)
        bar.ax.set_label(f"colorbar:{key}")

    attention_axes = bottom[len(distortions) :]
    for axis, (stage, values) in zip(attention_axes, stage_maps.items()):
        axis.imshow(values, cmap=ATTENTION_CMAP, norm=shared, extent=extent, interpolation="nearest")
        h, w = values.shape
        _plain(axis, f"A{_sub(stage)} = {attention_is}, relu{stage}_3\n{h}×{w} patches (nearest)", f"attention_{stage}")
    axis = attention_axes[-1]
    shown = axis.imshow(combined, cmap=ATTENTION_CMAP, norm=shared, extent=extent)
    use = "weights M" if distortions[0].stage == 0 else "shown only: Eq. 8 uses A₃, A₄"
    _plain(axis, f"A = (A₃ + A₄)/2, bilinear\n({use})", "attention")
    bar = figure.colorbar(shown, ax=attention_axes, location="bottom", shrink=0.6, aspect=50)
    bar.set_label(f"A = {attention_is} (higher: counts more)", fontsize=8)
    bar.ax.set_label("colorbar:attention")

    official, enhanced_score = float(official_scores[0]), float(smic_scores[0])
    direction = "lower" if enhanced.lower_better else "higher"
    figure.suptitle(
        f"{meaning.display}: official {format_score(official)}, {name}+{kind} {format_score(enhanced_score)} "
        f"({direction} is better); attention: {attention_name}",
        fontsize=12,
    )
    return figure


def draw_panel(
    ref: torch.Tensor, dist: torch.Tensor, metric: str, out: str | Path, kind: str = "smic", *, dpi: int = 100
) -> Path:
    """Save :func:`build_figure` of the pair as a PNG at ``out`` and return its path."""
    figure = build_figure(ref, dist, metric, kind)
    out = Path(out)
    try:
        figure.savefig(out, dpi=dpi)
    finally:
        plt.close(figure)
    return out

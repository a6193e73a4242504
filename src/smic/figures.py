"""The paper's Fig. 5 panel for one pair: images, distortion map, attention, rectified map."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from smic.attention import attention_map, resize_linear
from smic.spec import create_metric


def distortion_map(name: str, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """The official metric's local distortion map that attention pools, (h, w), larger = worse.

    PSNR: squared error; SSIM: 1 - SSIM; deep metrics: their stage-3 map.
    """
    metric = create_metric(name, device=ref.device)
    _, maps = metric.maps(ref, dist)
    stages = metric.map_stages
    local = maps[stages.index(3) if 3 in stages else 0][0, 0].double()
    return 1 - local if name == "ssim" else local


def draw_panel(ref: torch.Tensor, dist: torch.Tensor, metric: str, out: str | Path, kind: str = "smic") -> Path:
    """Save reference, distorted, distortion map M, attention A_3 and A_4, and M x A as one PNG."""
    distortion = distortion_map(metric, ref, dist)
    attention, _ = attention_map(ref, dist, kind=kind)
    grid = (distortion.shape[-2], distortion.shape[-1])  # distortion is (h, w)
    combined = resize_linear(attention.combined(), grid)[0]
    panels = [
        ("reference", ref[0].permute(1, 2, 0).cpu(), None),
        ("distorted", dist[0].permute(1, 2, 0).cpu(), None),
        (f"{metric} distortion map", distortion.cpu(), "viridis"),
        (f"attention stage 3 ({kind})", resize_linear(attention.stages[3], grid)[0].cpu(), "magma"),
        (f"attention stage 4 ({kind})", resize_linear(attention.stages[4], grid)[0].cpu(), "magma"),
        ("rectified map (M x A)", (distortion * combined.to(distortion)).cpu(), "viridis"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for axis, (title, image, cmap) in zip(axes, panels):
        shown = axis.imshow(image.numpy(), cmap=cmap)
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
        if cmap is not None:
            figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04)
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out

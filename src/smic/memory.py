"""Will a batch fit? The memory a metric config needs for N pairs of H x W, against what the device
has free, checked before a run so that a pair too large is one line with the way out, not an
allocation failure.

The figures are the peak resident memory per pixel of one (ref, dist) pair in float32, measured on
the CPU at 512x512 and 1024x1024 (``ru_maxrss`` over a warm call, the larger of the two), rounded
up. They are dominated by VGG16's stage-1 activations (64 channels at full size) for the deep
metrics and by the attention's L2-pooled VGG16 for every paper ``+smic`` form; the authors' forms
first resize the pair to about 2/3 of its shorter side. A CUDA device holds about the same tensors.
"""

from __future__ import annotations

import os

import torch

from smic.spec import MetricSpec

__all__ = ["BYTES_PER_PIXEL", "check_fits", "free_bytes", "needed_bytes"]

# peak bytes per pixel of one pair, official forms (see the module docstring)
BYTES_PER_PIXEL = {
    "psnr": 72,
    "ssim": 224,
    "ms_ssim": 300,
    "vif": 505,
    "fsim": 715,
    "nlpd": 280,
    "mad": 805,
    "lpips": 2160,
    "dists": 1590,
    "deepwsd": 565,
    "pieapp": 6190,
}
# what a paper form adds when its attention runs its own L2-pooled VGG16 on the images
ATTENTION_BYTES_PER_PIXEL = 1600
AUTHORS_AREA = 0.45  # (2/3)^2: the authors' resize of the shorter side
MARGIN = 1.25


def needed_bytes(spec: MetricSpec, batch: int, height: int, width: int) -> int:
    """Estimated peak memory of ``spec`` on ``batch`` pairs of ``height`` x ``width``."""
    per_pixel = BYTES_PER_PIXEL[spec.name]
    if spec.attention is not None and spec.metric_class.attention_source == "images":
        per_pixel += ATTENTION_BYTES_PER_PIXEL
    if spec.form == "authors":
        per_pixel = int((per_pixel + ATTENTION_BYTES_PER_PIXEL) * AUTHORS_AREA)
    return int(MARGIN * per_pixel * batch * height * width)


def free_bytes(device: torch.device) -> int:
    """Memory free now: the CUDA device's, or the CPU's available memory (MemAvailable)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _gb(size: float) -> str:
    return f"{size / 2**30:.1f} GB"


def check_fits(spec: MetricSpec, batch: int, height: int, width: int, device: torch.device) -> None:
    """Raise ``ValueError`` naming the config, the size and the ways out when the estimate is over
    what ``device`` has free."""
    need, free = needed_bytes(spec, batch, height, width), free_bytes(device)
    if need <= free:
        return
    ways = [] if batch == 1 else ["a smaller --batch-size"]
    ways += ["smaller images (--max-pixels refuses larger ones)"]
    if device.type == "cuda":
        ways.append("--device cpu, where the machine has more memory")
    raise ValueError(
        f"{spec.label} on {batch} pair(s) of {width}x{height} needs about {_gb(need)} "
        f"but {device} has {_gb(free)} free: use {' or '.join(ways)}"
    )

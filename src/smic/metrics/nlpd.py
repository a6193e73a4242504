"""NLPD (Laparra, Balle, Berardino and Simoncelli 2016): distance in a normalised Laplacian pyramid

Each grey image goes through a six-level Laplacian pyramid (Burt and Adelson's 5-tap binomial-like
filter f = (0.05, 0.25, 0.4, 0.25, 0.05), used as the separable 5x5 kernel f'f), and every level
b is divided by a local estimate of its amplitude,

    y_b = z_b / (sigma_b + P_b * |z_b|),

with the constants the authors fitted on the McGill data (``SIGMAS`` and the small neighbourhood
filters ``DN_FILTERS``, which weight the 4 (level 1: 5) nearest neighbours of a coefficient).
The distance is the root mean square difference per level, averaged over the six levels:

    NLPD(x, x') = (1/6) sum_b ( mean over level b of (y_b - y'_b)^2 )^(1/2).

This is the official ``NLP_dist.m`` (its output ``DMOS_Lap_dn2``): exponent 2 inside each level
and a plain mean over the levels. The paper's general form raises the per-level norm to a power
beta / alpha before the mean (the text quotes alpha = 2 and beta = 0.6); the published code does
not, and the official TID2013 values are reproduced only with beta = 1 (each level's RMS raised
to 0.6 before the mean gives I03 0.674 instead of 0.562). ``beta`` is exposed for that variant;
the default is the code's.

The steps of ``NLP_dist.m``, reproduced in float64:
- input: the grey image in [0, 1]. Colour pairs are converted as for the official TID2013 runs of
  the other MATLAB metrics: MATLAB's ``rgb2gray`` rounded to uint8, divided by 255
  (``matlab_rgb2gray``). With it all five official values agree to 4e-16 (float64 input; float32
  input gives float32 scores, within 1e-8); the Y channel of
  YCbCr is off by 0.006-0.05 and an unrounded grey by up to 6e-4. A 1-channel input to the
  functional form is taken as that grey image already.
- analysis: ``imfilter(J, f'f, 'symmetric')`` (the border mirrored including the edge sample),
  then every other sample from the first: ceil(H/2) x ceil(W/2).
- synthesis: the low-pass level padded by one replicated sample, zeros inserted (values x4),
  ``imfilter`` with zero borders, then cropped to the finer level's size; the band is the finer
  level minus that. The sixth level is the low-pass residual itself.
- normalisation: ``conv2(|z|, F2, 'same')`` (true convolution, zero borders, 5x5 filters).

Local maps (one per level, (N, 1, h_b, w_b) with h_1 = H and h_{b+1} = ceil(h_b / 2); for 384x512:
384x512, 192x256, 96x128, 48x64, 24x32, 12x16): the per-pixel squared difference (y_b - y'_b)^2
of the normalised coefficients, so that each level's term is the square root of its spatial
mean. With ``pool`` (the paper variant) that mean is the attention-weighted ``pool.mean(0, map)``;
constant attention gives the plain score.

Sizes: every level that is filtered and decimated must be at least 2 px per side, so that the
filter's 2-px mirrored border (b a | a b | b a) exists; the fifth level, the last one decimated,
is ceil(H / 16) px, hence ``min_size`` = 17 (the sixth level is then 1 px).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from smic.metrics.base import Metric, ScoreAndMaps
from smic.metrics.grey import to_grey
from smic.pooling import PLAIN, Pool
from smic.registry import register

LEVELS = 6
#: the 1-D pyramid filter of Burt and Adelson (1983), as in NLP_dist.m
PYRAMID_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)
#: the additive constants sigma_b of the divisive normalisation, levels 1..6
SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: the nonzero entries (row, column) -> weight of the 5x5 normalisation filters F2, levels 1..6
DN_FILTERS = (
    {(1, 2): 0.1011, (2, 1): 0.1493, (2, 3): 0.1460, (2, 4): 0.0072, (3, 2): 0.1015},
    {(1, 2): 0.0757, (2, 1): 0.1986, (2, 3): 0.1846, (3, 2): 0.0837},
    {(1, 2): 0.0477, (2, 1): 0.2138, (2, 3): 0.2243, (3, 2): 0.0467},
    {(2, 1): 0.2503, (2, 3): 0.2616},
    {(2, 1): 0.2598, (2, 3): 0.2552},
    {(2, 1): 0.2215, (2, 3): 0.0717},
)


def min_size_for(levels: int = LEVELS) -> int:
    """The smallest side for which every decimated level is >= 2 px: ceil(H / 2^(levels-2)) >= 2."""
    return 2 ** (levels - 2) + 1


def pyramid_kernel(dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """The separable 5x5 low-pass kernel f'f as a (1, 1, 5, 5) conv weight (symmetric: no flip needed)."""
    taps = torch.tensor(PYRAMID_TAPS, dtype=dtype, device=device)
    return torch.outer(taps, taps).view(1, 1, 5, 5)


def normalisation_kernels(
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> list[torch.Tensor]:
    """The filters F2 of each level as (1, 1, 5, 5) weights for ``conv2d`` (a correlation), i.e.
    rotated by 180 degrees so that the result is MATLAB's ``conv2``."""
    kernels = []
    for entries in DN_FILTERS:
        kernel = torch.zeros(5, 5, dtype=dtype, device=device)
        for (row, col), weight in entries.items():
            kernel[row, col] = weight
        kernels.append(kernel.flip(0, 1).view(1, 1, 5, 5))
    return kernels


def _mirror_pad(x: torch.Tensor, width: int) -> torch.Tensor:
    """MATLAB's 'symmetric' border (the edge sample repeated: ... b a | a b ...); needs sides >= width."""
    x = torch.cat([x[..., :width, :].flip(-2), x, x[..., -width:, :].flip(-2)], dim=-2)
    return torch.cat([x[..., :width].flip(-1), x, x[..., -width:].flip(-1)], dim=-1)


def _reduce(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Low-pass with mirrored borders, then keep rows and columns 1, 3, 5, ... (MATLAB indexing)."""
    return F.conv2d(_mirror_pad(x, 2), kernel, groups=x.shape[1])[..., ::2, ::2]


def _expand(low: torch.Tensor, size: tuple[int, int], kernel: torch.Tensor) -> torch.Tensor:
    """The low-pass level brought back to ``size``: one replicated border sample, zeros inserted
    between samples (the kept ones x4), zero-bordered low-pass, border and overhang cropped."""
    padded = F.pad(low, (1, 1, 1, 1), mode="replicate")
    n, c, h, w = padded.shape
    spread = padded.new_zeros(n, c, 2 * h, 2 * w)
    spread[..., ::2, ::2] = 4 * padded
    smooth = F.conv2d(spread, kernel, padding=2, groups=c)
    return smooth[..., 2 : 2 + size[0], 2 : 2 + size[1]]


def laplacian_pyramid(image: torch.Tensor, levels: int = LEVELS) -> list[torch.Tensor]:
    """Band-pass levels 1..levels-1 (finest first) and the low-pass residual, of (N, C, H, W)."""
    kernel = pyramid_kernel(image.dtype, image.device).expand(image.shape[1], 1, 5, 5)
    bands, current = [], image
    for _ in range(levels - 1):
        low = _reduce(current, kernel)
        bands.append(current - _expand(low, (current.shape[-2], current.shape[-1]), kernel))
        current = low
    bands.append(current)
    return bands


def normalised_pyramid(image: torch.Tensor) -> list[torch.Tensor]:
    """The six levels z_b / (sigma_b + conv2(|z_b|, F2_b, 'same')) of a (N, C, H, W) image."""
    channels = image.shape[1]
    kernels = normalisation_kernels(image.dtype, image.device)
    return [
        band / (sigma + F.conv2d(band.abs(), kernel.expand(channels, 1, 5, 5), padding=2, groups=channels))
        for band, sigma, kernel in zip(laplacian_pyramid(image), SIGMAS, kernels)
    ]


def nlpd(
    ref: torch.Tensor,
    dist: torch.Tensor,
    beta: float = 1.0,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """NLPD per image (lower is better, 0 for identical images) of (N, 3, H, W) pairs in [0, 1]
    (or grey (N, 1, H, W)); with ``pool`` each level's spatial mean is attention-weighted.
    ``beta`` = 1 is NLP_dist.m; the level terms are raised to ``beta`` before the mean."""
    if ref.shape != dist.shape:
        raise ValueError(f"size mismatch: ref is {tuple(ref.shape)}, dist is {tuple(dist.shape)}")
    if min(ref.shape[-2:]) < min_size_for():
        raise ValueError(
            f"NLPD's {LEVELS}-level pyramid needs images of at least {min_size_for()} px per side, "
            f"got {ref.shape[-2]}x{ref.shape[-1]}"
        )
    terms, maps = [], []
    for y_ref, y_dist in zip(
        normalised_pyramid(to_grey(ref, "NLPD", scale=1.0)), normalised_pyramid(to_grey(dist, "NLPD", scale=1.0))
    ):
        local = (y_ref - y_dist).pow(2)  # (N, 1, h_b, w_b)
        mean = pool.mean(0, local)  # (N, 1)
        terms.append(mean[:, 0].sqrt() ** beta)
        maps.append(local.to(ref.dtype))
    score = torch.stack(terms).mean(dim=0).to(ref.dtype)
    return (score, maps) if return_maps else score


@register
class NLPD(Metric):
    """Normalised Laplacian pyramid distance: the official NLP_dist.m on rgb2gray input."""

    name = "nlpd"
    lower_better = True
    score_range = (0.0, float("inf"))
    map_stages = (0,) * LEVELS
    min_size = min_size_for()

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.beta = beta

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        return (
            "nlpd: NLP_dist.m's input is MATLAB's rgb2gray rounded to 8 bits, so it has no gradient "
            "(no option avoids it); the functional smic.metrics.nlpd.nlpd on a (N, 1, H, W) grey "
            "image in [0, 1] is differentiable"
        )

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return nlpd(ref, dist, self.beta, return_maps, pool)

"""VIF (Sheikh and Bovik 2006): visual information fidelity in the wavelet domain

The reference is modelled as a Gaussian scale mixture (GSM) in a steerable pyramid, the
distortion as a gain g and an additive noise of variance v per local block, and both images are
seen through a visual noise of variance sigma_n^2. Per subband and per block b,

    num_b = sum_k log2(1 + g_b^2 s_b^2 lambda_k / (v_b + sigma_n^2)),
    den_b = sum_k log2(1 + s_b^2 lambda_k / sigma_n^2),

(lambda_k the eigenvalues of the covariance C_U of the 3x3 coefficient neighbourhoods, s_b^2 the
block's GSM multiplier), and VIF = sum of num over blocks and subbands / sum of den.

This is the official wavelet-domain code ``vifvec.m`` (with ``vifsub_est_M.m``,
``refparams_vecgsm.m``, ``ind2wtree.m``), reproduced in float64; the pixel-domain
``vifp_mscale.m`` is not what the official TID2013 values were computed with (it gives I03 0.0701
against 0.0172, I04 0.9713 against 0.9891). The steps:
- input: MATLAB's ``rgb2gray`` rounded to uint8, levels 0..255 (``matlab_rgb2gray``); a
  1-channel input to the functional form is taken as those grey levels already.
- pyramid: ``buildSpyr(im, 4, 'sp5Filters', 'reflect1')`` (Simoncelli's 6-orientation steerable
  pyramid, filters of matlabPyrTools' ``sp5Filters.m``): the image correlated with ``lo0filt``,
  then per level the six band filters and ``lofilt`` followed by keeping every other sample from
  the first; every correlation mirrors the border without repeating the edge sample ('reflect1').
  ``vifvec.m`` keeps the subbands 4, 7, 10, ..., 25 of the reversed band list, which are the
  orientations 1 and 4 (0 and 90 degrees) of the four levels; only those two filters are applied.
- distortion channel (``vifsub_est_M``, blocks of M = 3): each subband cropped to a multiple of 3,
  local sums over a w x w box (w = 17, 9, 5, 3 for levels 1..4, finest first) at the centres of
  the 3x3 blocks, g = cov / var_x, v = (var_y - g cov) / w^2, with the code's guards (tol 1e-15).
- reference (``refparams_vecgsm``): C_U from all 3x3 neighbourhoods, s^2 = u' C_U^-1 u / 9 per
  block.
- sums: each subband's block grid loses ceil(((w - 1) / 2) / 3) blocks at every border
  (3, 2, 1, 1), and sigma_n^2 = 0.4.

Local maps (two per level, finest first: the 4 numerator maps, then the 4 denominator maps, each
(N, 1, h_l, w_l)): the per-block terms num_b and den_b summed over the two orientations of the
level. For 384x512: 122x164, 60x81, 30x40, 14x19. The score is the sum of the numerator maps over
the sum of the denominator maps. With ``pool`` (the paper variant) every map's sum becomes the
attention-weighted sum h_l w_l ``pool.mean(0, map)``, so constant attention gives the plain score.

VIF is 1 for identical images and can exceed 1 for a contrast enhancement; a flat reference
(no information: den = 0) gives NaN, as in the official code.

Sizes: ``buildSpyr`` accepts 4 levels when the coarsest level is at least as large as the 9x9
``lofilt``, i.e. floor(H / 8) >= 9: ``min_size`` = 72.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from smic.metrics.base import Metric, ScoreAndMaps
from smic.metrics.grey import to_grey
from smic.pooling import PLAIN, Pool
from smic.registry import register

LEVELS = 4
BLOCK = 3
SIGMA_NSQ = 0.4
TOL = 1e-15
MIN_SIZE = 9 * 2 ** (LEVELS - 1)

# sp5Filters.m (matlabPyrTools, Simoncelli 1996), rows as printed there
LO0FILT = (
    (0.00341614, -0.01551246, -0.03848215, -0.01551246, 0.00341614),
    (-0.01551246, 0.05586982, 0.15925570, 0.05586982, -0.01551246),
    (-0.03848215, 0.15925570, 0.40304148, 0.15925570, -0.03848215),
    (-0.01551246, 0.05586982, 0.15925570, 0.05586982, -0.01551246),
    (0.00341614, -0.01551246, -0.03848215, -0.01551246, 0.00341614),
)
#: half of ``lofilt`` (the file multiplies this table by 2)
LOFILT_HALF = (
    (0.00085404, -0.00244917, -0.00387812, -0.00944432, -0.00962054, -0.00944432, -0.00387812, -0.00244917, 0.00085404),
    (-0.00244917, -0.00523281, -0.00661117, 0.00410600, 0.01002988, 0.00410600, -0.00661117, -0.00523281, -0.00244917),
    (-0.00387812, -0.00661117, 0.01396746, 0.03277038, 0.03981393, 0.03277038, 0.01396746, -0.00661117, -0.00387812),
    (-0.00944432, 0.00410600, 0.03277038, 0.06426333, 0.08169618, 0.06426333, 0.03277038, 0.00410600, -0.00944432),
    (-0.00962054, 0.01002988, 0.03981393, 0.08169618, 0.10096540, 0.08169618, 0.03981393, 0.01002988, -0.00962054),
    (-0.00944432, 0.00410600, 0.03277038, 0.06426333, 0.08169618, 0.06426333, 0.03277038, 0.00410600, -0.00944432),
    (-0.00387812, -0.00661117, 0.01396746, 0.03277038, 0.03981393, 0.03277038, 0.01396746, -0.00661117, -0.00387812),
    (-0.00244917, -0.00523281, -0.00661117, 0.00410600, 0.01002988, 0.00410600, -0.00661117, -0.00523281, -0.00244917),
    (0.00085404, -0.00244917, -0.00387812, -0.00944432, -0.00962054, -0.00944432, -0.00387812, -0.00244917, 0.00085404),
)
#: columns 1 and 4 of ``bfilts`` (49 values each, a 7x7 filter in MATLAB's column-major order)
BFILTS = (
    (
        0.00277643,
        0.00496194,
        0.01026699,
        0.01455399,
        0.01026699,
        0.00496194,
        0.00277643,
        -0.00986904,
        -0.00893064,
        0.01189859,
        0.02755155,
        0.01189859,
        -0.00893064,
        -0.00986904,
        -0.01021852,
        -0.03075356,
        -0.08226445,
        -0.11732297,
        -0.08226445,
        -0.03075356,
        -0.01021852,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.01021852,
        0.03075356,
        0.08226445,
        0.11732297,
        0.08226445,
        0.03075356,
        0.01021852,
        0.00986904,
        0.00893064,
        -0.01189859,
        -0.02755155,
        -0.01189859,
        0.00893064,
        0.00986904,
        -0.00277643,
        -0.00496194,
        -0.01026699,
        -0.01455399,
        -0.01026699,
        -0.00496194,
        -0.00277643,
    ),
    (
        -0.00277643,
        0.00986904,
        0.01021852,
        0.0,
        -0.01021852,
        -0.00986904,
        0.00277643,
        -0.00496194,
        0.00893064,
        0.03075356,
        0.0,
        -0.03075356,
        -0.00893064,
        0.00496194,
        -0.01026699,
        -0.01189859,
        0.08226445,
        0.0,
        -0.08226445,
        0.01189859,
        0.01026699,
        -0.01455399,
        -0.02755155,
        0.11732297,
        0.0,
        -0.11732297,
        0.02755155,
        0.01455399,
        -0.01026699,
        -0.01189859,
        0.08226445,
        0.0,
        -0.08226445,
        0.01189859,
        0.01026699,
        -0.00496194,
        0.00893064,
        0.03075356,
        0.0,
        -0.03075356,
        -0.00893064,
        0.00496194,
        -0.00277643,
        0.00986904,
        0.01021852,
        0.0,
        -0.01021852,
        -0.00986904,
        0.00277643,
    ),
)


def box_size(level: int) -> int:
    """The side of the box of vifsub_est_M at pyramid level 1..4 (finest first): 17, 9, 5, 3."""
    return 2 ** (LEVELS - level + 1) + 1


def _correlate(x: torch.Tensor, kernels: torch.Tensor, step: int = 1) -> torch.Tensor:
    """corrDn(x, kernel, 'reflect1', [step step]) of (N, 1, H, W) with each odd square kernel of
    (K, k, k): same-size correlation with the border mirrored without its edge sample, then every
    step-th sample from the first; (N, K, ceil(H / step), ceil(W / step))."""
    pad = kernels.shape[-1] // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), kernels.unsqueeze(1), stride=step)


def steerable_bands(image: torch.Tensor) -> list[list[torch.Tensor]]:
    """The 0- and 90-degree bands (orientations 1 and 4 of sp5Filters) of each of the 4 levels,
    finest first, of a (N, 1, H, W) float64 image."""
    options: dict[str, Any] = {"dtype": image.dtype, "device": image.device}
    lo0 = torch.tensor(LO0FILT, **options)
    lo = 2 * torch.tensor(LOFILT_HALF, **options)
    # reshape(column, 7, 7) in MATLAB fills columns first: the transpose of a row-major reshape
    bands = torch.stack([torch.tensor(column, **options).view(7, 7).T for column in BFILTS])
    current, levels = _correlate(image, lo0[None]), []
    for _ in range(LEVELS):
        oriented = _correlate(current, bands)
        levels.append([oriented[:, i : i + 1] for i in range(len(BFILTS))])
        current = _correlate(current, lo[None], step=2)
    return levels


def _block_crop(band: torch.Tensor) -> torch.Tensor:
    h, w = band.shape[-2:]
    return band[..., : h // BLOCK * BLOCK, : w // BLOCK * BLOCK]


def channel_estimates(ref: torch.Tensor, dist: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """vifsub_est_M for one subband: gain g and noise variance v at the block centres."""
    ref, dist = _block_crop(ref), _block_crop(dist)
    area = size * size
    pad = size // 2
    channels = 5
    # the five box sums at the block centres (rows and columns 2, 5, 8, ... in MATLAB's indexing),
    # taken as two strided 1-D sums
    stacked = torch.cat([ref, dist, ref * dist, ref * ref, dist * dist], dim=1)
    stacked = F.pad(stacked, (pad, pad, pad, pad), mode="reflect")[..., BLOCK // 2 :, BLOCK // 2 :]
    ones = stacked.new_ones(channels, 1, size, 1)
    sums = F.conv2d(stacked, ones, stride=(BLOCK, 1), groups=channels)
    sums = F.conv2d(sums, ones.transpose(2, 3), stride=(1, BLOCK), groups=channels)
    sum_x, sum_y, sum_xy, sum_xx, sum_yy = sums.split(1, dim=1)

    mean_x, mean_y = sum_x / area, sum_y / area
    cov = sum_xy - area * mean_x * mean_y
    var_x = (sum_xx - area * mean_x**2).clamp(min=0)
    var_y = (sum_yy - area * mean_y**2).clamp(min=0)
    gain = cov / (var_x + TOL)
    noise = (var_y - gain * cov) / area
    flat_x = var_x < TOL
    gain = torch.where(flat_x, torch.zeros_like(gain), gain)
    noise = torch.where(flat_x, var_y, noise)  # the official code uses the unnormalised sum here
    flat_y = var_y < TOL
    gain = torch.where(flat_y, torch.zeros_like(gain), gain)
    noise = torch.where(flat_y, torch.zeros_like(noise), noise)
    negative = gain < 0
    noise = torch.where(negative, var_y, noise)
    gain = gain.clamp(min=0)
    return gain, noise.clamp(min=TOL)


def reference_parameters(ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """refparams_vecgsm for one subband: the GSM multipliers s^2 per block (N, 1, h/3, w/3) and the
    eigenvalues of C_U (N, 9)."""
    ref = _block_crop(ref)
    n, _, h, w = ref.shape
    # the 9 shifted copies in MATLAB's order: column offset outer, row offset inner
    shifts = [(k, j) for j in range(BLOCK) for k in range(BLOCK)]
    neighbourhoods = torch.stack(
        [ref[:, 0, k : h - BLOCK + k + 1, j : w - BLOCK + j + 1].reshape(n, -1) for k, j in shifts], dim=1
    )  # (N, 9, P)
    centred = neighbourhoods - neighbourhoods.mean(dim=2, keepdim=True)
    covariance = centred @ centred.transpose(1, 2) / neighbourhoods.shape[2]  # (N, 9, 9)
    blocks = torch.stack([ref[:, 0, k::BLOCK, j::BLOCK].reshape(n, -1) for k, j in shifts], dim=1)
    multipliers = (torch.linalg.solve(covariance, blocks) * blocks).sum(dim=1) / BLOCK**2
    return multipliers.view(n, 1, h // BLOCK, w // BLOCK), torch.linalg.eigvalsh(covariance)


def vif(
    ref: torch.Tensor,
    dist: torch.Tensor,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """VIF per image (higher is better, 1 for identical images) of (N, 3, H, W) pairs in [0, 1]
    (or grey levels (N, 1, H, W)); with ``pool`` every map's sum is attention-weighted."""
    if ref.shape != dist.shape:
        raise ValueError(f"size mismatch: ref is {tuple(ref.shape)}, dist is {tuple(dist.shape)}")
    if min(ref.shape[-2:]) < MIN_SIZE:
        raise ValueError(
            f"VIF's {LEVELS}-level steerable pyramid needs images of at least {MIN_SIZE} px per side, "
            f"got {ref.shape[-2]}x{ref.shape[-1]}"
        )
    numerators: list[torch.Tensor] = []
    denominators: list[torch.Tensor] = []
    for level, (bands_ref, bands_dist) in enumerate(
        zip(steerable_bands(to_grey(ref, "VIF")), steerable_bands(to_grey(dist, "VIF"))), start=1
    ):
        size = box_size(level)
        crop = math.ceil((size - 1) / 2 / BLOCK)
        num: torch.Tensor | int = 0
        den: torch.Tensor | int = 0
        for band_ref, band_dist in zip(bands_ref, bands_dist):
            gain, noise = channel_estimates(band_ref, band_dist, size)
            multipliers, eigenvalues = reference_parameters(band_ref)
            inner = (slice(None), slice(None), slice(crop, -crop), slice(crop, -crop))
            gain, noise, multipliers = gain[inner], noise[inner], multipliers[inner]
            eigenvalues = eigenvalues.view(-1, 1, 1, 1, eigenvalues.shape[1])
            signal = multipliers.unsqueeze(-1) * eigenvalues  # (N, 1, h, w, 9)
            num = num + torch.log2(1 + (gain * gain / (noise + SIGMA_NSQ)).unsqueeze(-1) * signal).sum(-1)
            den = den + torch.log2(1 + signal / SIGMA_NSQ).sum(-1)
        assert isinstance(num, torch.Tensor) and isinstance(den, torch.Tensor)  # bands_ref is not empty
        numerators.append(num)
        denominators.append(den)
    maps = numerators + denominators

    def total(local: torch.Tensor) -> torch.Tensor:  # (N,)
        if pool.weights(0, (local.shape[-2], local.shape[-1])) is None:
            return local.sum(dim=(1, 2, 3))
        return pool.mean(0, local)[:, 0].double() * local.shape[-2] * local.shape[-1]

    score = sum(total(m) for m in numerators) / sum(total(m) for m in denominators)
    assert isinstance(score, torch.Tensor)
    score, maps = score.to(ref.dtype), [m.to(ref.dtype) for m in maps]
    return (score, maps) if return_maps else score


@register
class VIF(Metric):
    """Visual information fidelity: the official wavelet-domain vifvec.m on rgb2gray input."""

    name = "vif"
    lower_better = False
    score_range = (0.0, float("inf"))
    map_stages = (0,) * (2 * LEVELS)
    min_size = MIN_SIZE

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        return (
            "vif: vifvec.m's input is MATLAB's rgb2gray rounded to 8 bits, so it has no gradient "
            "(no option avoids it); the functional smic.metrics.vif.vif on (N, 1, H, W) grey "
            "levels 0..255 is differentiable"
        )

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return vif(ref, dist, return_maps, pool)

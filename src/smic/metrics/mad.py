"""MAD (Larson and Chandler 2010): most apparent distortion

Two strategies are measured and blended according to how visible the distortion is:

- detection (high quality, ``d_detect``): the images go to perceived lightness, are filtered by a
  contrast sensitivity function, and the visibility of the error is judged against the local
  contrast of the reference (masking) per 16x16 block (stride 4); the visibility mask weights the
  local mean squared error. ``d_detect = 200 sqrt(mean of map^2)``.
- appearance (low quality, ``d_appear``): 5 scales x 4 orientations of log-Gabor filters; per
  16x16 block (stride 4) the standard deviation, skewness and kurtosis of the magnitudes are
  compared, ``|d std| + 2 |d skew| + |d kurt|``, weighted. ``d_appear = sqrt(mean of eta^2)``.
- blend: ``MAD = d_detect^alpha d_appear^(1 - alpha)``, ``alpha = 1 / (1 + beta1 d_detect^beta2)``
  with ``beta1 = exp(-2.55 / 3.35)`` (0.467) and ``beta2 = 1 / (3.35 ln 10)`` (0.130).

Two conventions (``convention=``):

``"calibrated"`` (the default) reproduces the TID2013 values of ``official_values.json``. Those
values (pyiqa's ResultsCalibra ``results_official.csv``, added in its commit 7ab0956 of
2023-09-12) are not outputs of the authors' MATLAB: pyiqa's own table labels them "MAD (ours
imported)" with the note that the original MATLAB script was not available to them. They are
pyiqa's ``mad_arch.py`` as of its commit cf84ffb (``test_y_channel=False``): every RGB channel
times 255 is scored on its own and the three MADs are averaged. On grey input (rgb2gray) the
chroma-only distortions I04 and I06 give MAD 0 in both that code and MAD_index.m, against the
published 80.8379 and 30.3918. Reproduced here in float64: all five values within 7.2e-7
relative. What that computation does, step by step (it differs from MAD_index.m in each marked
point):
- lightness ``0.02874 (v + 1e-12)^(2.2/3)`` of the levels v (no uint8 table);
- CSF: MAD_index.m's ``make_csf`` on the (H, W) grid (frequencies scaled by W, in float32), but
  transposed to (W, H) and read back row by row as (H, W) (*), applied to the centred spectrum;
- block statistics on the grid of the 16x16 blocks at a stride of 4 (no painting on pixels, no
  border cut (*)): mean, population std ``sqrt(var + 1e-12)`` (*), skewness and excess kurtosis of
  the z-scores; each statistic, computed as (N, blocks, C), is reshaped to (N, C, rows, cols),
  which interleaves channels and block positions for C = 3 (*); the identity for C = 1;
- the reference's contrast uses the least std of the (reshaped) block and its neighbours above
  and to the left, halved (*), with ``log|(std + 1e-12) / (mean + 1e-12)|``; blocks of mean < 0.5
  get ``C_err = -1000``; the mask as in MAD_index.m;
- local MSE: the 16x16 box mean of the squared level difference at a stride of 4 (not reshaped);
- appearance: Kovesi's filters with MAD_index.m's parameters (the radius fudge is written one
  sample below and right of the centre (*), the centre is zeroed), magnitudes
  ``sqrt(re^2 + im^2 + 1e-12)``, and the weights (0.5, 0.75, 1, 5) / 13.25 indexed by the
  orientation, every scale weighted alike (*);
- MAD per channel from that channel's d_detect and d_appear, then the mean over the channels.
Local maps: the detection map (200 mask lmse) and the appearance map on the block grid
(N, C, rows, cols), rows = (H - 16) // 4 + 1 (for 384x512: 93x125), in the reshaped order; for
C = 3 a map's channel is therefore not a spatial image of one colour channel, so attention
pooling (``pool``) is spatially meaningful with this convention only on 1-channel input.

``"matlab"`` is the authors' ``MAD_index.m`` (Eric Larson; ``hi_index``, ``lo_index``, the mex
helpers ``ical_std.c`` and ``ical_stat.c``) with the 2011 release's factor 200 on ``d_detect``.
It gives I03 152.72, I04 0, I06 0, I08 88.07, I19 113.85 on these pairs (no published MATLAB
values to check against).
The matlab convention, reproduced in float64:
- input: MATLAB's ``rgb2gray`` rounded to uint8, levels 0..255 (``matlab_rgb2gray``); a 1-channel
  input to the functional form is taken as those grey levels already.
- lightness: ``L = 0.02874 v^(2.2/3)`` looked up in a table indexed with ``v + 1`` computed in
  uint8, which saturates: the level 255 gets the entry of 254.
- CSF: the spectrum (``fftshift(fft2(L))``) multiplied by ``make_csf``: on the half-integer grid
  (u, v) = (r - H/2 + 1/2, c - W/2 + 1/2), f = 64 |(u, v)| / W / (0.15 cos(4 theta) + 0.85),
  CSF = 2.6 (0.0192 + 0.114 f) exp(-(0.114 f)^1.1), and 0.9809 where f < 7.8909; the real part
  of the inverse transform is kept.
- block statistics (blocks of 16 at a stride of 4, i.e. top-left corners 0, 4, ..., each value
  painted on the 4x4 tile at the block's corner; pixels beyond the last tile stay 0): the error's
  standard deviation (divisor 255) and the reference's mean over the 16x16 block, and the
  reference's "minimum" standard deviation: the 8x8 standard deviation (divisor 63) at the block
  corner and at the corners 4 px to the right / below, taken only when the corner + 5 is below
  side - 15 (the mex code's guard).
- mask: with C_ref = log(std_min / mean), C_err = log(std_err / mean) (-inf where mean < 0.5),
  mask = C_err - C_ref where C_ref > -5 and C_err > C_ref (slope 1: -5 + (C_ref + 5)),
  mask = C_err + 5 where C_ref <= -5 and C_err > -5, 0 elsewhere.
- the local MSE: ``imfilter((ref - dst).^2, ones(16)/256, 'symmetric', 'same', 'conv')``; for an
  even window MATLAB's centre is the 8th tap, so the box covers offsets -7..+8.
- appearance: Kovesi's ``gaborconvolve`` as altered by Larson: wavelengths 3, 9, 27, 81, 243,
  sigmaOnf 0.55, dThetaOnSigma 1.5, orientations k pi / 4, applied by FFT; the 16x16 statistics
  (std divisor 255, skewness and kurtosis with the population moments, 0 for a flat block) of the
  magnitudes are painted on 4x4 tiles as above, and the local map is
  sum over scales and orientations w_s (|d std| + 2 |d skew| + |d kurt|).
- both maps lose their borders, rows and columns 16 .. side - 18 (0-based) kept
  (``mp(BSIZE+1:end-BSIZE-1, ...)``).

Its local maps (two, on the pixel grid of the kept interior, (N, 1, H - 33, W - 33); for 384x512:
351x479): the detection map ``200 mask lmse`` (so that ``d_detect`` is its RMS) and the appearance
map eta. With ``pool`` (the paper variant) each strategy's mean of the squared map becomes the
attention-weighted ``pool.mean(0, map^2)``; constant attention gives the plain score.

MAD is 0 for identical images in both conventions (both strategies are 0 and alpha = 1). Sizes:
the matlab convention's kept interior needs H, W >= 34; ``min_size`` = 34 for both.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from smic.metrics.base import Metric, ScoreAndMaps
from smic.metrics.grey import rounding_note, to_grey
from smic.metrics.mad_blocks import (
    BLOCK,
    LIGHTNESS_GAMMA,
    LIGHTNESS_K,
    MIN_WAVELENGTH,
    MULT,
    ORIENTATIONS,
    SCALES,
    SIGMA_ON_F,
    STRIDE,
    angular_spread,
    block_moments,
    block_statistics,
    contrast_sensitivity,
    csf_filter,
    csf_on_grid,
    frequency_grid,
    interior,
    lightness,
    log_gabor_filters,
    minimum_std,
    paint,
    symmetric_pad,
)
from smic.pooling import PLAIN, Pool
from smic.registry import register

MIN_SIZE = 2 * BLOCK + 2
CONVENTIONS = ("calibrated", "matlab")
DETECT_SCALE = 200.0
THRESH_1, THRESH_2 = 2.55, 3.35
BETA_1 = math.exp(-THRESH_1 / THRESH_2)
BETA_2 = 1.0 / (math.log(10.0) * THRESH_2)

# detection
MEAN_FLOOR = 0.5  # G: blocks of the reference darker than this are not judged
C_SLOPE, CI_THRESH, CD_THRESH = 1.0, -5.0, -5.0

# appearance
SCALE_WEIGHTS = (0.5, 0.75, 1.0, 5.0, 6.0)


def local_mse(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """imfilter((ref - dist).^2, ones(16) / 256, 'symmetric', 'same', 'conv'): the box covers the
    offsets -7..+8 around each pixel."""
    before = (BLOCK + 1) // 2 - 1
    squared = symmetric_pad((ref - dist).pow(2), before, BLOCK - 1 - before)
    return F.avg_pool2d(squared, BLOCK, stride=1)


def visibility(c_ref: torch.Tensor, c_err: torch.Tensor) -> torch.Tensor:
    """How far the log error contrast c_err lies above the visibility threshold, which is flat
    (CD_THRESH) up to the log reference contrast CI_THRESH and rises with slope C_SLOPE after; 0 below."""
    line = C_SLOPE * (c_ref - CI_THRESH) + CD_THRESH
    above = (c_ref > CI_THRESH) & (c_err > line)
    below = (c_ref <= CI_THRESH) & (c_err > CD_THRESH)
    return torch.where(above, c_err - line, torch.where(below, c_err - CD_THRESH, torch.zeros_like(c_err)))


def detection_map(grey_ref: torch.Tensor, grey_dist: torch.Tensor) -> torch.Tensor:
    """The detection map on the pixel grid (N, 1, H, W): mask times local MSE, times 200."""
    height, width = grey_ref.shape[-2:]
    csf = contrast_sensitivity(height, width, grey_ref.device)
    ref = csf_filter(lightness(grey_ref), csf)
    dist = csf_filter(lightness(grey_dist), csf)
    error_std = block_statistics(dist - ref)[0]
    ref_mean = block_moments(ref, BLOCK)[0]
    ref_std = minimum_std(ref)
    error_std, ref_mean, ref_std = (paint(g, height, width) for g in (error_std, ref_mean, ref_std))
    c_ref = torch.log(ref_std / ref_mean)
    c_err = torch.log(error_std / ref_mean)
    c_err = torch.where(ref_mean < MEAN_FLOOR, torch.full_like(c_err, -math.inf), c_err)
    return DETECT_SCALE * visibility(c_ref, c_err) * local_mse(grey_ref, grey_dist)


def appearance_map(grey_ref: torch.Tensor, grey_dist: torch.Tensor) -> torch.Tensor:
    """The appearance map eta on the pixel grid (N, 1, H, W)."""
    height, width = grey_ref.shape[-2:]
    filters = log_gabor_filters(height, width, grey_ref.device)
    spectrum_ref, spectrum_dist = torch.fft.fft2(grey_ref), torch.fft.fft2(grey_dist)
    weights = torch.tensor(SCALE_WEIGHTS, dtype=torch.float64)
    weights = weights / weights.sum()
    total: torch.Tensor | int = 0
    for s in range(SCALES):
        for o in range(ORIENTATIONS):
            magnitude_ref = torch.fft.ifft2(spectrum_ref * filters[s, o]).abs()
            magnitude_dist = torch.fft.ifft2(spectrum_dist * filters[s, o]).abs()
            std_r, skew_r, kurt_r = block_statistics(magnitude_ref)
            std_d, skew_d, kurt_d = block_statistics(magnitude_dist)
            total = total + weights[s].item() * (
                (std_r - std_d).abs() + 2 * (skew_r - skew_d).abs() + (kurt_r - kurt_d).abs()
            )
    assert isinstance(total, torch.Tensor)  # SCALES and ORIENTATIONS are not 0
    return paint(total, height, width)


# ---------------------------------------------------------------------------------------------
# The calibrated variant: the computation behind the published TID2013 calibration values

EPS = 1e-12
#: per-orientation weights of the calibrated variant (the scale weights indexed by orientation)
ORIENTATION_WEIGHTS = (0.5, 0.75, 1.0, 5.0)
WEIGHT_SUM = 13.25


def _scramble(grid: torch.Tensor) -> torch.Tensor:
    """The calibrated code's reshape of per-block statistics laid out (N, blocks, C) into
    (N, C, rows, cols): channels and block positions interleave; the identity for one channel."""
    n, c, h, w = grid.shape
    return grid.permute(0, 2, 3, 1).reshape(n, c, h, w)


def _calibrated_moments(x: torch.Tensor, higher: bool) -> tuple[torch.Tensor, ...]:
    """Mean, population std (sqrt(var + 1e-12)) and, with ``higher``, the skewness and the excess
    kurtosis of the z-scores, per 16x16 block, scrambled as the calibrated code does."""
    count = BLOCK * BLOCK
    mean, m2, m3, m4 = block_moments(x, BLOCK)
    std = (m2 / count + EPS).sqrt()
    if not higher:
        return _scramble(mean), _scramble(std)
    std2 = std * std
    return _scramble(std), _scramble(m3 / count / (std2 * std)), _scramble(m4 / count / (std2 * std2) - 3.0)


def calibrated_csf(height: int, width: int, device: torch.device) -> torch.Tensor:
    """The CSF as the calibrated code applies it: make_csf built on the (H, W) grid with the
    frequencies scaled by W, transposed to (W, H) and read back row by row as (H, W)."""
    x = torch.arange(width, dtype=torch.float64, device=device) - (width - 1) / 2
    y = torch.arange(height, dtype=torch.float64, device=device) - (height - 1) / 2
    y, x = torch.meshgrid(y, x, indexing="ij")
    csf = csf_on_grid(x, y, width)
    return csf.float().double().T.reshape(height, width)


def calibrated_detection(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """The detection map of the calibrated variant on the block grid (N, C, rows, cols), times
    200, of (N, C, H, W) levels 0..255."""
    height, width = ref.shape[-2:]
    csf = calibrated_csf(height, width, ref.device)

    def filtered(image: torch.Tensor) -> torch.Tensor:
        light = LIGHTNESS_K * (image.abs() + EPS).pow(LIGHTNESS_GAMMA / 3)
        spectrum = torch.fft.fftshift(torch.fft.fft2(light), dim=(-2, -1)) * csf
        return torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real

    light_ref, light_dist = filtered(ref), filtered(dist)
    mean_ref, std_ref = _calibrated_moments(light_ref, higher=False)
    _, std_err = _calibrated_moments(light_dist - light_ref, higher=False)
    # the least std of the block and its neighbours above and to the left, halved
    padded = F.pad(std_ref, (1, 0, 1, 0), value=math.inf)
    std_min = (
        torch.minimum(
            torch.minimum(padded[..., 1:, 1:], padded[..., :-1, 1:]),
            torch.minimum(padded[..., 1:, :-1], padded[..., :-1, :-1]),
        )
        / 2
    )
    c_ref = torch.log(((std_min + EPS) / (mean_ref + EPS)).abs())
    c_err = torch.log(((std_err + EPS) / (mean_ref + EPS)).abs())
    c_err = torch.where(mean_ref < MEAN_FLOOR, torch.full_like(c_err, -1000.0), c_err)
    lmse = F.avg_pool2d((ref - dist).pow(2), BLOCK, stride=STRIDE)
    return DETECT_SCALE * visibility(c_ref, c_err) * lmse


def calibrated_gabor_filters(height: int, width: int, device: torch.device) -> torch.Tensor:
    """The calibrated code's log-Gabor filters (ORIENTATIONS, SCALES, H, W), quadrants swapped."""
    radius, sin_t, cos_t = frequency_grid(height, width, device)
    # the radius fudge lands one sample below and right of the centre; the centre is zeroed after
    radius[round(height / 2 + 1) % height, round(width / 2 + 1) % width] = 1.0
    log_radius = torch.log(radius + EPS)
    radial = []
    for s in range(SCALES):
        centre_radius = (1.0 / (MIN_WAVELENGTH * MULT**s)) / 0.5
        g = torch.exp((log_radius - math.log(centre_radius)).pow(2) / -(2 * math.log(SIGMA_ON_F) ** 2))
        g[round(height / 2), round(width / 2)] = 0.0
        radial.append(g)
    return torch.stack(
        [
            torch.stack([torch.fft.fftshift(g * angular_spread(sin_t, cos_t, o)) for g in radial])
            for o in range(ORIENTATIONS)
        ]
    )


def calibrated_appearance(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """The appearance map of the calibrated variant on the block grid (N, C, rows, cols)."""
    height, width = ref.shape[-2:]
    filters = calibrated_gabor_filters(height, width, ref.device)
    spectrum_ref, spectrum_dist = torch.fft.fft2(ref), torch.fft.fft2(dist)
    total: torch.Tensor | int = 0
    for o in range(ORIENTATIONS):
        for s in range(SCALES):
            magnitude_ref = (torch.fft.ifft2(spectrum_ref * filters[o, s]).abs().pow(2) + EPS).sqrt()
            magnitude_dist = (torch.fft.ifft2(spectrum_dist * filters[o, s]).abs().pow(2) + EPS).sqrt()
            std_r, skew_r, kurt_r = _calibrated_moments(magnitude_ref, higher=True)
            std_d, skew_d, kurt_d = _calibrated_moments(magnitude_dist, higher=True)
            total = total + ORIENTATION_WEIGHTS[o] / WEIGHT_SUM * (
                (std_r - std_d).abs() + 2 * (skew_r - skew_d).abs() + (kurt_r - kurt_d).abs()
            )
    assert isinstance(total, torch.Tensor)  # SCALES and ORIENTATIONS are not 0
    return total


def flat_at_zero(op: Callable[[torch.Tensor], torch.Tensor], base: torch.Tensor) -> torch.Tensor:
    """``op(base)`` (sqrt, a power), the same values, with a zero gradient where ``base`` is 0:
    there autograd's sqrt and pow give NaN (0 x inf), while MAD is 0 (alpha = 1) and flat while
    the distortion stays invisible."""
    positive = base > 0
    safe = torch.where(positive, base, torch.ones_like(base))
    return torch.where(positive, op(safe), op(base.detach()).detach())


def to_levels(image: torch.Tensor) -> torch.Tensor:
    """The calibrated variant's input: every channel times 255 in float64 (levels 0..255)."""
    return image.double() * 255


def mad(
    ref: torch.Tensor,
    dist: torch.Tensor,
    convention: str = "calibrated",
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """MAD per image (lower is better, 0 for identical images) of (N, C, H, W) pairs in [0, 1].

    ``convention="calibrated"`` (default) is the computation behind the published TID2013 values
    (every channel x 255, one MAD per channel, their mean); ``"matlab"`` is the authors'
    MAD_index.m on rgb2gray levels (a 1-channel input is taken as grey levels 0..255). With
    ``pool`` each strategy's mean of the squared map is attention-weighted."""
    if ref.shape != dist.shape:
        raise ValueError(f"size mismatch: ref is {tuple(ref.shape)}, dist is {tuple(dist.shape)}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown MAD convention {convention!r}; expected one of {CONVENTIONS}")
    if min(ref.shape[-2:]) < MIN_SIZE:
        raise ValueError(
            f"MAD's 16x16 blocks and border need images of at least {MIN_SIZE} px per side, "
            f"got {ref.shape[-2]}x{ref.shape[-1]}"
        )
    if convention == "matlab":
        grey_ref, grey_dist = to_grey(ref, "MAD"), to_grey(dist, "MAD")
        detect = interior(detection_map(grey_ref, grey_dist))
        appear = interior(appearance_map(grey_ref, grey_dist))
    else:
        levels_ref, levels_dist = to_levels(ref), to_levels(dist)
        detect = calibrated_detection(levels_ref, levels_dist)
        appear = calibrated_appearance(levels_ref, levels_dist)

    def rms(local: torch.Tensor) -> torch.Tensor:  # (N, C)
        squared = local * local
        return flat_at_zero(torch.sqrt, pool.mean(0, squared).double())

    d_detect, d_appear = rms(detect), rms(appear)
    alpha = 1 / (1 + BETA_1 * flat_at_zero(lambda d: d.pow(BETA_2), d_detect))
    blend = flat_at_zero(lambda d: d.pow(alpha), d_detect) * flat_at_zero(lambda d: d.pow(1 - alpha), d_appear)
    score = blend.mean(dim=1).to(ref.dtype)
    maps = [detect.to(ref.dtype), appear.to(ref.dtype)]
    return (score, maps) if return_maps else score


@register
class MAD(Metric):
    """Most apparent distortion; ``convention`` "calibrated" (the published TID2013 values) or
    "matlab" (the authors' MAD_index.m on rgb2gray levels)."""

    name = "mad"
    lower_better = True
    score_range = (0.0, float("inf"))
    map_stages = (0, 0)
    min_size = MIN_SIZE

    def __init__(self, convention: str = "calibrated") -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown MAD convention {convention!r}; expected one of {CONVENTIONS}")
        self.convention = convention

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        if self.convention != "matlab":
            return None
        instead = "convention='calibrated' (the default) for a differentiable MAD"
        return rounding_note("mad", "convention='matlab'", instead)

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return mad(ref, dist, self.convention, return_maps, pool)

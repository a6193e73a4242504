"""FSIM and FSIMc (Zhang, Zhang, Mou and Zhang 2011): feature similarity from phase congruency and
gradient magnitude, as the official MATLAB ``FeatureSIM.m`` computes it.

Pipeline (all in float64 on MATLAB's 8-bit levels, 0..255):

1. YIQ: Y = .299 R + .587 G + .114 B, I = .596 R - .274 G - .322 B, Q = .211 R - .523 G + .312 B.
2. Downsampling by F = max(1, round(min(H, W) / 256)): ``conv2(X, ones(F) / F^2, 'same')`` (zero
   padding; for even F the window reaches forward, toward the bottom right) and every F-th
   sample from the first. For 384x512 images F = 2: the means of the 2x2 blocks, 192x256.
3. Phase congruency of Y (Kovesi's ``phasecong2`` as shipped with FSIM): 4 scales (wavelengths
   6, 12, 24, 48), 4 orientations, log-Gabor filters (sigmaOnf 0.55) times an angular Gaussian
   (dThetaOnSigma 1.2) times the low-pass filter 1 / (1 + (r / 0.45)^30), built on the frequency
   grid in the FFT's layout; noise threshold from the median of the smallest scale's squared
   amplitude (k = 2, divided by 1.7), epsilon 1e-4. PC = sum_o max(Energy_o - T_o, 0) / sum_o sum_s A_so.
4. Gradient magnitude with the Scharr operators [3 0 -3; 10 0 -10; 3 0 -3] / 16 and its
   transpose (``conv2 'same'``, zero padding).
5. S_PC = (2 PC1 PC2 + T1) / (PC1^2 + PC2^2 + T1), S_G likewise with T2 (T1 = 0.85, T2 = 160),
   S_L = S_PC S_G; chromatic terms S_I, S_Q with T3 = T4 = 200, S_C = S_I S_Q and
   S = S_L * real(S_C^lambda) (lambda = 0.03; S_C can be negative, MATLAB's power is then complex
   and its real part is kept); PCm = max(PC1, PC2).

   FSIM = sum(S_L PCm) / sum(PCm),   FSIMc = sum(S_L real(S_C^lambda) PCm) / sum(PCm).

``chromatic=True`` (the default, and pyiqa's "fsim") gives FSIMc. The official TID2013 values of
``official_values.json`` ("fsim") are FSIMc: on the five calibration pairs this module matches them
to the printed digits (FSIM, the grey-level index, differs in the second or third decimal).

Local map (one, on the downsampled grid, (N, 1, H/F, W/F)): the local quality map S (S_L, or
S_L real(S_C^lambda) for FSIMc); the score is its mean weighted by PCm = max(PC1, PC2). With
``pool`` (the paper variant) the score is pool.mean(0, S PCm) / pool.mean(0, PCm): the SMIC
attention multiplies the PCm weight, and constant attention gives the plain score.

A constant image has no phase congruency anywhere (every filter response is 0, so PC is 0/0):
as in MATLAB the score is then NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool
from smic.registry import register

# rows: Y, I, Q; columns: R, G, B (FeatureSIM.m)
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
# the smallest downsampled side for which the 3x3 gradient and the phase congruency filters make sense
MIN_SIZE = 8


def downsample_factor(height: int, width: int) -> int:
    """FeatureSIM.m's F = max(1, round(min(rows, cols) / 256)), MATLAB rounding (half away from 0)."""
    return max(1, math.floor(min(height, width) / 256 + 0.5))


def _average_downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``conv2(x, fspecial('average', F), 'same')`` then ``x(1:F:end, 1:F:end)`` for (N, C, H, W).

    The 'same' part of MATLAB's full convolution with an F x F kernel starts at offset
    ceil((F - 1) / 2): output (i, j) averages rows i - floor((F-1)/2) .. i + ceil((F-1)/2),
    i.e. ceil((F - 1) / 2) samples forward (toward the bottom right), zeros outside.
    """
    if factor == 1:
        return x
    back, forward = (factor - 1) // 2, factor - 1 - (factor - 1) // 2
    padded = F.pad(x, (back, forward, back, forward))
    kernel = torch.full((1, 1, factor, factor), 1.0 / factor**2, dtype=x.dtype, device=x.device)
    n, c, h, w = x.shape
    out = F.conv2d(padded.reshape(n * c, 1, *padded.shape[-2:]), kernel).reshape(n, c, h, w)
    return out[..., ::factor, ::factor]


def _centred_range(n: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """phasecong2's normalised frequency coordinates along one axis (range about +-0.5)."""
    if n % 2:
        return torch.arange(-(n - 1) / 2, (n - 1) / 2 + 1, dtype=dtype, device=device) / max(n - 1, 1)
    return torch.arange(-n / 2, n / 2, dtype=dtype, device=device) / n


def log_gabor_filters(
    rows: int,
    cols: int,
    nscale: int = 4,
    norient: int = 4,
    min_wavelength: float = 6,
    mult: float = 2,
    sigma_onf: float = 0.55,
    d_theta_on_sigma: float = 1.2,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The (nscale, norient, rows, cols) frequency-domain filters of phasecong2, zero frequency at
    index (0, 0): log-Gabor radial part (times the 0.45 / order-15 low-pass) times angular part."""
    x = _centred_range(cols, dtype, device).view(1, -1).expand(rows, cols)
    y = _centred_range(rows, dtype, device).view(-1, 1).expand(rows, cols)
    radius = torch.fft.ifftshift(torch.sqrt(x**2 + y**2))
    theta = torch.fft.ifftshift(torch.atan2(-y, x))
    lowpass = 1.0 / (1.0 + (radius / 0.45) ** 30)
    radius = radius.clone()
    radius[0, 0] = 1.0
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)

    radial = []
    for s in range(nscale):
        fo = 1.0 / (min_wavelength * mult**s)
        g = torch.exp(-(torch.log(radius / fo) ** 2) / (2 * math.log(sigma_onf) ** 2)) * lowpass
        g[0, 0] = 0.0
        radial.append(g)
    theta_sigma = math.pi / norient / d_theta_on_sigma
    angular = []
    for o in range(norient):
        angle = o * math.pi / norient
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        dtheta = torch.abs(torch.atan2(ds, dc))
        angular.append(torch.exp(-(dtheta**2) / (2 * theta_sigma**2)))
    return torch.stack(radial)[:, None] * torch.stack(angular)[None]


def _matlab_median(values: torch.Tensor) -> torch.Tensor:
    """Median over the last dimension, the two middle values averaged for an even count (MATLAB)."""
    n = values.shape[-1]
    ordered = values.sort(dim=-1).values
    if n % 2:
        return ordered[..., n // 2]
    return (ordered[..., n // 2 - 1] + ordered[..., n // 2]) / 2


def phase_congruency(
    image: torch.Tensor,
    filters: torch.Tensor | None = None,
    k: float = 2.0,
    epsilon: float = 1e-4,
) -> torch.Tensor:
    """phasecong2's phase congruency (the PC_2 measure summed over orientations) of grey images
    (N, 1, H, W) in float64 -> (N, 1, H, W)."""
    rows, cols = image.shape[-2:]
    if filters is None:
        filters = log_gabor_filters(rows, cols, dtype=image.dtype, device=image.device)
    nscale = filters.shape[0]
    spectrum = torch.fft.fft2(image[:, 0])  # (N, H, W)
    eo = torch.fft.ifft2(spectrum[:, None, None] * filters)  # (N, S, O, H, W)
    even, odd = eo.real, eo.imag
    amplitude = eo.abs()
    sum_even, sum_odd = even.sum(dim=1), odd.sum(dim=1)  # (N, O, H, W)
    sum_amplitude = amplitude.sum(dim=1)
    x_energy = torch.sqrt(sum_even**2 + sum_odd**2) + epsilon
    mean_even, mean_odd = (sum_even / x_energy)[:, None], (sum_odd / x_energy)[:, None]
    energy = (even * mean_even + odd * mean_odd - torch.abs(even * mean_odd - odd * mean_even)).sum(dim=1)

    # noise threshold per image and orientation, from the smallest scale
    em_n = (filters[0] ** 2).sum(dim=(-2, -1))  # (O,)
    median_e2n = _matlab_median((amplitude[:, 0] ** 2).flatten(-2))  # (N, O)
    noise_power = (-median_e2n / math.log(0.5)) / em_n
    spatial = torch.fft.ifft2(filters).real * math.sqrt(rows * cols)  # (S, O, H, W)
    sum_an2 = (spatial**2).sum(dim=(0, -2, -1))  # (O,)
    sum_aiaj = torch.zeros_like(sum_an2)
    for si in range(nscale - 1):
        for sj in range(si + 1, nscale):
            sum_aiaj = sum_aiaj + (spatial[si] * spatial[sj]).sum(dim=(-2, -1))
    noise_energy2 = 2 * noise_power * sum_an2 + 4 * noise_power * sum_aiaj
    tau = torch.sqrt(noise_energy2 / 2)
    threshold = (tau * math.sqrt(math.pi / 2) + k * torch.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
    energy = torch.clamp(energy - threshold[..., None, None], min=0)
    return (energy.sum(dim=1) / sum_amplitude.sum(dim=1))[:, None]


def gradient_magnitude(image: torch.Tensor) -> torch.Tensor:
    """Scharr gradient magnitude of (N, 1, H, W), ``conv2(.., 'same')`` with zero padding."""
    dx = torch.tensor([[3.0, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=image.dtype, device=image.device) / 16
    kernels = torch.stack([dx, dx.T])[:, None]  # the kernels' flip only changes the sign
    grad = F.conv2d(image, kernels, padding=1)
    return torch.sqrt((grad**2).sum(dim=1, keepdim=True))


def _similarity(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return (2 * a * b + t) / (a**2 + b**2 + t)


def fsim(
    ref: torch.Tensor,
    dist: torch.Tensor,
    chromatic: bool = True,
    t1: float = T1,
    t2: float = T2,
    t3: float = T3,
    t4: float = T4,
    lam: float = LAMBDA,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """FSIMc (``chromatic=True``) or FSIM per image of (N, 3, H, W) pairs in [0, 1] (higher is
    better, 1 for identical images). The map is the local quality map S on the downsampled grid;
    the score is its PCm-weighted mean (attention-weighted too with ``pool``)."""
    if ref.dim() != 4 or ref.shape[1] != 3 or ref.shape != dist.shape:
        raise ValueError(
            f"FSIM needs two (N, 3, H, W) images of one shape, got {tuple(ref.shape)} and {tuple(dist.shape)}"
        )
    factor = downsample_factor(*ref.shape[-2:])
    if min(ref.shape[-2:]) // factor < MIN_SIZE:
        raise ValueError(f"FSIM needs images of at least {MIN_SIZE} px per side, got {ref.shape[-2]}x{ref.shape[-1]}")
    yiq = torch.tensor(_YIQ, dtype=torch.float64, device=ref.device)

    def prepare(image: torch.Tensor) -> torch.Tensor:
        levels = torch.round(image.double() * 255)
        return _average_downsample(torch.einsum("kc,nchw->nkhw", yiq, levels), factor)

    x, y = prepare(ref), prepare(dist)
    y1, y2 = x[:, :1], y[:, :1]
    filters = log_gabor_filters(y1.shape[-2], y1.shape[-1], dtype=torch.float64, device=ref.device)
    pc1, pc2 = phase_congruency(torch.cat([y1, y2]), filters).chunk(2)
    local = _similarity(pc1, pc2, t1) * _similarity(gradient_magnitude(y1), gradient_magnitude(y2), t2)
    if chromatic:
        s_c = _similarity(x[:, 1:2], y[:, 1:2], t3) * _similarity(x[:, 2:3], y[:, 2:3], t4)
        # MATLAB's real((S_I S_Q)^lambda): |S_C|^lambda cos(lambda pi) where S_C < 0
        power = s_c.abs() ** lam * torch.where(s_c < 0, math.cos(lam * math.pi), 1.0)
        local = local * power
    weight = torch.maximum(pc1, pc2)
    if pool.weights(0, (local.shape[-2], local.shape[-1])) is not None:
        score = (pool.mean(0, local * weight) / pool.mean(0, weight))[:, 0]
    else:
        score = (local * weight).sum(dim=(-3, -2, -1)) / weight.sum(dim=(-3, -2, -1))
    score, local = score.to(ref.dtype), local.to(ref.dtype)
    return (score, [local]) if return_maps else score


@register
class FSIM(Metric):
    """Feature similarity (FeatureSIM.m); ``chromatic=True`` (default) is FSIMc, pyiqa's "fsim"."""

    name = "fsim"
    lower_better = False
    score_range = (0.0, 1.0)
    map_stages = (0,)

    def __init__(self, chromatic: bool = True) -> None:
        super().__init__()
        self.chromatic = chromatic
        # at least MIN_SIZE px per side after the downsampling (F = 1 below 384 px)
        self.min_size = MIN_SIZE

    def no_gradient(self, size: tuple[int, int] | None = None) -> str | None:
        return "fsim: FeatureSIM.m works on 8-bit levels round(255 x), so it has no gradient (no option avoids it)"

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return fsim(ref, dist, self.chromatic, return_maps=return_maps, pool=pool)

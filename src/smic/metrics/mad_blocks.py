"""MAD's building blocks (Larson and Chandler 2010), shared by both conventions of
:mod:`smic.metrics.mad`: the 16x16 block grid at a stride of 4 and its moments, painting block
values on pixels and cutting the border, the block statistics and the minimum standard deviation,
lightness, the contrast sensitivity function and its filtering, MATLAB's symmetric padding, and
the log-Gabor filter bank with its frequency grid.

Kept apart from ``mad.py`` so that the metric module holds only the two conventions' maps and the
blend; nothing here imports it. What each block reproduces of MAD_index.m is documented there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BLOCK = 16
STRIDE = 4
BORDER = BLOCK  # rows/columns dropped before the kept interior; one more is dropped at the end

# detection
LIGHTNESS_K = 0.02874
LIGHTNESS_GAMMA = 2.2
CSF_CYCLES = 32  # nfreq of make_csf
CSF_SYMMETRY = 0.7
CSF_LAMBDA, CSF_PEAK, CSF_PLATEAU = 0.114, 7.8909, 0.9809

# appearance
SCALES, ORIENTATIONS = 5, 4
MIN_WAVELENGTH, MULT = 3.0, 3.0
SIGMA_ON_F = 0.55
D_THETA_ON_SIGMA = 1.5


def block_grid(height: int, width: int, size: int = BLOCK) -> tuple[int, int]:
    """How many size x size blocks at a stride of 4 fit: (rows, columns)."""
    return (height - size) // STRIDE + 1, (width - size) // STRIDE + 1


def block_moments(x: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean and the central moments of order 2, 3, 4 (sums, not means) of every size x size block
    at corners 0, 4, 8, ... of (N, C, H, W), all that fit: four (N, C, rows, cols).

    The overlapping blocks are not written out: each 4x4 cell's mean and central sums are
    combined per block about the block mean (for a cell of k values, mean m and sums C2, C3, C4,
    d = m - mean: C2 + k d^2, C3 + 3 d C2 + k d^3, C4 + 4 d C3 + 6 d^2 C2 + k d^4), the same
    numbers as the two-pass formula up to rounding, with a sixteenth of its memory traffic."""
    if size % STRIDE:
        raise ValueError(f"block size must be a multiple of {STRIDE}, got {size}")
    n, c, height, width = x.shape
    span = size // STRIDE  # cells along a block's side
    rows, cols = block_grid(height, width, size)
    cell_rows, cell_cols = rows + span - 1, cols + span - 1
    cells = x[..., : cell_rows * STRIDE, : cell_cols * STRIDE].reshape(n, c, cell_rows, STRIDE, cell_cols, STRIDE)
    cell_mean = cells.mean(dim=(3, 5))
    deviation = cells - cell_mean[:, :, :, None, :, None]
    square = deviation * deviation
    sums = [square.sum(dim=(3, 5)), (square * deviation).sum(dim=(3, 5)), (square * square).sum(dim=(3, 5))]

    def by_block(t: torch.Tensor) -> torch.Tensor:  # (N, C, rows, cols, span, span) view
        return t.unfold(2, span, 1).unfold(3, span, 1)

    means = by_block(cell_mean)
    mean = means.mean(dim=(-2, -1))
    d = means - mean[..., None, None]
    d2 = d * d
    c2, c3, c4 = (by_block(t) for t in sums)
    k = STRIDE * STRIDE
    m2 = (c2 + k * d2).sum(dim=(-2, -1))
    m3 = (c3 + d * (3 * c2 + k * d2)).sum(dim=(-2, -1))
    m4 = (c4 + d * (4 * c3 + d * (6 * c2 + k * d2))).sum(dim=(-2, -1))
    return mean, m2, m3, m4


def paint(grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Each block value of (N, C, r, c) on its 4x4 tile of a zero (N, C, height, width) canvas."""
    tiles = grid.repeat_interleave(STRIDE, dim=-2).repeat_interleave(STRIDE, dim=-1)
    return F.pad(tiles, (0, width - tiles.shape[-1], 0, height - tiles.shape[-2]))


def interior(x: torch.Tensor) -> torch.Tensor:
    """mp(BSIZE+1:end-BSIZE-1, BSIZE+1:end-BSIZE-1): rows and columns 16 .. side - 18."""
    return x[..., BORDER : x.shape[-2] - BORDER - 1, BORDER : x.shape[-1] - BORDER - 1]


def block_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 16x16 standard deviation (divisor 255), skewness and kurtosis (population moments, 0 for
    a flat block) at the block corners: three (N, 1, r, c)."""
    count = BLOCK * BLOCK
    _, m2, m3, m4 = block_moments(x, BLOCK)
    std = (m2 / (count - 1)).sqrt()
    population = (m2 / count).sqrt()
    flat = population == 0
    safe = torch.where(flat, torch.ones_like(population), population)
    skew = torch.where(flat, torch.zeros_like(m3), m3 / count / safe**3)
    kurt = torch.where(flat, torch.zeros_like(m4), m4 / count / safe**4)
    return std, skew, kurt


def minimum_std(x: torch.Tensor) -> torch.Tensor:
    """The mex code's modified standard deviation of the reference at the block corners
    (N, 1, r, c): the least 8x8 standard deviation (divisor 63) of the corners (0, 0), (0, 4),
    (4, 0), (4, 4) of the block, a neighbour taken only where its corner + 1 < side - 15."""
    height, width = x.shape[-2:]
    rows, cols = block_grid(height, width)
    half = BLOCK // 2
    _, m2, _, _ = block_moments(x, half)
    std = (m2[..., :rows, :cols] / (half * half - 1)).sqrt()
    corners_r = torch.arange(rows, device=x.device) * STRIDE
    corners_c = torch.arange(cols, device=x.device) * STRIDE
    down_ok = (corners_r + 5 < height - 15).view(-1, 1)
    right_ok = (corners_c + 5 < width - 15).view(1, -1)
    inf = torch.full_like(std, math.inf)
    down = torch.where(down_ok, F.pad(std[..., 1:, :], (0, 0, 0, 1), value=math.inf), inf)
    right = torch.where(right_ok, F.pad(std[..., :, 1:], (0, 1), value=math.inf), inf)
    diagonal = torch.where(down_ok & right_ok, F.pad(std[..., 1:, 1:], (0, 1, 0, 1), value=math.inf), inf)
    return torch.minimum(torch.minimum(std, down), torch.minimum(right, diagonal))


def lightness(grey: torch.Tensor) -> torch.Tensor:
    """LUT(img + 1) of hi_index with the uint8 sum saturating: k min(v, 254)^(2.2/3)."""
    return LIGHTNESS_K * grey.clamp(max=254.0).pow(LIGHTNESS_GAMMA / 3)


def csf_on_grid(first: torch.Tensor, second: torch.Tensor, width: int) -> torch.Tensor:
    """make_csf's formula on frequency coordinates (first, second), scaled by the image width."""
    radius = torch.hypot(first, second) * (2 * CSF_CYCLES / width)
    theta = torch.atan2(second, first)
    radius = radius / ((1 - CSF_SYMMETRY) / 2 * torch.cos(4 * theta) + (1 + CSF_SYMMETRY) / 2)
    csf = 2.6 * (0.0192 + CSF_LAMBDA * radius) * torch.exp(-(CSF_LAMBDA * radius).pow(1.1))
    return torch.where(radius < CSF_PEAK, torch.full_like(csf, CSF_PLATEAU), csf)


def contrast_sensitivity(height: int, width: int, device: torch.device) -> torch.Tensor:
    """make_csf(H, W, 32)' on the centred (fftshift) spectrum: (H, W) float64."""
    u = torch.arange(height, dtype=torch.float64, device=device) - height / 2 + 0.5
    v = torch.arange(width, dtype=torch.float64, device=device) - width / 2 + 0.5
    u, v = torch.meshgrid(u, v, indexing="ij")
    return csf_on_grid(u, v, width)


def csf_filter(x: torch.Tensor, csf: torch.Tensor) -> torch.Tensor:
    spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)) * csf
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real


def symmetric_pad(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """MATLAB's 'symmetric' border (the edge sample repeated) on the last two dimensions."""
    for dim in (-2, -1):
        size = x.shape[dim]
        index = torch.cat(
            [torch.arange(before - 1, -1, -1), torch.arange(size), torch.arange(size - 1, size - 1 - after, -1)]
        ).to(x.device)
        x = x.index_select(dim, index)
    return x


def frequency_grid(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """gaborconvolve's normalised frequency grid: radius, sin and cos of the angle (H, W)."""
    x = (torch.arange(width, dtype=torch.float64, device=device) - width / 2) / (width / 2)
    y = (torch.arange(height, dtype=torch.float64, device=device) - height / 2) / (height / 2)
    y, x = torch.meshgrid(y, x, indexing="ij")
    theta = torch.atan2(-y, x)
    return torch.sqrt(x * x + y * y), torch.sin(theta), torch.cos(theta)


def angular_spread(sin_t: torch.Tensor, cos_t: torch.Tensor, orientation: int) -> torch.Tensor:
    """The Gaussian angular component of the log-Gabor filter of one orientation."""
    angle = orientation * math.pi / ORIENTATIONS
    ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
    dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
    theta_sigma = math.pi / ORIENTATIONS / D_THETA_ON_SIGMA
    return torch.exp(-torch.atan2(ds, dc).abs().pow(2) / (2 * theta_sigma**2))


def log_gabor_filters(height: int, width: int, device: torch.device) -> torch.Tensor:
    """gaborconvolve's filters, quadrants swapped for fft2: (SCALES, ORIENTATIONS, H, W)."""
    radius, sin_t, cos_t = frequency_grid(height, width, device)
    centre = (math.floor(height / 2 + 1 + 0.5) - 1, math.floor(width / 2 + 1 + 0.5) - 1)
    radius[centre] = 1.0
    spreads = [angular_spread(sin_t, cos_t, o) for o in range(ORIENTATIONS)]
    filters = []
    for s in range(SCALES):
        wavelength = MIN_WAVELENGTH * MULT**s
        centre_radius = (1.0 / wavelength) / 0.5
        radial = torch.exp(-torch.log(radius / centre_radius).pow(2) / (2 * math.log(SIGMA_ON_F) ** 2))
        radial[centre] = 0.0
        filters.append(torch.stack([torch.fft.fftshift(radial * spread) for spread in spreads]))
    return torch.stack(filters)

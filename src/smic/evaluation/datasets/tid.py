"""TID2013 and QADS: one ``mos_with_names.txt`` (``<MOS> <name>`` per line) beside a reference
and a distorted folder; the reference's name is derived from the distorted one's."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from smic.evaluation.datasets._layout import (
    Dataset,
    Pair,
    Resolver,
    check_counts,
    folder_index,
    found_counts,
    label_lines,
    locate_root,
    need_dir,
    need_file,
    parse_score,
)

TID_LAYOUT = "TID2013: reference_images/, distorted_images/, mos_with_names.txt"
TID_NAME = re.compile(r"i(\d\d)_(\d\d)_(\d)\.bmp", re.IGNORECASE)
QADS_LAYOUT = "QADS: source_images/, super-resolved_images/, mos_with_names.txt"


def _load_mos_with_names(
    name: str,
    root: Path | str,
    marker: str,
    folders: tuple[str, str],
    layout: str,
    reference: Callable[[str], str | None],
    pattern: str,
    expected: dict[str, int],
    strict: bool,
) -> Dataset:
    """The shared layout: ``folders`` are (distorted, reference); ``reference`` maps a distorted
    name to its reference's, or None when the name is not of the form ``pattern``."""
    root = locate_root(name, root, [marker], layout)
    label_path = need_file(name, root, ["mos_with_names.txt"], layout)
    dist_dir, ref_dir = (need_dir(name, root, [folder], layout) for folder in folders)
    ref_index, dist_index = folder_index(ref_dir), folder_index(dist_dir)
    resolver = Resolver(name)
    pairs: list[Pair] = []
    for line, text in label_lines(label_path):
        fields = text.split()
        if len(fields) != 2:
            raise ValueError(f"{name}: {label_path.name} line {line}: expected '<MOS> <name>', got {text!r}")
        ref_name = reference(fields[1])
        if ref_name is None:
            raise ValueError(f"{name}: {label_path.name} line {line}: {fields[1]!r} is not a name {pattern}")
        score = parse_score(name, label_path, line, fields[0])
        dist = resolver.find(dist_index, fields[1], dist_dir)
        pairs.append(Pair(resolver.find(ref_index, ref_name, ref_dir), dist, score))
    resolver.check()
    check_counts(name, found_counts(pairs), expected, strict)
    return Dataset(name, root, pairs, False, "MOS", label_path, "labels: mos_with_names.txt", expected)


def _tid_reference(dist_name: str) -> str | None:
    match = TID_NAME.fullmatch(dist_name)
    return None if match is None else f"i{match.group(1)}.bmp"


def load_tid2013(root: Path | str, *, strict: bool = True) -> Dataset:
    """TID2013: 3000 distorted images ``iRR_TT_L.bmp`` with MOS (higher is better, scale 0-9).

    The reference is ``iRR.bmp`` from the two digits after the leading i/I (this finds the
    lower-case ``i25.bmp`` too).
    """
    return _load_mos_with_names(
        "TID2013",
        root,
        "mos_with_names.txt",
        ("distorted_images", "reference_images"),
        TID_LAYOUT,
        _tid_reference,
        "iRR_TT_L.bmp",
        {"distorted images": 3000, "references": 25},
        strict,
    )


def load_qads(root: Path | str, *, strict: bool = True) -> Dataset:
    """QADS: 980 super-resolved images ``imgRR_S_MM.bmp`` with MOS (read as higher is better).

    Names are split from the MOS on any whitespace; the reference is ``source_images/`` + the
    name's first 5 characters + ``.bmp``.
    """
    return _load_mos_with_names(
        "QADS",
        root,
        "super-resolved_images",
        ("super-resolved_images", "source_images"),
        QADS_LAYOUT,
        lambda dist_name: dist_name[:5] + ".bmp",
        "imgRR_S_MM.bmp",
        {"distorted images": 980, "references": 20},
        strict,
    )

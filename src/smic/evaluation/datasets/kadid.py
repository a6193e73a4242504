"""KADID-10k: a ``dmos.csv`` whose ``dmos`` column, despite its name, is a MOS."""

from __future__ import annotations

from pathlib import Path

from smic.evaluation.datasets._layout import (
    Dataset,
    Pair,
    Resolver,
    check_counts,
    child,
    folder_index,
    found_counts,
    header_rows,
    locate_root,
    need_file,
    parse_score,
)

KADID_LAYOUT = "KADID-10k: images/ (or reference_images/ + distorted_images/), dmos.csv"


def load_kadid10k(root: Path | str, *, strict: bool = True) -> Dataset:
    """KADID-10k: 10125 distorted images with the ``dmos`` column, a MOS on 1-5 (higher is better).

    ``dmos.csv`` has the header ``dist_img,ref_img,dmos,var``; names are looked up in
    ``images/`` and, where users split them, ``reference_images/`` and ``distorted_images/``.
    """
    root = locate_root("KADID-10k", root, ["dmos.csv"], KADID_LAYOUT)
    label_path = need_file("KADID-10k", root, ["dmos.csv"], KADID_LAYOUT)
    folders = [f for f in (child(root, [n], True) for n in ("images", "reference_images", "distorted_images")) if f]
    if not folders:
        raise FileNotFoundError(f"KADID-10k: missing folder images/ in {root} (expected {KADID_LAYOUT})")
    index: dict[str, Path] = {}
    for folder in folders:
        for key, path in folder_index(folder).items():
            index.setdefault(key, path)
    resolver = Resolver("KADID-10k")
    pairs: list[Pair] = []
    for line, cells in header_rows(
        "KADID-10k", label_path, ("dist_img", "ref_img", "dmos"), "dist_img,ref_img,dmos,var"
    ):
        score = parse_score("KADID-10k", label_path, line, cells.get("dmos", ""))
        dist = resolver.find(index, cells.get("dist_img", ""), folders[0])
        pairs.append(Pair(resolver.find(index, cells.get("ref_img", ""), folders[0]), dist, score))
    resolver.check()
    expected = {"distorted images": 10125, "references": 81}
    check_counts("KADID-10k", found_counts(pairs), expected, strict)
    return Dataset(
        "KADID-10k",
        root,
        pairs,
        False,
        "MOS",
        label_path,
        "labels: dmos.csv (its 'dmos' column is a MOS, higher is better)",
        expected,
    )

"""PIPAL (training set): one label file per reference, distorted images anywhere below the root
(the archives unpack to ``Distortion_1..4/``, sometimes nested)."""

from __future__ import annotations

import re
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
    parse_score,
)

PIPAL_LAYOUT = (
    "PIPAL train: Train_Ref/ (or Reference_train/), Train_Label/*.txt (or MOS_Scores_train/), "
    "distorted A####_GG_II.bmp in Distortion_1..4/ or Train_Dist/ below the root"
)
PIPAL_NAME = re.compile(r"(a\d{4})_(\d\d)_(\d\d)\.bmp", re.IGNORECASE)


def load_pipal(root: Path | str, *, strict: bool = True) -> Dataset:
    """PIPAL training set: 23200 distorted images with Elo MOS (higher is better).

    Labels: every ``Train_Label/A####.txt``, lines ``<name>,<score>``. Distorted images are
    indexed by name anywhere below ``root``; the reference is the name's first 5 characters + ``.bmp``.
    """
    root = locate_root("PIPAL", root, ["Train_Label", "MOS_Scores_train"], PIPAL_LAYOUT)
    label_dir = need_dir("PIPAL", root, ["Train_Label", "MOS_Scores_train"], PIPAL_LAYOUT)
    ref_dir = need_dir("PIPAL", root, ["Train_Ref", "Reference_train"], PIPAL_LAYOUT)
    label_files = sorted(p for p in label_dir.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    if not label_files:
        raise FileNotFoundError(f"PIPAL: no label files *.txt in {label_dir} (expected {PIPAL_LAYOUT})")
    ref_index = folder_index(ref_dir)
    dist_index = {key: path for key, path in folder_index(root, recursive=True).items() if PIPAL_NAME.fullmatch(key)}
    resolver = Resolver("PIPAL")
    pairs: list[Pair] = []
    for label_path in label_files:
        for line, text in label_lines(label_path):
            fields = [f.strip() for f in text.split(",")] if "," in text else text.split()
            if len(fields) != 2 or PIPAL_NAME.fullmatch(fields[0]) is None:
                raise ValueError(
                    f"PIPAL: {label_path.name} line {line}: expected 'A####_GG_II.bmp,<score>', got {text!r}"
                )
            score = parse_score("PIPAL", label_path, line, fields[1])
            dist = resolver.find(dist_index, fields[0], root)
            pairs.append(Pair(resolver.find(ref_index, fields[0][:5] + ".bmp", ref_dir), dist, score))
    resolver.check()
    expected = {"distorted images": 23200, "references": 200, "label files": 200}
    check_counts("PIPAL", {**found_counts(pairs), "label files": len(label_files)}, expected, strict)
    return Dataset("PIPAL", root, pairs, False, "MOS", label_dir, "labels: Train_Label/*.txt (Elo MOS)", expected)

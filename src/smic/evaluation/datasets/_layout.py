"""What every dataset layout shares: the :class:`Dataset` it loads to, case-insensitive file
lookup, finding a nested copy, label-line parsing, and the full-release count check."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from smic.storage import Location


class Pair(NamedTuple):
    """One labelled pair: reference, distorted image (a path, or a URI: smic.storage), subjective
    score (native units)."""

    ref: Location
    dist: Location
    score: float


@dataclass
class Dataset:
    """A loaded dataset: rows of (ref, dist, score) and how to read the score."""

    name: str
    root: Path
    pairs: list[Pair]
    lower_better: bool
    score_name: str  # "MOS", "DMOS", ...
    label_file: Path | None = None
    notes: str = ""
    expected: dict[str, int] = field(default_factory=dict)  # counts of the full release

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def scores(self) -> np.ndarray:
        return np.array([pair.score for pair in self.pairs], dtype=np.float64)

    def key(self, path: Location) -> str:
        """Store key of an image: its path relative to ``root`` (posix), else the full path (or
        URI), so a results folder stays valid when the dataset moves."""
        if isinstance(path, str):
            return path
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def describe(self) -> str:
        direction = "lower is better" if self.lower_better else "higher is better"
        source = f", labels from {self.label_file.name}" if self.label_file else ""
        return f"{self.name}: {len(self)} pairs, {self.score_name} ({direction}){source}"


def folder_index(folder: Path, recursive: bool = False) -> dict[str, Path]:
    """Lower-case file name -> path for the files in ``folder`` (first in sorted order wins):
    published copies differ in the case of their names."""
    index: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")) if recursive else sorted(folder.iterdir()):
        if path.is_file():
            index.setdefault(path.name.lower(), path)
    return index


def child(folder: Path, names: Sequence[str], want_dir: bool) -> Path | None:
    """The first child of ``folder`` (a folder when ``want_dir``) named one of ``names``, ignoring case."""
    entries: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir() == want_dir:
            entries.setdefault(path.name.lower(), path)
    return next((entries[name.lower()] for name in names if name.lower() in entries), None)


def locate_root(dataset: str, root: Path | str, markers: Sequence[str], layout: str) -> Path:
    """``root`` or the first folder up to two levels below it that holds one of ``markers``:
    unpacked archives often nest the dataset one or two folders down."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset}: root folder {root} does not exist (expected {layout})")
    level = [root]
    for _ in range(3):
        for folder in level:
            if child(folder, markers, want_dir=False) or child(folder, markers, want_dir=True):
                return folder
        level = [sub for folder in level for sub in sorted(folder.iterdir()) if sub.is_dir()]
    raise FileNotFoundError(
        f"{dataset}: no {' or '.join(markers)} in {root} or the two folder levels below it (expected {layout})"
    )


def need_dir(dataset: str, folder: Path, names: Sequence[str], layout: str) -> Path:
    found = child(folder, names, want_dir=True)
    if found is None:
        raise FileNotFoundError(
            f"{dataset}: missing folder {' or '.join(n + '/' for n in names)} in {folder} (expected {layout})"
        )
    return found


def need_file(dataset: str, folder: Path, names: Sequence[str], layout: str) -> Path:
    found = child(folder, names, want_dir=False)
    if found is None:
        raise FileNotFoundError(f"{dataset}: missing label file {' or '.join(names)} in {folder} (expected {layout})")
    return found


def label_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines, stripped of ``\\r`` and whitespace: label
    files come with CRLF, a BOM or Latin-1 names."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def header_rows(dataset: str, path: Path, columns: Sequence[str], header: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, lower-case column -> stripped cell) of each data row of a CSV whose header
    must hold ``columns`` (in any order; ``header`` is the expected one, for the error)."""
    lines = label_lines(path)
    names = [cell.strip().lower() for cell in next(csv.reader([lines[0][1]]))] if lines else []
    missing = [column for column in columns if column not in names]
    if missing:
        raise ValueError(
            f"{dataset}: {path.name} lacks the column(s) {', '.join(missing)} in its header (expected {header})"
        )
    rows = csv.reader(text for _, text in lines[1:])
    return [(line, dict(zip(names, (cell.strip() for cell in row)))) for (line, _), row in zip(lines[1:], rows)]


def parse_score(dataset: str, path: Path, line: int, text: str) -> float:
    """A finite score, or an error naming the file and line: a NaN label would poison every correlation."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{dataset}: {path.name} line {line}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{dataset}: {path.name} line {line}: score {text!r} is not finite")
    return value


class Resolver:
    """Collects the missing images while rows are built, then raises once, listing them, so a
    partial copy is reported in one go."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.missing: list[str] = []

    def find(self, index: dict[str, Path], name: str, folder: Path) -> Path:
        path = index.get(name.lower())
        if path is None:
            self.missing.append(f"{name} (in {folder})")
            return folder / name
        return path

    def check(self) -> None:
        if self.missing:
            shown = "; ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
            raise FileNotFoundError(f"{self.dataset}: {len(self.missing)} labelled image(s) not found: {shown}")


def check_counts(dataset: str, found: dict[str, int], expected: dict[str, int], strict: bool) -> None:
    """Under ``strict``, refuse anything but the full release: a partial copy would silently
    change the correlations that are compared with the paper's."""
    if not strict:
        return
    wrong = [
        f"{what}: found {found.get(what, 0)}, expected {count}"
        for what, count in expected.items()
        if found.get(what, 0) != count
    ]
    if wrong:
        raise ValueError(
            f"{dataset}: not the full release ({'; '.join(wrong)}); "
            "pass strict=False (CLI: --no-strict) to load a partial copy"
        )


def found_counts(pairs: list[Pair]) -> dict[str, int]:
    """The counts every layout checks: distorted images and distinct references."""
    return {"distorted images": len(pairs), "references": len({pair.ref for pair in pairs})}

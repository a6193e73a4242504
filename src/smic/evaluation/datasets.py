"""Loaders for the six FR-IQA datasets in their published layouts, plus a generic CSV.

Every loader returns a :class:`Dataset`: (ref, dist, score) rows with the score in its native
units and its direction recorded (DMOS lower-better for LIVE and CSIQ; MOS higher-better for
TID2013, KADID-10k, PIPAL and QADS). Rules followed (shared/docs/DATASETS.md): file and folder
names match case-insensitively; label lines are stripped of ``\\r``/whitespace and blank lines
skipped; rows are joined on names, never on line order (except LIVE, whose ``.mat`` order *is*
the naming); a labelled image that is missing raises ``FileNotFoundError`` listing it.

``strict=True`` (the default, also the CLI's) asserts the counts of the full release
(e.g. 3000 TID2013 rows, 25 references). ``strict=False`` (CLI: ``--no-strict``) skips only
the count checks, for partial copies and test fixtures; missing images are errors either way,
because a silently shorter list would change every correlation.

Expected layouts (paths relative to ``root``; a nested copy one or two folders down is found):

- LIVE Release 2: ``refimgs/`` (29 BMP), ``jp2k/ jpeg/ wn/ gblur/ fastfading/`` with
  ``img<k>.bmp``, ``dmos.mat`` (``dmos``, ``orgs``, 1x982) and/or ``dmos_realigned.mat``
  (``dmos_new``, ``orgs``), ``refnames_all.mat`` (``refnames_all``, 1x982 cell).
- CSIQ: ``src_imgs/<ref>.png``, ``dst_imgs/<type>/<ref>.<TOKEN>.<level>.png``, ``csiq.DMOS.xlsx``
  (sheet ``all_by_image``; ``csiq.beta.xlsx`` also accepted) or a CSV export of that sheet.
- TID2013: ``reference_images/`` (``I01.BMP`` ... ``i25.bmp``), ``distorted_images/``
  (``iRR_TT_L.bmp``), ``mos_with_names.txt`` (``<MOS> <name>`` per line).
- KADID-10k: ``images/`` (references and distorted; or ``reference_images/`` +
  ``distorted_images/``), ``dmos.csv`` (``dist_img,ref_img,dmos,var``; ``dmos`` is a MOS).
- PIPAL (train): ``Train_Ref/`` (or ``Reference_train/``), ``Train_Label/*.txt`` (or
  ``MOS_Scores_train/``) with ``name,score`` lines, distorted ``A####_GG_II.bmp`` anywhere below
  ``root`` (``Distortion_1..4/``, ``Train_Dist/``, ``Dist_Imgs/``...).
- QADS: ``source_images/`` (``img01.bmp``...), ``super-resolved_images/``, ``mos_with_names.txt``.
- Generic CSV: a header with ``ref,dist,score`` (paths relative to the CSV's folder) and the
  score direction stated by the caller.
"""

from __future__ import annotations

import csv
import math
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

import numpy as np

__all__ = [
    "Dataset",
    "Pair",
    "list_datasets",
    "load_csiq",
    "load_csv",
    "load_dataset",
    "load_kadid10k",
    "load_live",
    "load_pipal",
    "load_qads",
    "load_tid2013",
    "read_xlsx_sheet",
]


class Pair(NamedTuple):
    """One labelled pair: reference path, distorted path, subjective score (native units)."""

    ref: Path
    dist: Path
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

    def key(self, path: Path) -> str:
        """Store key of an image: its path relative to ``root`` (posix), else the full path."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def describe(self) -> str:
        direction = "lower is better" if self.lower_better else "higher is better"
        source = f", labels from {self.label_file.name}" if self.label_file else ""
        return f"{self.name}: {len(self)} pairs, {self.score_name} ({direction}){source}"


# ---------------------------------------------------------------------------- file helpers


def _folder_index(folder: Path, recursive: bool = False) -> dict[str, Path]:
    """Lower-case file name -> path for the files in ``folder`` (first in sorted order wins)."""
    index: dict[str, Path] = {}
    paths = sorted(folder.rglob("*")) if recursive else sorted(folder.iterdir())
    for path in paths:
        if path.is_file():
            index.setdefault(path.name.lower(), path)
    return index


def _child(folder: Path, names: Sequence[str], want_dir: bool) -> Path | None:
    """The first child of ``folder`` whose name equals one of ``names``, ignoring case."""
    entries: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir() == want_dir:
            entries.setdefault(path.name.lower(), path)
    for name in names:
        if name.lower() in entries:
            return entries[name.lower()]
    return None


def _locate_root(dataset: str, root: Path | str, markers: Sequence[str], layout: str) -> Path:
    """``root`` or the first folder up to two levels below it that holds one of ``markers``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset}: root folder {root} does not exist (expected {layout})")
    level = [root]
    for _ in range(3):
        for folder in level:
            if _child(folder, markers, want_dir=False) or _child(folder, markers, want_dir=True):
                return folder
        level = [child for folder in level for child in sorted(folder.iterdir()) if child.is_dir()]
    raise FileNotFoundError(
        f"{dataset}: no {' or '.join(markers)} in {root} or the two folder levels below it "
        f"(expected {layout})"
    )


def _need_dir(dataset: str, folder: Path, names: Sequence[str], layout: str) -> Path:
    found = _child(folder, names, want_dir=True)
    if found is None:
        raise FileNotFoundError(
            f"{dataset}: missing folder {' or '.join(n + '/' for n in names)} in {folder} (expected {layout})"
        )
    return found


def _need_file(dataset: str, folder: Path, names: Sequence[str], layout: str) -> Path:
    found = _child(folder, names, want_dir=False)
    if found is None:
        raise FileNotFoundError(
            f"{dataset}: missing label file {' or '.join(names)} in {folder} (expected {layout})"
        )
    return found


def _label_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines, stripped of ``\\r`` and whitespace."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _number(dataset: str, path: Path, line: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{dataset}: {path.name} line {line}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{dataset}: {path.name} line {line}: score {text!r} is not finite")
    return value


class _Resolver:
    """Collects missing images while rows are built, then raises once, listing them."""

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
            raise FileNotFoundError(
                f"{self.dataset}: {len(self.missing)} labelled image(s) not found: {shown}"
            )


def _check_counts(dataset: str, found: dict[str, int], expected: dict[str, int], strict: bool) -> None:
    if not strict:
        return
    wrong = [f"{what}: found {found.get(what, 0)}, expected {count}" for what, count in expected.items()
             if found.get(what, 0) != count]
    if wrong:
        raise ValueError(
            f"{dataset}: not the full release ({'; '.join(wrong)}); "
            "pass strict=False (CLI: --no-strict) to load a partial copy"
        )


def _load_mos_with_names(name: str, root: Path | str, marker: str, dist_folder: str, ref_folder: str,
                         layout: str, reference: Callable[[str], str | None], pattern: str,
                         expected: dict[str, int], strict: bool) -> Dataset:
    """The layout TID2013 and QADS share: ``mos_with_names.txt`` lines ``<MOS> <name>`` (any
    whitespace), distorted and reference folders; ``reference`` maps a distorted name to its
    reference's name, or None when the name is not of the form ``pattern``."""
    root = _locate_root(name, root, [marker], layout)
    label_path = _need_file(name, root, ["mos_with_names.txt"], layout)
    ref_dir = _need_dir(name, root, [ref_folder], layout)
    dist_dir = _need_dir(name, root, [dist_folder], layout)
    ref_index, dist_index = _folder_index(ref_dir), _folder_index(dist_dir)
    resolver = _Resolver(name)
    pairs: list[Pair] = []
    for line, text in _label_lines(label_path):
        fields = text.split()
        if len(fields) != 2:
            raise ValueError(f"{name}: {label_path.name} line {line}: expected '<MOS> <name>', got {text!r}")
        ref_name = reference(fields[1])
        if ref_name is None:
            raise ValueError(f"{name}: {label_path.name} line {line}: {fields[1]!r} is not a name {pattern}")
        score = _number(name, label_path, line, fields[0])
        dist = resolver.find(dist_index, fields[1], dist_dir)
        pairs.append(Pair(resolver.find(ref_index, ref_name, ref_dir), dist, score))
    resolver.check()
    found = {"distorted images": len(pairs), "references": len({pair.ref for pair in pairs})}
    _check_counts(name, found, expected, strict)
    return Dataset(name, root, pairs, False, "MOS", label_path, "labels: mos_with_names.txt", expected)


# ---------------------------------------------------------------------------- LIVE

LIVE_LAYOUT = ("LIVE Release 2: refimgs/, jp2k/, jpeg/, wn/, gblur/, fastfading/, "
               "dmos.mat or dmos_realigned.mat, refnames_all.mat")
LIVE_BLOCKS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))
LIVE_KEPT = {"jp2k": 169, "jpeg": 175, "wn": 145, "gblur": 145, "fastfading": 145}


def _mat_string(cell: object) -> str:
    """Unwrap a MATLAB cell element as SciPy returns it (nested object arrays) to a string."""
    while isinstance(cell, np.ndarray):
        if cell.size == 0:
            return ""
        cell = cell.ravel()[0]
    return str(cell).strip()


def _mat_vars(dataset: str, path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises several types for a bad file
        raise ValueError(f"{dataset}: {path} is not a readable MATLAB file ({error})") from error
    missing = [name for name in names if name not in content]
    if missing:
        found = sorted(key for key in content if not key.startswith("__"))
        raise ValueError(f"{dataset}: {path.name} has no variable {', '.join(missing)} (found: {', '.join(found)})")
    return {name: content[name] for name in names}


def load_live(root: Path | str, *, labels: str | Path | None = None, strict: bool = True) -> Dataset:
    """LIVE Release 2: the 779 distorted images (``orgs == 0``) with their DMOS (lower is better).

    ``labels``: ``None`` uses ``dmos.mat`` when present, else ``dmos_realigned.mat``; ``"dmos"``
    or ``"realigned"`` pick one; a path names the file. Entry k of the 982-long concatenation
    jp2k(227), jpeg(233), wn(174), gblur(174), fastfading(174) is ``<folder>/img<k>.bmp``; its
    reference is ``refimgs/<refnames_all[k]>`` (LIVE readme, pyiqa).
    """
    name = "LIVE"
    root = _locate_root(name, root, ["refnames_all.mat"], LIVE_LAYOUT)
    if labels is None:
        label_path = _child(root, ["dmos.mat"], False) or _child(root, ["dmos_realigned.mat"], False)
        if label_path is None:
            raise FileNotFoundError(f"{name}: missing label file dmos.mat or dmos_realigned.mat in {root} "
                                    f"(expected {LIVE_LAYOUT})")
    elif str(labels).lower() in ("dmos", "realigned"):
        wanted = "dmos.mat" if str(labels).lower() == "dmos" else "dmos_realigned.mat"
        label_path = _need_file(name, root, [wanted], LIVE_LAYOUT)
    else:
        label_path = Path(labels)
        if not label_path.is_file():
            raise FileNotFoundError(f"{name}: label file {label_path} does not exist (expected dmos.mat or "
                                    "dmos_realigned.mat)")
    names_path = _need_file(name, root, ["refnames_all.mat"], LIVE_LAYOUT)

    import scipy.io

    try:
        keys = {entry[0] for entry in scipy.io.whosmat(label_path)}
    except Exception as error:
        raise ValueError(f"{name}: {label_path} is not a readable MATLAB file ({error})") from error
    score_var = "dmos_new" if "dmos_new" in keys else "dmos"
    values = _mat_vars(name, label_path, [score_var, "orgs"])
    dmos = np.ravel(values[score_var]).astype(np.float64)
    orgs = np.ravel(values["orgs"])
    refnames = [_mat_string(cell) for cell in np.ravel(_mat_vars(name, names_path, ["refnames_all"])["refnames_all"])]
    total = sum(count for _, count in LIVE_BLOCKS)
    for what, array in ((f"{label_path.name}:{score_var}", dmos), (f"{label_path.name}:orgs", orgs),
                        ("refnames_all.mat:refnames_all", refnames)):
        if len(array) != total:
            raise ValueError(f"{name}: {what} has {len(array)} entries, expected {total} "
                             "(jp2k 227, jpeg 233, wn 174, gblur 174, fastfading 174, in that order)")

    ref_dir = _need_dir(name, root, ["refimgs"], LIVE_LAYOUT)
    ref_index = _folder_index(ref_dir)
    resolver = _Resolver(name)
    pairs: list[Pair] = []
    found: dict[str, int] = {}
    start = 0
    for folder_name, count in LIVE_BLOCKS:
        block = slice(start, start + count)
        start += count
        kept = [k for k in range(count) if orgs[block][k] == 0]
        if not kept:
            continue
        folder = _need_dir(name, root, [folder_name], LIVE_LAYOUT)
        index = _folder_index(folder)
        for k in kept:
            entry = block.start + k
            dist = resolver.find(index, f"img{k + 1}.bmp", folder)
            ref = resolver.find(ref_index, refnames[entry], ref_dir)
            pairs.append(Pair(ref, dist, float(dmos[entry])))
        found[folder_name] = len(kept)
    resolver.check()
    expected = {"distorted images": 779, **LIVE_KEPT, "references": 29}
    found["distorted images"] = len(pairs)
    found["references"] = len({pair.ref for pair in pairs})
    _check_counts(name, found, expected, strict)
    notes = f"labels: {label_path.name} ({score_var}); orgs==1 reference copies excluded"
    return Dataset(name, root, pairs, True, "DMOS", label_path, notes, expected)


# ---------------------------------------------------------------------------- CSIQ

CSIQ_LAYOUT = "CSIQ: src_imgs/, dst_imgs/<type>/, csiq.DMOS.xlsx (sheet all_by_image) or its CSV export"
# dst_type in the spreadsheet -> (token in the file name, expected count)
CSIQ_TYPES = {"noise": ("AWGN", 150), "jpeg": ("JPEG", 150), "jpeg 2000": ("jpeg2000", 150),
              "fnoise": ("fnoise", 150), "blur": ("BLUR", 150), "contrast": ("contrast", 116)}
CSIQ_ALIASES = {"awgn": "noise", "jpeg2000": "jpeg 2000", "jp2k": "jpeg 2000", "gblur": "blur"}
CSIQ_LABEL_NAMES = ("csiq.DMOS.xlsx", "csiq.beta.xlsx", "csiq.DMOS.csv", "csiq.beta.csv", "csiq_dmos.csv")


def _xml_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _column_index(reference: str) -> int:
    letters = re.match(r"[A-Za-z]+", reference)
    if letters is None:
        raise ValueError(f"bad cell reference {reference!r}")
    index = 0
    for letter in letters.group(0).upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def read_xlsx_sheet(path: Path | str, sheet: str) -> list[list[str | float | None]]:
    """Cell values of one sheet of an .xlsx file as a row-major grid (standard library only).

    Reads the Office Open XML parts directly (``xl/workbook.xml``, its relationships,
    ``xl/sharedStrings.xml``, the worksheet): numbers come back as floats, text as str, formula
    cells as their cached value, empty cells as ``None``. No openpyxl needed.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path} is not a readable .xlsx file ({error})") from error
    with archive:
        parts = set(archive.namelist())

        def xml(part: str) -> ElementTree.Element:
            return ElementTree.fromstring(archive.read(part))

        workbook = xml("xl/workbook.xml")
        sheets = {el.get("name", ""): next((v for k, v in el.attrib.items() if _xml_local(k) == "id"), "")
                  for el in workbook.iter() if _xml_local(el.tag) == "sheet"}
        if sheet not in sheets:
            raise ValueError(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(sheets)})")
        targets = {el.get("Id"): el.get("Target", "") for el in xml("xl/_rels/workbook.xml.rels").iter()
                   if _xml_local(el.tag) == "Relationship"}
        target = targets.get(sheets[sheet], "")
        part = target.lstrip("/") if target.startswith("/") else "xl/" + target
        if part not in parts:
            raise ValueError(f"{path.name}: worksheet part {part!r} of sheet {sheet!r} is missing")
        shared: list[str] = []
        if "xl/sharedStrings.xml" in parts:
            for item in xml("xl/sharedStrings.xml"):
                if _xml_local(item.tag) == "si":
                    shared.append("".join(t.text or "" for t in item.iter() if _xml_local(t.tag) == "t"
                                          and not _inside_phonetic(item, t)))
        grid: list[list[str | float | None]] = []
        for row_number, row in enumerate((el for el in xml(part).iter() if _xml_local(el.tag) == "row"), 1):
            row_index = int(row.get("r", row_number)) - 1
            while len(grid) <= row_index:
                grid.append([])
            cells = grid[row_index]
            for position, cell in enumerate(el for el in row if _xml_local(el.tag) == "c"):
                reference = cell.get("r")
                column = _column_index(reference) if reference else position
                kind = cell.get("t", "n")
                value_el = next((el for el in cell if _xml_local(el.tag) == "v"), None)
                text = value_el.text if value_el is not None else None
                value: str | float | None
                if kind == "inlineStr":
                    value = "".join(t.text or "" for t in cell.iter() if _xml_local(t.tag) == "t")
                elif text is None:
                    value = None
                elif kind == "s":
                    value = shared[int(text)]
                elif kind in ("str", "e"):
                    value = text
                elif kind == "b":
                    value = float(text)
                else:
                    try:
                        value = float(text)
                    except ValueError:
                        value = text
                while len(cells) <= column:
                    cells.append(None)
                cells[column] = value
        return grid


def _inside_phonetic(item: ElementTree.Element, target: ElementTree.Element) -> bool:
    """True if ``target`` lies in an ``rPh`` (phonetic run) of shared-string ``item``."""
    return any(_xml_local(run.tag) == "rPh" and any(t is target for t in run.iter()) for run in item)


def _read_csv_grid(path: Path) -> list[list[str | float | None]]:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [[cell.strip() or None for cell in row] for row in csv.reader(text.splitlines())]


def _cell_text(value: str | float | None) -> str:
    """A spreadsheet cell as text; integral numbers lose their ``.0`` (``1600.0`` -> ``1600``)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def load_csiq(root: Path | str, *, labels: str | Path | None = None, strict: bool = True) -> Dataset:
    """CSIQ: 866 distorted images with DMOS in [0, 1] (lower is better).

    Labels: sheet ``all_by_image`` of ``csiq.DMOS.xlsx`` (or ``csiq.beta.xlsx``), or a CSV export
    of it; the header row is the one holding the cells ``image`` and ``dmos``. Row
    (image, dst_type, dst_lev, dmos) -> ``dst_imgs/**/<image>.<TOKEN>.<dst_lev>.png`` with the
    token of ``CSIQ_TYPES`` and reference ``src_imgs/<image>.png``.
    """
    name = "CSIQ"
    if labels is not None and not Path(labels).is_file():
        raise FileNotFoundError(f"{name}: label file {labels} does not exist (expected csiq.DMOS.xlsx or a CSV "
                                "export of its all_by_image sheet)")
    root = _locate_root(name, root, ["src_imgs"], CSIQ_LAYOUT)
    label_path = Path(labels) if labels is not None else _need_file(name, root, CSIQ_LABEL_NAMES, CSIQ_LAYOUT)
    if label_path.suffix.lower() == ".xlsx":
        grid = read_xlsx_sheet(label_path, "all_by_image")
    else:
        grid = _read_csv_grid(label_path)

    header_row, columns = -1, {}
    for row_index, row in enumerate(grid):
        texts = [_cell_text(cell).lower() for cell in row]
        if "image" in texts and "dmos" in texts:
            header_row = row_index
            columns = {key: texts.index(key) for key in ("image", "dst_type", "dst_lev", "dmos") if key in texts}
            break
    if header_row < 0 or len(columns) < 4:
        raise ValueError(f"{name}: {label_path.name} has no header row with the cells image, dst_type, "
                         "dst_lev and dmos (expected sheet all_by_image of csiq.DMOS.xlsx or its CSV export)")

    ref_dir = _need_dir(name, root, ["src_imgs"], CSIQ_LAYOUT)
    dist_dir = _need_dir(name, root, ["dst_imgs"], CSIQ_LAYOUT)
    ref_index, dist_index = _folder_index(ref_dir), _folder_index(dist_dir, recursive=True)
    resolver = _Resolver(name)
    pairs: list[Pair] = []
    found: dict[str, int] = {}
    for row_index in range(header_row + 1, len(grid)):
        row = grid[row_index] + [None] * 8
        image = _cell_text(row[columns["image"]])
        if not image:
            continue  # pad rows have an empty image cell
        where = f"{label_path.name} row {row_index + 1}"
        dst_type = _cell_text(row[columns["dst_type"]]).lower()
        dst_type = CSIQ_ALIASES.get(dst_type, dst_type)
        if dst_type not in CSIQ_TYPES:
            raise ValueError(f"{name}: {where}: unknown dst_type {dst_type!r} (expected one of "
                             f"{', '.join(CSIQ_TYPES)})")
        level = _cell_text(row[columns["dst_lev"]])
        score = _number(name, label_path, row_index + 1, _cell_text(row[columns["dmos"]]) or "nan")
        token = CSIQ_TYPES[dst_type][0]
        dist = resolver.find(dist_index, f"{image}.{token}.{level}.png", dist_dir)
        ref = resolver.find(ref_index, f"{image}.png", ref_dir)
        pairs.append(Pair(ref, dist, score))
        found[dst_type] = found.get(dst_type, 0) + 1
    resolver.check()
    expected = {"distorted images": 866, "references": 30, **{t: n for t, (_, n) in CSIQ_TYPES.items()}}
    found["distorted images"] = len(pairs)
    found["references"] = len({pair.ref for pair in pairs})
    _check_counts(name, found, expected, strict)
    return Dataset(name, root, pairs, True, "DMOS", label_path, f"labels: {label_path.name}", expected)


# ---------------------------------------------------------------------------- TID2013

TID_LAYOUT = "TID2013: reference_images/, distorted_images/, mos_with_names.txt"
TID_NAME = re.compile(r"i(\d\d)_(\d\d)_(\d)\.bmp", re.IGNORECASE)


def load_tid2013(root: Path | str, *, strict: bool = True) -> Dataset:
    """TID2013: 3000 distorted images ``iRR_TT_L.bmp`` with MOS (higher is better, scale 0-9).

    ``mos_with_names.txt``: ``<MOS> <name>`` per line. The reference is ``iRR.bmp`` from the two
    digits after the leading i/I (this finds the lower-case ``i25.bmp`` too).
    """
    def reference(dist_name: str) -> str | None:
        match = TID_NAME.fullmatch(dist_name)
        return None if match is None else f"i{match.group(1)}.bmp"

    return _load_mos_with_names("TID2013", root, "mos_with_names.txt", "distorted_images", "reference_images",
                                TID_LAYOUT, reference, "iRR_TT_L.bmp",
                                {"distorted images": 3000, "references": 25}, strict)


# ---------------------------------------------------------------------------- KADID-10k

KADID_LAYOUT = "KADID-10k: images/ (or reference_images/ + distorted_images/), dmos.csv"


def load_kadid10k(root: Path | str, *, strict: bool = True) -> Dataset:
    """KADID-10k: 10125 distorted images with the ``dmos`` column, a MOS on 1-5 (higher is better).

    ``dmos.csv`` has the header ``dist_img,ref_img,dmos,var``; names are looked up in
    ``images/`` and, where users split them, ``reference_images/`` and ``distorted_images/``.
    """
    name = "KADID-10k"
    root = _locate_root(name, root, ["dmos.csv"], KADID_LAYOUT)
    label_path = _need_file(name, root, ["dmos.csv"], KADID_LAYOUT)
    folders = [f for f in (_child(root, [n], True) for n in ("images", "reference_images", "distorted_images")) if f]
    if not folders:
        raise FileNotFoundError(f"{name}: missing folder images/ in {root} (expected {KADID_LAYOUT})")
    index: dict[str, Path] = {}
    for folder in folders:
        for key, path in _folder_index(folder).items():
            index.setdefault(key, path)
    lines = _label_lines(label_path)
    header = [cell.strip().lower() for cell in next(csv.reader([lines[0][1]]))] if lines else []
    missing = [column for column in ("dist_img", "ref_img", "dmos") if column not in header]
    if missing:
        raise ValueError(f"{name}: {label_path.name} lacks the column(s) {', '.join(missing)} "
                         "(expected the header dist_img,ref_img,dmos,var)")
    resolver = _Resolver(name)
    pairs: list[Pair] = []
    for line, row in zip((number for number, _ in lines[1:]), csv.reader(text for _, text in lines[1:])):
        cells = dict(zip(header, (cell.strip() for cell in row)))
        score = _number(name, label_path, line, cells.get("dmos", ""))
        dist = resolver.find(index, cells["dist_img"], folders[0])
        ref = resolver.find(index, cells["ref_img"], folders[0])
        pairs.append(Pair(ref, dist, score))
    resolver.check()
    expected = {"distorted images": 10125, "references": 81}
    found = {"distorted images": len(pairs), "references": len({pair.ref for pair in pairs})}
    _check_counts(name, found, expected, strict)
    return Dataset(name, root, pairs, False, "MOS", label_path,
                   "labels: dmos.csv (its 'dmos' column is a MOS, higher is better)", expected)


# ---------------------------------------------------------------------------- PIPAL

PIPAL_LAYOUT = ("PIPAL train: Train_Ref/ (or Reference_train/), Train_Label/*.txt (or MOS_Scores_train/), "
                "distorted A####_GG_II.bmp in Distortion_1..4/ or Train_Dist/ below the root")
PIPAL_NAME = re.compile(r"(a\d{4})_(\d\d)_(\d\d)\.bmp", re.IGNORECASE)


def load_pipal(root: Path | str, *, strict: bool = True) -> Dataset:
    """PIPAL training set: 23200 distorted images with Elo MOS (higher is better).

    Labels: every ``Train_Label/A####.txt``, lines ``<name>,<score>``. Distorted images are
    indexed by name anywhere below ``root``; the reference is the name's first 5 characters + ``.bmp``.
    """
    name = "PIPAL"
    root = _locate_root(name, root, ["Train_Label", "MOS_Scores_train"], PIPAL_LAYOUT)
    label_dir = _need_dir(name, root, ["Train_Label", "MOS_Scores_train"], PIPAL_LAYOUT)
    ref_dir = _need_dir(name, root, ["Train_Ref", "Reference_train"], PIPAL_LAYOUT)
    label_files = sorted(p for p in label_dir.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    if not label_files:
        raise FileNotFoundError(f"{name}: no label files *.txt in {label_dir} (expected {PIPAL_LAYOUT})")
    ref_index = _folder_index(ref_dir)
    dist_index = {key: path for key, path in _folder_index(root, recursive=True).items()
                  if PIPAL_NAME.fullmatch(key)}
    resolver = _Resolver(name)
    pairs: list[Pair] = []
    for label_path in label_files:
        for line, text in _label_lines(label_path):
            fields = [f.strip() for f in text.split(",")] if "," in text else text.split()
            if len(fields) != 2 or PIPAL_NAME.fullmatch(fields[0]) is None:
                raise ValueError(f"{name}: {label_path.name} line {line}: expected 'A####_GG_II.bmp,<score>', "
                                 f"got {text!r}")
            score = _number(name, label_path, line, fields[1])
            dist = resolver.find(dist_index, fields[0], root)
            ref = resolver.find(ref_index, fields[0][:5] + ".bmp", ref_dir)
            pairs.append(Pair(ref, dist, score))
    resolver.check()
    expected = {"distorted images": 23200, "references": 200, "label files": 200}
    found = {"distorted images": len(pairs), "references": len({pair.ref for pair in pairs}),
             "label files": len(label_files)}
    _check_counts(name, found, expected, strict)
    return Dataset(name, root, pairs, False, "MOS", label_dir, "labels: Train_Label/*.txt (Elo MOS)", expected)


# ---------------------------------------------------------------------------- QADS

QADS_LAYOUT = "QADS: source_images/, super-resolved_images/, mos_with_names.txt"


def load_qads(root: Path | str, *, strict: bool = True) -> Dataset:
    """QADS: 980 super-resolved images ``imgRR_S_MM.bmp`` with MOS (read as higher is better).

    ``mos_with_names.txt``: ``<MOS>  <name>`` (split on any whitespace); the reference is
    ``source_images/`` + the name's first 5 characters + ``.bmp``.
    """
    return _load_mos_with_names("QADS", root, "super-resolved_images", "super-resolved_images", "source_images",
                                QADS_LAYOUT, lambda dist_name: dist_name[:5] + ".bmp", "imgRR_S_MM.bmp",
                                {"distorted images": 980, "references": 20}, strict)


# ---------------------------------------------------------------------------- generic CSV


def load_csv(path: Path | str, *, lower_better: bool | None, name: str | None = None,
             score_name: str | None = None) -> Dataset:
    """A CSV with a header holding ``ref``, ``dist`` and ``score`` (any order, other columns ignored).

    Image paths are relative to the CSV's folder (or absolute). ``lower_better`` must be given:
    True for DMOS-like scores, False for MOS-like ones.
    """
    path = Path(path)
    label = name or path.stem
    if lower_better is None:
        raise ValueError(f"{label}: state the score direction of {path.name}: lower_better=True or False "
                         "(CLI: --csv-direction lower|higher)")
    if not path.is_file():
        raise FileNotFoundError(f"{label}: CSV file {path} does not exist (expected columns ref,dist,score)")
    lines = _label_lines(path)
    header = [cell.strip().lower() for cell in next(csv.reader([lines[0][1]]))] if lines else []
    missing = [column for column in ("ref", "dist", "score") if column not in header]
    if missing:
        raise ValueError(f"{label}: {path.name} lacks the column(s) {', '.join(missing)} in its header "
                         "(expected ref,dist,score)")
    root = path.parent.resolve()
    pairs: list[Pair] = []
    missing_files: list[str] = []
    for line, row in zip((number for number, _ in lines[1:]), csv.reader(text for _, text in lines[1:])):
        cells = dict(zip(header, (cell.strip() for cell in row)))
        score = _number(label, path, line, cells.get("score", ""))
        ref, dist = (root / cells.get(column, "") for column in ("ref", "dist"))
        missing_files += [str(p) for p in (ref, dist) if not p.is_file()]
        pairs.append(Pair(ref, dist, score))
    if missing_files:
        shown = "; ".join(dict.fromkeys(missing_files[:5]))
        raise FileNotFoundError(f"{label}: {len(missing_files)} image(s) named in {path.name} not found: {shown}")
    if not pairs:
        raise ValueError(f"{label}: {path.name} has no data rows")
    return Dataset(label, root, pairs, bool(lower_better), score_name or "score", path,
                   f"labels: {path.name}")


# ---------------------------------------------------------------------------- dispatch

_LOADERS: dict[str, tuple[str, Callable[..., Dataset]]] = {
    "live": ("LIVE", load_live), "liver2": ("LIVE", load_live), "csiq": ("CSIQ", load_csiq),
    "tid2013": ("TID2013", load_tid2013), "kadid10k": ("KADID-10k", load_kadid10k),
    "kadid": ("KADID-10k", load_kadid10k), "pipal": ("PIPAL", load_pipal), "qads": ("QADS", load_qads),
}


def _canonical(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def list_datasets() -> list[str]:
    """Display names of the built-in datasets, in the paper's column order, then ``csv``."""
    return list(dict.fromkeys(display for display, _ in _LOADERS.values())) + ["csv"]


def load_dataset(name: str, root: Path | str, *, strict: bool = True, labels: str | Path | None = None,
                 lower_better: bool | None = None) -> Dataset:
    """Load dataset ``name`` (case-insensitive: live, csiq, tid2013, kadid-10k, pipal, qads, csv).

    ``labels`` picks the label file where a dataset has several (LIVE: dmos|realigned|path;
    CSIQ: an .xlsx or CSV path). For ``csv``, ``root`` is the CSV file and ``lower_better`` is required.
    """
    key = _canonical(name)
    if key == "csv":
        return load_csv(root, lower_better=lower_better)
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}")
    loader = _LOADERS[key][1]
    if labels is not None and loader in (load_live, load_csiq):
        return loader(root, labels=labels, strict=strict)
    if labels is not None:
        raise ValueError(f"{_LOADERS[key][0]} has a single label file; --labels applies to LIVE and CSIQ only")
    return loader(root, strict=strict)

"""CSIQ: the labels are one sheet of a spreadsheet (``csiq.DMOS.xlsx``) or its CSV export."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

from smic.evaluation.datasets._layout import (
    Dataset,
    Pair,
    Resolver,
    check_counts,
    folder_index,
    found_counts,
    locate_root,
    need_dir,
    need_file,
    parse_score,
)

CSIQ_LAYOUT = "CSIQ: src_imgs/, dst_imgs/<type>/, csiq.DMOS.xlsx (sheet all_by_image) or its CSV export"
# dst_type in the spreadsheet -> (token in the file name, expected count)
CSIQ_TYPES = {
    "noise": ("AWGN", 150),
    "jpeg": ("JPEG", 150),
    "jpeg 2000": ("jpeg2000", 150),
    "fnoise": ("fnoise", 150),
    "blur": ("BLUR", 150),
    "contrast": ("contrast", 116),
}
CSIQ_ALIASES = {"awgn": "noise", "jpeg2000": "jpeg 2000", "jp2k": "jpeg 2000", "gblur": "blur"}
CSIQ_LABEL_NAMES = ("csiq.DMOS.xlsx", "csiq.beta.xlsx", "csiq.DMOS.csv", "csiq.beta.csv", "csiq_dmos.csv")
CSIQ_SHEET = "all_by_image"


def _read_xlsx(path: Path) -> list[list[object]]:
    """The cells of sheet ``all_by_image``, row by row from the sheet's first row (formulas as
    their cached values), so that row numbers in errors match the spreadsheet's."""
    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError:
        raise ImportError(
            f'CSIQ: reading {path.name} needs openpyxl: pip install "smic[xlsx]" '
            f"(or pass --labels with a CSV export of its {CSIQ_SHEET} sheet)"
        ) from None
    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as error:
        raise ValueError(f"CSIQ: {path} is not a readable .xlsx file ({error})") from error
    if CSIQ_SHEET not in book.sheetnames:
        raise ValueError(f"CSIQ: {path.name} has no sheet {CSIQ_SHEET!r} (sheets: {', '.join(book.sheetnames)})")
    return [list(row) for row in book[CSIQ_SHEET].iter_rows(values_only=True)]


def _read_csv(path: Path) -> list[list[object]]:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [[cell.strip() or None for cell in row] for row in csv.reader(text.splitlines())]


def _cell_text(value: object) -> str:
    """A spreadsheet cell as text; integral numbers lose their ``.0`` (``1600.0`` -> ``1600``),
    since image names and levels are numbers in the sheet but text in the file names."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def _header(grid: list[list[object]], label_path: Path) -> tuple[int, dict[str, int]]:
    """The row holding the cells image, dst_type, dst_lev and dmos, and their columns: the
    sheet starts with title rows, and its table need not start in column A."""
    for row_index, row in enumerate(grid):
        texts = [_cell_text(cell).lower() for cell in row]
        if "image" in texts and "dmos" in texts:
            keys = ("image", "dst_type", "dst_lev", "dmos")
            columns: dict[str, int] = {key: texts.index(key) for key in keys if key in texts}
            if len(columns) == 4:
                return row_index, columns
            break
    raise ValueError(
        f"CSIQ: {label_path.name} has no header row with the cells image, dst_type, dst_lev and dmos "
        f"(expected sheet {CSIQ_SHEET} of csiq.DMOS.xlsx or its CSV export)"
    )


def load_csiq(root: Path | str, *, labels: str | Path | None = None, strict: bool = True) -> Dataset:
    """CSIQ: 866 distorted images with DMOS in [0, 1] (lower is better).

    Labels: sheet ``all_by_image`` of ``csiq.DMOS.xlsx`` (or ``csiq.beta.xlsx``; reading it needs
    openpyxl), or a CSV export of it; the header row is the one holding the cells ``image`` and
    ``dmos``. Row (image, dst_type, dst_lev, dmos) -> ``dst_imgs/**/<image>.<TOKEN>.<dst_lev>.png``
    with the token of ``CSIQ_TYPES`` and reference ``src_imgs/<image>.png``.
    """
    if labels is not None and not Path(labels).is_file():
        raise FileNotFoundError(
            f"CSIQ: label file {labels} does not exist (expected csiq.DMOS.xlsx or a CSV "
            f"export of its {CSIQ_SHEET} sheet)"
        )
    root = locate_root("CSIQ", root, ["src_imgs"], CSIQ_LAYOUT)
    label_path = Path(labels) if labels is not None else need_file("CSIQ", root, CSIQ_LABEL_NAMES, CSIQ_LAYOUT)
    grid = _read_xlsx(label_path) if label_path.suffix.lower() == ".xlsx" else _read_csv(label_path)
    header_row, columns = _header(grid, label_path)

    ref_dir = need_dir("CSIQ", root, ["src_imgs"], CSIQ_LAYOUT)
    dist_dir = need_dir("CSIQ", root, ["dst_imgs"], CSIQ_LAYOUT)
    ref_index, dist_index = folder_index(ref_dir), folder_index(dist_dir, recursive=True)
    resolver = Resolver("CSIQ")
    pairs: list[Pair] = []
    per_type: dict[str, int] = {}
    for row_index in range(header_row + 1, len(grid)):
        row = grid[row_index] + [None] * 8
        image = _cell_text(row[columns["image"]])
        if not image:
            continue  # pad rows have an empty image cell
        dst_type = _cell_text(row[columns["dst_type"]]).lower()
        dst_type = CSIQ_ALIASES.get(dst_type, dst_type)
        if dst_type not in CSIQ_TYPES:
            raise ValueError(
                f"CSIQ: {label_path.name} row {row_index + 1}: unknown dst_type {dst_type!r} "
                f"(expected one of {', '.join(CSIQ_TYPES)})"
            )
        level = _cell_text(row[columns["dst_lev"]])
        score = parse_score("CSIQ", label_path, row_index + 1, _cell_text(row[columns["dmos"]]) or "nan")
        dist = resolver.find(dist_index, f"{image}.{CSIQ_TYPES[dst_type][0]}.{level}.png", dist_dir)
        pairs.append(Pair(resolver.find(ref_index, f"{image}.png", ref_dir), dist, score))
        per_type[dst_type] = per_type.get(dst_type, 0) + 1
    resolver.check()
    expected = {"distorted images": 866, "references": 30, **{t: n for t, (_, n) in CSIQ_TYPES.items()}}
    check_counts("CSIQ", {**per_type, **found_counts(pairs)}, expected, strict)
    return Dataset("CSIQ", root, pairs, True, "DMOS", label_path, f"labels: {label_path.name}", expected)

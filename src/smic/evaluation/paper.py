"""The paper's Table I and Table II values (SRCC, PLCC after the logistic), shipped as data.

Source: ``smic/data/paper_tables.csv``, transcribed from the SMIC paper (its header comment says
where from). Table I: 16 methods x 6 datasets; Table II: the 5 "w/ MIC" rows on LIVE,
KADID-10k, PIPAL and QADS (its "w/ SMIC" rows repeat Table I). An unreadable cell is ``None``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["PAPER_DATASETS", "TABLE_II_DATASETS", "PaperCell", "load_paper_tables", "paper_cell", "paper_method"]

PAPER_DATASETS = ("LIVE", "CSIQ", "TID2013", "KADID-10k", "PIPAL", "QADS")
TABLE_II_DATASETS = ("LIVE", "KADID-10k", "PIPAL", "QADS")
# registry name (lower case, without - and _) -> the paper's spelling
PAPER_NAMES = {
    "msssim": "MS-SSIM",
    "fsim": "FSIM",
    "vif": "VIF",
    "nlpd": "NLPD",
    "mad": "MAD",
    "pieapp": "PieAPP",
    "psnr": "PSNR",
    "ssim": "SSIM",
    "lpips": "LPIPS",
    "dists": "DISTS",
    "deepwsd": "DeepWSD",
}


@dataclass(frozen=True)
class PaperCell:
    """One (method, dataset) cell of the paper: SRCC and PLCC, ``None`` where unreadable."""

    table: str
    method: str
    dataset: str
    srcc: float | None
    plcc: float | None


def _value(text: str) -> float | None:
    text = text.strip()
    return None if text.upper() in ("", "NA", "NAN") else float(text)


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text.lower())


@lru_cache(maxsize=4)
def load_paper_tables(path: str | None = None) -> tuple[PaperCell, ...]:
    """All cells of ``paper_tables.csv`` (``#`` lines are comments); ``path`` overrides the shipped file."""
    if path is None:
        text = resources.files("smic").joinpath("data").joinpath("paper_tables.csv").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return tuple(
        PaperCell(row["table"], row["method"], row["dataset"], _value(row["srcc"]), _value(row["plcc"])) for row in rows
    )


def paper_method(metric: str, attention: str | None = None) -> str | None:
    """The paper's row name for a registry metric and attention, e.g. ("psnr", "smic") -> "PSNR w/ SMIC"."""
    base = PAPER_NAMES.get(_key(metric))
    if base is None:
        return None
    return f"{base} w/ {attention.upper()}" if attention else base


def paper_cell(method: str | None, dataset: str) -> PaperCell | None:
    """The paper's cell for ``method`` on ``dataset`` (names matched ignoring case, - and _), Table I first."""
    if method is None:
        return None
    for cell in sorted(load_paper_tables(), key=lambda c: c.table):
        if _key(cell.method) == _key(method) and _key(cell.dataset) == _key(dataset):
            return cell
    return None

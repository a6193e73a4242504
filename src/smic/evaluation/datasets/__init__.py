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
  (sheet ``all_by_image``, read with openpyxl: ``pip install "smic[xlsx]"``; ``csiq.beta.xlsx``
  also accepted) or a CSV export of that sheet.
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

import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from smic.evaluation.datasets._layout import Dataset, Pair
from smic.evaluation.datasets.csiq import load_csiq
from smic.evaluation.datasets.generic import load_csv
from smic.evaluation.datasets.kadid import load_kadid10k
from smic.evaluation.datasets.live import LIVE_BLOCKS, LIVE_KEPT, load_live
from smic.evaluation.datasets.pipal import load_pipal
from smic.evaluation.datasets.tid import load_qads, load_tid2013

__all__ = [
    "LIVE_BLOCKS",
    "LIVE_KEPT",
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
]


class _Loader(NamedTuple):
    """A built-in dataset: its display name, its loader, and whether the loader takes ``labels=``
    (a choice among several label files)."""

    name: str
    load: Callable[..., Dataset]
    takes_labels: bool


_LIVE = _Loader("LIVE", load_live, True)
_KADID = _Loader("KADID-10k", load_kadid10k, False)
# canonical name (lower case, no blanks, - or _) -> loader, in the paper's column order
_LOADERS = {
    "live": _LIVE,
    "liver2": _LIVE,
    "csiq": _Loader("CSIQ", load_csiq, True),
    "tid2013": _Loader("TID2013", load_tid2013, False),
    "kadid10k": _KADID,
    "kadid": _KADID,
    "pipal": _Loader("PIPAL", load_pipal, False),
    "qads": _Loader("QADS", load_qads, False),
}


def _canonical(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def list_datasets() -> list[str]:
    """Display names of the built-in datasets, in the paper's column order, then ``csv``."""
    return [*list(dict.fromkeys(loader.name for loader in _LOADERS.values())), "csv"]


def load_dataset(
    name: str,
    root: Path | str,
    *,
    strict: bool = True,
    labels: str | Path | None = None,
    lower_better: bool | None = None,
) -> Dataset:
    """Load dataset ``name`` (case-insensitive: live, csiq, tid2013, kadid-10k, pipal, qads, csv).

    ``labels`` picks the label file where a dataset has several (LIVE: dmos|realigned|path;
    CSIQ: an .xlsx or CSV path). For ``csv``, ``root`` is the CSV file and ``lower_better`` is required.
    """
    key = _canonical(name)
    if key == "csv":
        return load_csv(root, lower_better=lower_better)
    loader = _LOADERS.get(key)
    if loader is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}")
    if labels is None:
        return loader.load(root, strict=strict)
    if not loader.takes_labels:
        raise ValueError(
            f"{loader.name} has a single label file; --labels applies to "
            + " and ".join(dict.fromkeys(e.name for e in _LOADERS.values() if e.takes_labels))
            + " only"
        )
    return loader.load(root, labels=labels, strict=strict)

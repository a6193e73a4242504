"""The result types of a benchmark report and the two helpers its writers share.

:class:`DatasetResults` (the stored scores of one dataset), :class:`TableRow` and :class:`PairedRow`
(the statistics computed from them) pass from :mod:`smic.evaluation.report`, which computes them, to
:mod:`smic.evaluation.tables` and :mod:`smic.evaluation.plots`, which write them. They live here so
that report can import its writers and the writers the types without an import cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smic.evaluation.paper import PaperCell
from smic.evaluation.stats import Evaluation, PairedTest
from smic.spec import MetricSpec

__all__ = ["DatasetResults", "PairedRow", "TableRow", "counterpart", "fmt"]


@dataclass
class DatasetResults:
    """All stored scores of one dataset: one array per config, NaN where missing or failed."""

    name: str
    lower_better: bool
    score_name: str
    notes: str
    refs: list[str]
    dists: list[str]
    subjective: np.ndarray
    scores: dict[str, np.ndarray]


@dataclass(frozen=True)
class TableRow:
    """One (config, dataset) line of table.csv."""

    config: MetricSpec
    dataset: str
    evaluation: Evaluation | None
    n_missing: int
    paper: PaperCell | None
    note: str = ""


@dataclass(frozen=True)
class PairedRow:
    """Config ``a`` against config ``b`` on the images both scored."""

    dataset: str
    a: str
    b: str
    test: PairedTest


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def counterpart(config: MetricSpec, attention: str) -> str:
    """The label of ``config`` with another attention: ``lpips+smic:variant=paper`` -> ``lpips+mic:variant=paper``."""
    return MetricSpec.of(config, attention=attention).label

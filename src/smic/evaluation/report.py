"""Result files of a benchmark folder: scores.csv, table.csv, paired.csv, table.md, plots/*.png.

Input is :class:`DatasetResults` and the configurations as :class:`~smic.spec.MetricSpec`;
:func:`read_store` makes both from a results folder's store, whose config labels it parses back
into specs. This module computes the statistics (:func:`evaluate_results`, :func:`paired_rows`) and
:func:`write_reports` hands them to the writers: the CSV files and ``table.md`` in
:mod:`smic.evaluation.tables`, the plots in :mod:`smic.evaluation.plots`. The result types live
in :mod:`smic.evaluation.results` and are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smic.evaluation.paper import paper_cell, paper_method
from smic.evaluation.plots import write_plots
from smic.evaluation.results import DatasetResults, PairedRow, TableRow, counterpart
from smic.evaluation.stats import evaluate, orientation, paired_test
from smic.evaluation.store import ScoreStore
from smic.evaluation.tables import write_paired_csv, write_scores_csv, write_table_csv, write_table_md
from smic.spec import MetricSpec

__all__ = ["DatasetResults", "PairedRow", "TableRow", "read_store", "write_reports"]


def read_store(store: ScoreStore) -> tuple[list[DatasetResults], list[MetricSpec]]:
    """Every dataset of ``store`` with its scores (NaN where a pair has none), and every config
    ever scored into it, its stored label parsed back into a spec."""
    results = []
    for info in store.datasets():
        pairs = store.pairs(info["name"])
        stored = store.scores(info["name"])
        keys = [(ref, dist) for ref, dist, _ in pairs]
        scores = {
            label: np.array([values.get(key, np.nan) for key in keys], dtype=np.float64)
            for label, values in stored.items()
        }
        results.append(
            DatasetResults(
                info["name"],
                bool(info["lower_better"]),
                info["score_name"],
                info["notes"],
                [ref for ref, _ in keys],
                [dist for _, dist in keys],
                np.array([s for _, _, s in pairs], dtype=np.float64),
                scores,
            )
        )
    configs = []
    for row in store.configs():
        try:
            configs.append(MetricSpec.parse(row["name"]))
        except ValueError as error:
            raise ValueError(f"{store.path}: stored config {row['name']!r} is no longer valid: {error}") from error
    return results, configs


# ---------------------------------------------------------------------------- statistics


def evaluate_results(
    results: list[DatasetResults], configs: list[MetricSpec], *, n_boot: int = 1000, seed: int = 0
) -> list[TableRow]:
    """Statistics of every config on every dataset it has scores for (NaN scores left out, counted)."""
    rows = []
    for data in results:
        for config in configs:
            if config.label not in data.scores:
                continue
            scores = data.scores[config.label]
            have = ~np.isnan(scores)
            paper = paper_cell(paper_method(config.name, config.attention), data.name)
            if have.sum() < 3:
                rows.append(TableRow(config, data.name, None, int((~have).sum()), paper, "fewer than 3 scores"))
                continue
            evaluation = evaluate(
                scores[have],
                data.subjective[have],
                metric_lower_better=config.lower_better,
                subjective_lower_better=data.lower_better,
                n_boot=n_boot,
                seed=seed,
            )
            rows.append(TableRow(config, data.name, evaluation, int((~have).sum()), paper))
    return rows


def paired_rows(
    results: list[DatasetResults], configs: list[MetricSpec], *, n_boot: int = 2000, seed: int = 0
) -> list[PairedRow]:
    """Paired tests: each attention config against its plain base, and ``smic`` against the same
    config with ``mic``."""
    by_label = {c.label: c for c in configs}
    comparisons: list[tuple[MetricSpec, MetricSpec]] = []
    for config in configs:
        if config.attention and config.base.label in by_label:
            comparisons.append((config, by_label[config.base.label]))
        if config.attention == "smic" and counterpart(config, "mic") in by_label:
            comparisons.append((config, by_label[counterpart(config, "mic")]))
    rows = []
    for data in results:
        for a, b in comparisons:
            if a.label not in data.scores or b.label not in data.scores:
                continue
            sa, sb = data.scores[a.label], data.scores[b.label]
            both = ~np.isnan(sa) & ~np.isnan(sb)
            if both.sum() < 4:
                continue
            test = paired_test(
                sa[both],
                sb[both],
                data.subjective[both],
                sign_a=orientation(a.lower_better, data.lower_better),
                sign_b=orientation(b.lower_better, data.lower_better),
                n_boot=n_boot,
                seed=seed,
            )
            rows.append(PairedRow(data.name, a.label, b.label, test))
    return rows


def write_reports(
    out: Path,
    results: list[DatasetResults],
    configs: list[MetricSpec],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    plots: bool = True,
) -> tuple[list[TableRow], list[Path]]:
    """Write every result file into ``out``; returns the table rows and the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    rows = evaluate_results(results, configs, n_boot=n_boot, seed=seed)
    paired = paired_rows(results, configs, n_boot=max(n_boot, 0) and 2 * n_boot, seed=seed)
    files = [out / "scores.csv", out / "table.csv", out / "paired.csv", out / "table.md"]
    write_scores_csv(files[0], results, configs)
    write_table_csv(files[1], rows)
    write_paired_csv(files[2], paired)
    write_table_md(files[3], rows, paired, results, configs)
    if plots:
        files += write_plots(out / "plots", results, rows)
    return rows, files

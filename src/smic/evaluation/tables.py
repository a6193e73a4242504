"""The tabular result files of a benchmark folder: scores.csv, table.csv, paired.csv and table.md.

``table.md`` follows the paper's Table I (methods x datasets, SRCC and PLCC) and, when a config is
present with both ``mic`` and ``smic`` attention, Table II; every cell is ``ours / paper (ours - paper)``.
Called by :func:`smic.evaluation.report.write_reports`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from smic.evaluation.paper import PAPER_DATASETS, TABLE_II_DATASETS, paper_cell, paper_method
from smic.evaluation.results import DatasetResults, PairedRow, TableRow, counterpart, fmt
from smic.spec import MetricSpec


def _dataset_order(names: list[str]) -> list[str]:
    paper = [d for d in PAPER_DATASETS if d in names]
    return paper + [d for d in names if d not in paper]


# ---------------------------------------------------------------------------- CSV files


def _number(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def write_scores_csv(path: Path, results: list[DatasetResults], configs: list[MetricSpec]) -> None:
    """One row per pair: dataset, ref, dist, subjective, then one column per config (empty: no score)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "ref", "dist", "subjective"] + [c.label for c in configs])
        for data in results:
            columns = [data.scores.get(c.label) for c in configs]
            for i, (ref, dist) in enumerate(zip(data.refs, data.dists)):
                writer.writerow(
                    [data.name, ref, dist, _number(data.subjective[i])]
                    + ["" if col is None else _number(col[i]) for col in columns]
                )


TABLE_COLUMNS = [
    "metric",
    "dataset",
    "n",
    "n_missing",
    "srcc",
    "krcc",
    "plcc",
    "rmse",
    "raw_plcc",
    "fit_status",
    "srcc_ci_low",
    "srcc_ci_high",
    "plcc_ci_low",
    "plcc_ci_high",
    "ci_level",
    "fit_kind",
    "fit_params",
    "fit_start",
    "maxfev",
    "paper_srcc",
    "paper_plcc",
]


def _table_record(row: TableRow) -> dict[str, str]:
    e = row.evaluation
    record = {
        "metric": row.config.label,
        "dataset": row.dataset,
        "n_missing": str(row.n_missing),
        "paper_srcc": fmt(row.paper.srcc if row.paper else None, 3),
        "paper_plcc": fmt(row.paper.plcc if row.paper else None, 3),
    }
    if e is None:
        return {**record, "n": "0", "fit_status": row.note}
    return {
        **record,
        "n": str(e.n),
        "srcc": fmt(e.srcc, 6),
        "krcc": fmt(e.krcc, 6),
        "plcc": fmt(e.plcc, 6),
        "rmse": f"{e.rmse:.6g}",
        "raw_plcc": fmt(e.raw_plcc, 6),
        "fit_status": e.fit_status,
        "srcc_ci_low": fmt(e.srcc_ci[0], 6),
        "srcc_ci_high": fmt(e.srcc_ci[1], 6),
        "plcc_ci_low": fmt(e.plcc_ci[0], 6),
        "plcc_ci_high": fmt(e.plcc_ci[1], 6),
        "ci_level": str(e.level),
        "fit_kind": e.fit.kind,
        "fit_params": " ".join(f"{p:.8g}" for p in e.fit.params),
        "fit_start": " ".join(f"{p:.6g}" for p in e.fit.start),
        "maxfev": str(e.fit.maxfev),
    }


def write_table_csv(path: Path, rows: list[TableRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, TABLE_COLUMNS, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow(_table_record(row))


PAIRED_COLUMNS = [
    "dataset",
    "a",
    "b",
    "n",
    "srcc_a",
    "srcc_b",
    "delta_srcc",
    "ci_low",
    "ci_high",
    "p_bootstrap",
    "williams_t",
    "p_williams",
]


def write_paired_csv(path: Path, rows: list[PairedRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIRED_COLUMNS)
        for r in rows:
            t = r.test
            writer.writerow(
                [
                    r.dataset,
                    r.a,
                    r.b,
                    t.n,
                    fmt(t.srcc_a, 6),
                    fmt(t.srcc_b, 6),
                    fmt(t.delta, 6),
                    fmt(t.ci[0], 6),
                    fmt(t.ci[1], 6),
                    f"{t.p_bootstrap:.4g}",
                    fmt(t.williams_t, 4),
                    f"{t.p_williams:.4g}",
                ]
            )


# ---------------------------------------------------------------------------- table.md


def _cell(ours: float | None, paper: float | None) -> str:
    if ours is None or math.isnan(ours):
        return "–" if paper is None else f"– / {paper:.3f}"
    if paper is None:
        return f"{ours:.3f} / –"
    return f"{ours:.3f} / {paper:.3f} ({ours - paper:+.3f})"


_FORMS = {"official": "", "paper": "paper's equations", "authors": "authors' code"}


def _method_label(config: MetricSpec) -> str:
    """The label, the paper's row name and, for an attention form, which form the number is."""
    notes = [n for n in (paper_method(config.name, config.attention), _FORMS[config.form]) if n]
    return config.label + (f" ({'; '.join(notes)})" if notes else "")


def _grid(title: str, configs: list[MetricSpec], datasets: list[str], rows: list[TableRow]) -> list[str]:
    by_key = {(r.config.label, r.dataset): r for r in rows}
    header = "| Method | " + " | ".join(f"{d} SRCC | {d} PLCC" for d in datasets) + " |"
    lines = [f"## {title}", "", header, "|---|" + "---|---|" * len(datasets)]
    for config in configs:
        cells = []
        for dataset in datasets:
            row = by_key.get((config.label, dataset))
            paper = row.paper if row else paper_cell(paper_method(config.name, config.attention), dataset)
            e = row.evaluation if row else None
            cells.append(_cell(e.srcc if e else None, paper.srcc if paper else None))
            cells.append(_cell(e.plcc if e else None, paper.plcc if paper else None))
        lines.append(f"| {_method_label(config)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def write_table_md(
    path: Path, rows: list[TableRow], paired: list[PairedRow], results: list[DatasetResults], configs: list[MetricSpec]
) -> None:
    """Table I (and Table II) with the paper's values, then per-row details and the paired tests."""
    datasets = _dataset_order([d.name for d in results])
    lines = [
        "# Benchmark results",
        "",
        "SRCC and KRCC on raw scores, oriented so that a positive value means agreement with the observers;",
        "PLCC and RMSE after the 5-parameter logistic Q(x) = b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5.",
        "Each cell: ours / paper (ours - paper); '–' where a value is missing.",
        "Attention forms: `+smic` is the paper's equations on the official metric (variant=paper);",
        "`+smic:variant=authors` is the authors' code, with which the paper's Table I was computed.",
        "",
        "Datasets:",
        "",
    ]
    lines += [
        f"- {d.name}: {len(d.subjective)} pairs, {d.score_name} "
        f"({'lower' if d.lower_better else 'higher'} is better); {d.notes}"
        for d in results
    ]
    lines.append("")
    table_one = [c for c in configs if c.attention is None] + [c for c in configs if c.attention not in (None, "mic")]
    if table_one:
        lines += _grid("Table I", table_one, datasets, rows)
    labels = {c.label for c in configs}
    with_mic = [c for c in configs if c.attention == "smic" and counterpart(c, "mic") in labels]
    paired_mic = {counterpart(c, "mic") for c in with_mic}
    if with_mic:
        columns = [d for d in TABLE_II_DATASETS if d in datasets]  # the paper's columns first
        columns += [d for d in datasets if d not in columns]
        lines += _grid(
            "Table II (MIC against SMIC)", [c for c in configs if c.label in paired_mic] + with_mic, columns, rows
        )
    others = [c for c in configs if c.attention == "mic" and c.label not in paired_mic]
    if others:
        lines += _grid("MIC attention", others, datasets, rows)

    lines += [
        "## Details",
        "",
        "| Metric | Dataset | n | missing | SRCC [CI] | KRCC | PLCC [CI] | RMSE | raw PLCC | fit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        e = row.evaluation
        if e is None:
            lines.append(f"| {row.config.label} | {row.dataset} | 0 | {row.n_missing} | | | | | | {row.note} |")
            continue
        lines.append(
            f"| {row.config.label} | {row.dataset} | {e.n} | {row.n_missing} | {e.srcc:.4f} "
            f"[{fmt(e.srcc_ci[0])}, {fmt(e.srcc_ci[1])}] | {e.krcc:.4f} | {fmt(e.plcc)} "
            f"[{fmt(e.plcc_ci[0])}, {fmt(e.plcc_ci[1])}] | {e.rmse:.4g} | {fmt(e.raw_plcc)} | {e.fit_status} |"
        )
    if rows and rows[0].evaluation is not None:
        level = rows[0].evaluation.level
        lines += ["", f"CIs: {level:.0%} percentile bootstrap over images (PLCC with the logistic held fixed)."]
    if paired:
        lines += [
            "",
            "## Paired tests (same images)",
            "",
            "| Dataset | A | B | n | SRCC A | SRCC B | ΔSRCC [CI] | p (bootstrap) | p (Williams) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in paired:
            t = r.test
            lines.append(
                f"| {r.dataset} | {r.a} | {r.b} | {t.n} | {t.srcc_a:.4f} | {t.srcc_b:.4f} | "
                f"{t.delta:+.4f} [{fmt(t.ci[0])}, {fmt(t.ci[1])}] | {t.p_bootstrap:.3g} | "
                f"{t.p_williams:.3g} |"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

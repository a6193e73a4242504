"""Result files of a benchmark folder: scores.csv, table.csv, paired.csv, table.md, plots/*.png.

Input is plain data (:class:`DatasetResults`, :class:`ConfigInfo`); the runner reads it from its
store. ``table.md`` follows the paper's Table I (methods x datasets, SRCC and PLCC) and, when a
metric is present with both ``mic`` and ``smic`` attention, Table II; every cell is
``ours / paper (ours - paper)``.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smic.evaluation.paper import PAPER_DATASETS, TABLE_II_DATASETS, PaperCell, paper_cell, paper_method
from smic.evaluation.stats import Evaluation, PairedTest, evaluate, orientation, paired_test

__all__ = ["ConfigInfo", "DatasetResults", "PairedRow", "TableRow", "write_reports"]


@dataclass(frozen=True)
class ConfigInfo:
    """A metric configuration as scored: ``name`` like ``psnr``, ``psnr+smic``, ``psnr:data_range=2``."""

    name: str
    metric: str
    attention: str | None
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    lower_better: bool = False

    @property
    def base(self) -> str:
        """The config without its attention: what a ``+smic`` config is compared against."""
        return self.name.replace(f"+{self.attention}", "", 1) if self.attention else self.name


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

    config: ConfigInfo
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


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+._=-]", "_", text)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def _dataset_order(names: list[str]) -> list[str]:
    paper = [d for d in PAPER_DATASETS if d in names]
    return paper + [d for d in names if d not in paper]


# ---------------------------------------------------------------------------- statistics


def evaluate_results(results: list[DatasetResults], configs: list[ConfigInfo], *, n_boot: int = 1000,
                     seed: int = 0) -> list[TableRow]:
    """Statistics of every config on every dataset it has scores for (NaN scores left out, counted)."""
    rows = []
    for data in results:
        for config in configs:
            if config.name not in data.scores:
                continue
            scores = data.scores[config.name]
            have = ~np.isnan(scores)
            paper = paper_cell(paper_method(config.metric, config.attention), data.name)
            if have.sum() < 3:
                rows.append(TableRow(config, data.name, None, int((~have).sum()), paper, "fewer than 3 scores"))
                continue
            evaluation = evaluate(scores[have], data.subjective[have], metric_lower_better=config.lower_better,
                                  subjective_lower_better=data.lower_better, n_boot=n_boot, seed=seed)
            rows.append(TableRow(config, data.name, evaluation, int((~have).sum()), paper))
    return rows


def paired_rows(results: list[DatasetResults], configs: list[ConfigInfo], *, n_boot: int = 2000,
                seed: int = 0) -> list[PairedRow]:
    """Paired tests: each attention config against its plain base, and ``smic`` against ``mic``."""
    by_name = {c.name: c for c in configs}
    comparisons: list[tuple[ConfigInfo, ConfigInfo]] = []
    for config in configs:
        if config.attention and config.base in by_name:
            comparisons.append((config, by_name[config.base]))
        if config.attention == "smic":
            mic = next((c for c in configs if c.attention == "mic" and c.base == config.base), None)
            if mic is not None:
                comparisons.append((config, mic))
    rows = []
    for data in results:
        for a, b in comparisons:
            if a.name not in data.scores or b.name not in data.scores:
                continue
            sa, sb = data.scores[a.name], data.scores[b.name]
            both = ~np.isnan(sa) & ~np.isnan(sb)
            if both.sum() < 4:
                continue
            test = paired_test(sa[both], sb[both], data.subjective[both],
                               sign_a=orientation(a.lower_better, data.lower_better),
                               sign_b=orientation(b.lower_better, data.lower_better), n_boot=n_boot, seed=seed)
            rows.append(PairedRow(data.name, a.name, b.name, test))
    return rows


# ---------------------------------------------------------------------------- CSV files


def _number(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def write_scores_csv(path: Path, results: list[DatasetResults], configs: list[ConfigInfo]) -> None:
    """One row per pair: dataset, ref, dist, subjective, then one column per config (empty: no score)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "ref", "dist", "subjective"] + [c.name for c in configs])
        for data in results:
            columns = [data.scores.get(c.name) for c in configs]
            for i, (ref, dist) in enumerate(zip(data.refs, data.dists)):
                writer.writerow([data.name, ref, dist, _number(data.subjective[i])]
                                + ["" if col is None else _number(col[i]) for col in columns])


TABLE_COLUMNS = ["metric", "dataset", "n", "n_missing", "srcc", "krcc", "plcc", "rmse", "raw_plcc", "fit_status",
                 "srcc_ci_low", "srcc_ci_high", "plcc_ci_low", "plcc_ci_high", "ci_level", "fit_kind", "fit_params",
                 "fit_start", "maxfev", "paper_srcc", "paper_plcc"]


def _table_record(row: TableRow) -> dict[str, str]:
    e = row.evaluation
    record = {"metric": row.config.name, "dataset": row.dataset, "n_missing": str(row.n_missing),
              "paper_srcc": _fmt(row.paper.srcc if row.paper else None, 3),
              "paper_plcc": _fmt(row.paper.plcc if row.paper else None, 3)}
    if e is None:
        return {**record, "n": "0", "fit_status": row.note}
    return {**record, "n": str(e.n), "srcc": _fmt(e.srcc, 6), "krcc": _fmt(e.krcc, 6), "plcc": _fmt(e.plcc, 6),
            "rmse": f"{e.rmse:.6g}", "raw_plcc": _fmt(e.raw_plcc, 6), "fit_status": e.fit_status,
            "srcc_ci_low": _fmt(e.srcc_ci[0], 6), "srcc_ci_high": _fmt(e.srcc_ci[1], 6),
            "plcc_ci_low": _fmt(e.plcc_ci[0], 6), "plcc_ci_high": _fmt(e.plcc_ci[1], 6), "ci_level": str(e.level),
            "fit_kind": e.fit.kind, "fit_params": " ".join(f"{p:.8g}" for p in e.fit.params),
            "fit_start": " ".join(f"{p:.6g}" for p in e.fit.start), "maxfev": str(e.fit.maxfev)}


def write_table_csv(path: Path, rows: list[TableRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, TABLE_COLUMNS, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow(_table_record(row))


PAIRED_COLUMNS = ["dataset", "a", "b", "n", "srcc_a", "srcc_b", "delta_srcc", "ci_low", "ci_high", "p_bootstrap",
                  "williams_t", "p_williams"]


def write_paired_csv(path: Path, rows: list[PairedRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIRED_COLUMNS)
        for r in rows:
            t = r.test
            writer.writerow([r.dataset, r.a, r.b, t.n, _fmt(t.srcc_a, 6), _fmt(t.srcc_b, 6), _fmt(t.delta, 6),
                             _fmt(t.ci[0], 6), _fmt(t.ci[1], 6), f"{t.p_bootstrap:.4g}", _fmt(t.williams_t, 4),
                             f"{t.p_williams:.4g}"])


# ---------------------------------------------------------------------------- table.md


def _cell(ours: float | None, paper: float | None) -> str:
    if ours is None or math.isnan(ours):
        return "–" if paper is None else f"– / {paper:.3f}"
    if paper is None:
        return f"{ours:.3f} / –"
    return f"{ours:.3f} / {paper:.3f} ({ours - paper:+.3f})"


def _method_label(config: ConfigInfo) -> str:
    method = paper_method(config.metric, config.attention)
    return config.name if method is None else f"{config.name} ({method})"


def _grid(title: str, configs: list[ConfigInfo], datasets: list[str], rows: list[TableRow]) -> list[str]:
    by_key = {(r.config.name, r.dataset): r for r in rows}
    header = "| Method | " + " | ".join(f"{d} SRCC | {d} PLCC" for d in datasets) + " |"
    lines = [f"## {title}", "", header, "|---|" + "---|---|" * len(datasets)]
    for config in configs:
        cells = []
        for dataset in datasets:
            row = by_key.get((config.name, dataset))
            paper = row.paper if row else paper_cell(paper_method(config.metric, config.attention), dataset)
            e = row.evaluation if row else None
            cells.append(_cell(e.srcc if e else None, paper.srcc if paper else None))
            cells.append(_cell(e.plcc if e else None, paper.plcc if paper else None))
        lines.append(f"| {_method_label(config)} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_table_md(path: Path, rows: list[TableRow], paired: list[PairedRow], results: list[DatasetResults],
                   configs: list[ConfigInfo]) -> None:
    """Table I (and Table II) with the paper's values, then per-row details and the paired tests."""
    datasets = _dataset_order([d.name for d in results])
    lines = ["# Benchmark results", "",
             "SRCC and KRCC on raw scores, oriented so that a positive value means agreement with the observers;",
             "PLCC and RMSE after the 5-parameter logistic Q(x) = b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5.",
             "Each cell: ours / paper (ours - paper); '–' where a value is missing.", "", "Datasets:", ""]
    lines += [f"- {d.name}: {len(d.subjective)} pairs, {d.score_name} "
              f"({'lower' if d.lower_better else 'higher'} is better); {d.notes}" for d in results]
    lines.append("")
    mic_bases = {c.base for c in configs if c.attention == "mic"}
    smic_bases = {c.base for c in configs if c.attention == "smic"}
    table_one = ([c for c in configs if c.attention is None] +
                 [c for c in configs if c.attention not in (None, "mic")])
    if table_one:
        lines += _grid("Table I", table_one, datasets, rows)
    both = mic_bases & smic_bases
    if both:
        table_two = ([c for c in configs if c.attention == "mic" and c.base in both] +
                     [c for c in configs if c.attention == "smic" and c.base in both])
        columns = [d for d in TABLE_II_DATASETS if d in datasets]  # the paper's columns first
        columns += [d for d in datasets if d not in columns]
        lines += _grid("Table II (MIC against SMIC)", table_two, columns, rows)
    others = [c for c in configs if c.attention == "mic" and c.base not in both]
    if others:
        lines += _grid("MIC attention", others, datasets, rows)

    lines += ["## Details", "",
              "| Metric | Dataset | n | missing | SRCC [CI] | KRCC | PLCC [CI] | RMSE | raw PLCC | fit |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        e = row.evaluation
        if e is None:
            lines.append(f"| {row.config.name} | {row.dataset} | 0 | {row.n_missing} | | | | | | {row.note} |")
            continue
        lines.append(
            f"| {row.config.name} | {row.dataset} | {e.n} | {row.n_missing} | {e.srcc:.4f} "
            f"[{_fmt(e.srcc_ci[0])}, {_fmt(e.srcc_ci[1])}] | {e.krcc:.4f} | {_fmt(e.plcc)} "
            f"[{_fmt(e.plcc_ci[0])}, {_fmt(e.plcc_ci[1])}] | {e.rmse:.4g} | {_fmt(e.raw_plcc)} | {e.fit_status} |")
    if rows and rows[0].evaluation is not None:
        level = rows[0].evaluation.level
        lines += ["", f"CIs: {level:.0%} percentile bootstrap over images (PLCC with the logistic held fixed)."]
    if paired:
        lines += ["", "## Paired tests (same images)", "",
                  "| Dataset | A | B | n | SRCC A | SRCC B | ΔSRCC [CI] | p (bootstrap) | p (Williams) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in paired:
            t = r.test
            lines.append(f"| {r.dataset} | {r.a} | {r.b} | {t.n} | {t.srcc_a:.4f} | {t.srcc_b:.4f} | "
                         f"{t.delta:+.4f} [{_fmt(t.ci[0])}, {_fmt(t.ci[1])}] | {t.p_bootstrap:.3g} | "
                         f"{t.p_williams:.3g} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------- plots


def write_plots(folder: Path, results: list[DatasetResults], rows: list[TableRow]) -> list[Path]:
    """One scatter PNG per (config, dataset): score against subjective score, with the fitted curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    data_by_name = {d.name: d for d in results}
    written = []
    for row in rows:
        e = row.evaluation
        if e is None:
            continue
        data = data_by_name[row.dataset]
        scores = data.scores[row.config.name]
        have = ~np.isnan(scores)
        x, y = scores[have], data.subjective[have]
        finite = np.isfinite(x)
        x = np.clip(x, x[finite].min(), x[finite].max()) if finite.any() else x
        figure = Figure(figsize=(4.8, 3.6), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.scatter(x, y, s=6, alpha=0.5, linewidths=0)
        grid = np.linspace(x.min(), x.max(), 200)
        axes.plot(grid, e.fit.predict(grid), color="C3", linewidth=1.5, label=f"{e.fit.kind} fit")
        axes.set_xlabel(f"{row.config.name} ({'lower' if row.config.lower_better else 'higher'} is better)")
        axes.set_ylabel(f"{data.score_name} ({'lower' if data.lower_better else 'higher'} is better)")
        axes.set_title(f"{row.config.name} on {row.dataset}: SRCC {e.srcc:.3f}, PLCC {_fmt(e.plcc, 3)}", fontsize=9)
        axes.legend(fontsize=8)
        figure.tight_layout()
        path = folder / f"{_safe(row.config.name)}__{_safe(row.dataset)}.png"
        figure.savefig(path)
        written.append(path)
    return written


def write_reports(out: Path, results: list[DatasetResults], configs: list[ConfigInfo], *, n_boot: int = 1000,
                  seed: int = 0, plots: bool = True) -> tuple[list[TableRow], list[Path]]:
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

"""The plots of a benchmark folder: plots/*.png, one scatter per (config, dataset) with the fitted
logistic. matplotlib is imported only when they are drawn. Called by
:func:`smic.evaluation.report.write_reports`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from smic.evaluation.results import DatasetResults, TableRow, fmt


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+._=-]", "_", text)


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
        scores = data.scores[row.config.label]
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
        axes.set_xlabel(f"{row.config.label} ({'lower' if row.config.lower_better else 'higher'} is better)")
        axes.set_ylabel(f"{data.score_name} ({'lower' if data.lower_better else 'higher'} is better)")
        axes.set_title(f"{row.config.label} on {row.dataset}: SRCC {e.srcc:.3f}, PLCC {fmt(e.plcc, 3)}", fontsize=9)
        axes.legend(fontsize=8)
        figure.tight_layout()
        path = folder / f"{_safe(row.config.label)}__{_safe(row.dataset)}.png"
        figure.savefig(path)
        written.append(path)
    return written

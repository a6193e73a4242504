"""Benchmarking: dataset loaders, correlation statistics, the resumable runner and its reports.

``load_dataset(name, root)`` -> :class:`Dataset`; ``run_benchmark(dataset, metrics, out)`` scores
every pair into ``out/scores.sqlite`` and writes scores.csv, table.csv, table.md and plots/.
Names are imported lazily: the statistics (scipy) and the runner load when one of their names is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Dataset": "datasets",
    "Pair": "datasets",
    "list_datasets": "datasets",
    "load_csv": "datasets",
    "load_dataset": "datasets",
    "Evaluation": "stats",
    "evaluate": "stats",
    "fit_logistic": "stats",
    "paired_test": "stats",
    "Summary": "runner",
    "run_benchmark": "runner",
}
__all__ = [
    "Dataset",
    "Evaluation",
    "Pair",
    "Summary",
    "evaluate",
    "fit_logistic",
    "list_datasets",
    "load_csv",
    "load_dataset",
    "paired_test",
    "run_benchmark",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'smic.evaluation' has no attribute {name!r}")
    return getattr(import_module(f"smic.evaluation.{_EXPORTS[name]}"), name)

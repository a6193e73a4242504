"""The on-disk store of a benchmark run: every score as it is made, so a run can resume."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STORE_NAME = "scores.sqlite"


SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (name TEXT PRIMARY KEY, root TEXT, label_file TEXT,
    lower_better INTEGER, score_name TEXT, notes TEXT);
CREATE TABLE IF NOT EXISTS pairs (dataset TEXT, position INTEGER, ref TEXT, dist TEXT, subjective REAL,
    PRIMARY KEY (dataset, ref, dist));
CREATE TABLE IF NOT EXISTS configs (name TEXT PRIMARY KEY, metric TEXT, attention TEXT, options TEXT,
    lower_better INTEGER, added REAL);
CREATE TABLE IF NOT EXISTS scores (id INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT, ref TEXT, dist TEXT,
    config TEXT, score REAL NOT NULL, run INTEGER, created REAL, UNIQUE (dataset, ref, dist, config));
CREATE TABLE IF NOT EXISTS failures (dataset TEXT, ref TEXT, dist TEXT, config TEXT, reason TEXT, run INTEGER,
    created REAL, PRIMARY KEY (dataset, ref, dist, config));
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT, configs TEXT, started REAL,
    finished REAL, computed INTEGER DEFAULT 0, status TEXT);
"""


class ScoreStore:
    """SQLite store (``<out>/scores.sqlite``) of scores, failures, pairs and the configs that made them.

    One row per (dataset, ref, dist, config) in ``scores``, written with a plain INSERT under a
    UNIQUE key, so a stored score is never computed and stored twice (a second insert raises);
    each row keeps the ``run`` that made it and when. Commits are atomic (WAL journal), so a
    killed run keeps every committed batch. ``failures`` holds the open failures and reasons.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")  # committed data survives a killed process
        self.db.executescript(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    # -------------------------------------------------------------- datasets and configs

    def set_dataset(
        self,
        name: str,
        root: str,
        label_file: str,
        lower_better: bool,
        score_name: str,
        notes: str,
        pairs: list[tuple[str, str, float]],
    ) -> None:
        """Record a dataset and its labelled pairs (replacing its earlier pairs; scores stay)."""
        row = self.db.execute("SELECT root FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] != root:
            raise ValueError(
                f"{self.path} already holds dataset {name!r} from {row[0]}, not {root}: its stored "
                "scores may belong to other images; use another --out folder"
            )
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                (name, root, label_file, int(lower_better), score_name, notes),
            )
            self.db.execute("DELETE FROM pairs WHERE dataset = ?", (name,))
            self.db.executemany(
                "INSERT INTO pairs VALUES (?, ?, ?, ?, ?)",
                [(name, i, ref, dist, score) for i, (ref, dist, score) in enumerate(pairs)],
            )

    def set_config(
        self, name: str, metric: str, attention: str | None, options: dict[str, Any], lower_better: bool
    ) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    metric,
                    attention,
                    json.dumps(options, sort_keys=True, default=str),
                    int(lower_better),
                    time.time(),
                ),
            )
            self.db.execute("UPDATE configs SET lower_better = ? WHERE name = ?", (int(lower_better), name))

    def datasets(self) -> list[dict[str, Any]]:
        cursor = self.db.execute(
            "SELECT name, root, label_file, lower_better, score_name, notes FROM datasets ORDER BY rowid"
        )
        return [dict(zip(("name", "root", "label_file", "lower_better", "score_name", "notes"), row)) for row in cursor]

    def configs(self) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT name, metric, attention, options, lower_better FROM configs ORDER BY added")
        return [
            {"name": n, "metric": m, "attention": a, "options": json.loads(o), "lower_better": bool(lb)}
            for n, m, a, o, lb in cursor
        ]

    def pairs(self, dataset: str) -> list[tuple[str, str, float]]:
        cursor = self.db.execute(
            "SELECT ref, dist, subjective FROM pairs WHERE dataset = ? ORDER BY position", (dataset,)
        )
        return list(cursor)

    # -------------------------------------------------------------- runs, scores, failures

    def start_run(self, dataset: str, configs: list[str]) -> int:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO runs (dataset, configs, started, status) VALUES (?, ?, ?, ?)",
                (dataset, ",".join(configs), time.time(), "running"),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run: int, computed: int, status: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET finished = ?, computed = ?, status = ? WHERE id = ?",
                (time.time(), computed, status, run),
            )

    def stored_keys(self, dataset: str) -> set[tuple[str, str, str]]:
        """(ref, dist, config) of every stored score of ``dataset``."""
        return set(self.db.execute("SELECT ref, dist, config FROM scores WHERE dataset = ?", (dataset,)))

    def add_scores(self, dataset: str, config: str, run: int, rows: Iterable[tuple[str, str, float]]) -> None:
        """Insert new scores (plain INSERT: storing an already stored key raises IntegrityError)."""
        now = time.time()
        rows = list(rows)
        self.db.executemany(
            "INSERT INTO scores (dataset, ref, dist, config, score, run, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(dataset, ref, dist, config, score, run, now) for ref, dist, score in rows],
        )
        self.db.executemany(
            "DELETE FROM failures WHERE dataset = ? AND ref = ? AND dist = ? AND config = ?",
            [(dataset, ref, dist, config) for ref, dist, _ in rows],
        )

    def add_failure(self, dataset: str, ref: str, dist: str, config: str, reason: str, run: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
            (dataset, ref, dist, config, reason, run, time.time()),
        )

    def scores(self, dataset: str) -> dict[str, dict[tuple[str, str], float]]:
        """config -> {(ref, dist): score} for ``dataset``."""
        result: dict[str, dict[tuple[str, str], float]] = {}
        for ref, dist, config, score in self.db.execute(
            "SELECT ref, dist, config, score FROM scores WHERE dataset = ?", (dataset,)
        ):
            result.setdefault(config, {})[(ref, dist)] = score
        return result

    def failures(self, dataset: str | None = None) -> list[tuple[str, str, str, str, str]]:
        """(dataset, ref, dist, config, reason) of the failures still open."""
        query = "SELECT dataset, ref, dist, config, reason FROM failures"
        if dataset is None:
            return list(self.db.execute(query + " ORDER BY dataset, config, ref, dist"))
        return list(self.db.execute(query + " WHERE dataset = ? ORDER BY config, ref, dist", (dataset,)))

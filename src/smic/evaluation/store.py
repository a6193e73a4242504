"""The on-disk store of a benchmark run: every score as it is made, so a run can resume.

A run opens its results folder with :meth:`ScoreStore.open_run`, which locks the folder
(``<out>/.lock``) for the whole run and refuses, in one line (:class:`StoreError`), to go on with
a store that is empty or damaged, or with result files but no store; result files are rewritten
(:meth:`ScoreStore.staged_results`) only from a store that holds every score of ``scores.csv``,
each file replaced whole. A read-only folder or a full disk is one line too; committed scores stay.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from smic.registry import has_authors_form

if sys.platform != "win32":
    import fcntl

STORE_NAME = "scores.sqlite"
LOCK_NAME = ".lock"
RESULT_FILES = ("scores.csv", "table.csv", "paired.csv", "table.md", "failures.csv")
STAGING_PREFIX = ".results-"


# 1: "+smic"/"+mic" labels without a variant mean the paper's form; before (0), the authors' form
# where their code has the metric, and "variant=reference" named it
STORE_VERSION = 1

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


class StoreError(ValueError):
    """A results folder or its store cannot be used, said in one line (``smic bench`` prints it, exit 2)."""


class StoreBusyError(StoreError):
    """Another run holds the folder's lock."""


class StoreDamagedError(StoreError):
    """The store exists but is empty (0 bytes) or malformed."""


class StoreMismatchError(StoreError):
    """The folder's result files hold scores its store lacks (or it has results but no store)."""


class StoreWriteError(StoreError):
    """The store or a result file cannot be written: a read-only folder, a full disk, an I/O error."""


_P = ParamSpec("_P")
_R = TypeVar("_R")

# sqlite3 names these causes only from Python 3.11 (sqlite_errorname); the texts are SQLite's own
_WRITE_NAMES = ("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_BUSY")
_WRITE_TEXTS = ("readonly", "disk is full", "disk i/o error", "unable to open", "database is locked")


def legacy_label(label: str) -> str:
    """A config label of a version-0 store as the label of the same computation now: an attention
    form without a variant was the authors' code where they have the metric, ``variant=reference``
    named it, and a paper form's ``k`` was its number of projections."""
    head, *options = label.split(":")
    if "+" not in head or head.endswith(("+none", "+")):
        return label
    name = head.partition("+")[0]
    pairs = dict(option.partition("=")[::2] for option in options)
    variant = pairs.pop("variant", None)
    if variant in (None, "reference") and has_authors_form(name):
        pairs["variant"] = "authors"
    if pairs.get("variant") != "authors" and "k" in pairs:
        pairs["projections"] = pairs.pop("k")
    return head + "".join(f":{key}={value}" for key, value in sorted(pairs.items()))


def _damaged(path: Path, cause: str) -> StoreDamagedError:
    return StoreDamagedError(
        f"{path} is {cause}: restore it from a backup, or move it away and rerun with --fresh to start a "
        f"new store; the result files in {path.parent} were left untouched"
    )


def _unwritable(path: Path | str, cause: str, store: Path) -> StoreWriteError:
    where = "" if Path(path) == store else f" in {store}"
    return StoreWriteError(
        f"cannot write to {path}: {cause}; the scores stored so far are kept{where}: free some space "
        "or make the folder writable, then run the same command again to resume"
    )


def _os_cause(error: OSError) -> str:
    return error.strerror or str(error)


def _sqlite_problem(path: Path, error: sqlite3.Error) -> StoreError | None:
    """The one-line error for a damaged or unwritable store; None for any other error (a bug)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    text = str(error)
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or type(error) is sqlite3.DatabaseError:
        return _damaged(path, f"damaged ({text})")
    if isinstance(error, sqlite3.OperationalError) and (
        name.startswith(_WRITE_NAMES) or any(t in text.lower() for t in _WRITE_TEXTS)
    ):
        return _unwritable(path, text, path)
    return None


def _guarded(method: Callable[Concatenate[ScoreStore, _P], _R]) -> Callable[Concatenate[ScoreStore, _P], _R]:
    """Turn a damaged or unwritable store's sqlite3 error into its one-line :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: ScoreStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            problem = _sqlite_problem(self.path, error)
            if problem is None:
                raise
            raise problem from error

    return wrapper


def _lock_folder(out: Path) -> int:
    """Hold ``<out>/.lock`` (flock, so the kernel drops it when the process dies); its file names the
    holder. Refuses at once rather than wait: a run takes hours, and waiting looks like a hang."""
    path = out / LOCK_NAME
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _unwritable(error.filename or path, _os_cause(error), out / STORE_NAME) from error
    if sys.platform == "win32":  # no flock: runs are not serialised there, the inserts stay safe
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid, _, since = os.pread(fd, 200, 0).decode(errors="replace").strip().partition(" ")
        finally:
            os.close(fd)
        holder = f"pid {pid} since {since}" if pid and since else "pid unknown"
        raise StoreBusyError(f"another smic run is using {out} ({holder}); wait for it or use another --out") from None
    except OSError:  # a file system without locks: go on unlocked, the inserts stay safe
        pass
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
    except OSError as error:
        os.close(fd)
        raise _unwritable(path, _os_cause(error), out / STORE_NAME) from error
    return fd


class ScoreStore:
    """SQLite store (``<out>/scores.sqlite``) of scores, failures, pairs and the configs that made them.

    One row per (dataset, ref, dist, config) in ``scores``, under a UNIQUE key: a stored score is
    never replaced, and one stored meanwhile by another process is kept, not an error; each row
    keeps the ``run`` that made it and when. Commits are atomic (WAL journal), so a killed run keeps
    every committed batch. ``failures`` holds the open failures and reasons.

    Opening checks the store: an existing file that is empty (0 bytes) or malformed raises
    :class:`StoreDamagedError` and is left as it is; a new store appears whole or not at all. A
    damaged or unwritable store met later raises :class:`StoreDamagedError` or
    :class:`StoreWriteError`. A run opens the store with :meth:`open_run`.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.fresh = False
        self._lock: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
            elif self.path.stat().st_size == 0:  # SQLite would take it for a new store and start over
                raise _damaged(self.path, "empty (0 bytes)")
        except OSError as error:
            raise _unwritable(error.filename or self.path, _os_cause(error), self.path) from error
        try:
            self.db = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as error:
            problem = _sqlite_problem(self.path, error)
            if problem is None:
                raise
            raise problem from error
        try:
            self._check()
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def open_run(cls, out: Path | str, *, fresh: bool = False) -> ScoreStore:
        """The store of the results folder ``out``, for a run: the folder stays locked until
        :meth:`close` (a second run is refused with :class:`StoreBusyError`). Result files without
        a store are refused (:class:`StoreMismatchError`) unless ``fresh``: start a new store and
        let it replace the folder's result files, whatever they hold."""
        out = Path(out)
        lock = _lock_folder(out)
        try:
            path = out / STORE_NAME
            wal = path.with_name(path.name + "-wal")
            if not path.exists() and wal.exists() and wal.stat().st_size > 0:  # SQLite would replay or drop it
                raise StoreDamagedError(
                    f"{path} is missing but its journal {wal} is there: restore the store from a backup, or "
                    f"move the journal away; the result files in {out} were left untouched"
                )
            results = [name for name in RESULT_FILES if (out / name).exists()]
            if not path.exists() and results and not fresh:
                raise StoreMismatchError(
                    f"{out} holds result files ({', '.join(results)}) but no {STORE_NAME}: restore the store "
                    "from a backup, move the old results away, or rerun with --fresh to start a new store "
                    "that replaces them"
                )
            for stale in out.glob(STAGING_PREFIX + "*"):  # left by a killed run; the lock says none is live
                shutil.rmtree(stale, ignore_errors=True)
            for stale in out.glob(f".{STORE_NAME}.*.new*"):
                stale.unlink(missing_ok=True)
            store = cls(path)
        except OSError as error:
            os.close(lock)
            raise _unwritable(error.filename or out, _os_cause(error), out / STORE_NAME) from error
        except BaseException:
            os.close(lock)
            raise
        store._lock, store.fresh = lock, fresh
        return store

    def _create(self) -> None:
        """Make the store beside its place and link it in: a killed run never leaves a 0-byte store."""
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        temp.unlink(missing_ok=True)
        try:
            db = sqlite3.connect(temp)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                db.execute(f"PRAGMA user_version = {STORE_VERSION}")
                db.commit()
            finally:
                db.close()  # the last connection folds the WAL into the file
            try:
                os.link(temp, self.path)  # never over a store another process made meanwhile
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not self.path.exists():
                    os.replace(temp, self.path)
        except sqlite3.OperationalError as error:
            raise _unwritable(self.path, str(error), self.path) from error
        finally:
            temp.unlink(missing_ok=True)

    @_guarded
    def _check(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")  # committed data survive a killed process
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise _damaged(self.path, f"damaged ({'; '.join(map(str, problems))})")
        self.db.executescript(SCHEMA)
        self.db.commit()
        if self.db.execute("PRAGMA user_version").fetchone()[0] < STORE_VERSION:
            self._upgrade_labels()

    def _upgrade_labels(self) -> None:
        """Give a version-0 store's configs the labels that keep their meaning now that ``+smic``
        is the paper's form (``psnr+smic`` -> ``psnr+smic:variant=authors``), in the store and in
        the header of the folder's scores.csv, so resume and the result check see one name."""
        names = [row[0] for row in self.db.execute("SELECT name FROM configs")]
        names += [row[0] for row in self.db.execute("SELECT DISTINCT config FROM scores")]
        renamed = {old: new for old in dict.fromkeys(names) if (new := legacy_label(old)) != old}
        with self.db:
            for old, new in renamed.items():
                self.db.execute("UPDATE configs SET name = ? WHERE name = ?", (new, old))
                for table in ("scores", "failures"):
                    self.db.execute(f"UPDATE {table} SET config = ? WHERE config = ?", (new, old))
            for run, configs in list(self.db.execute("SELECT id, configs FROM runs")):
                labels = ",".join(renamed.get(label, label) for label in (configs or "").split(","))
                self.db.execute("UPDATE runs SET configs = ? WHERE id = ?", (labels, run))
            self.db.execute(f"PRAGMA user_version = {STORE_VERSION}")
        published = self.path.parent / "scores.csv"
        if renamed and published.exists():
            lines = published.read_text(encoding="utf-8").splitlines(keepends=True)
            header = next(csv.reader(lines[:1]), [])
            lines[0] = ",".join(renamed.get(label, label) for label in header) + "\n"
            temp = published.with_name(f".{published.name}.{os.getpid()}.new")
            temp.write_text("".join(lines), encoding="utf-8")
            os.replace(temp, published)

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            if self._lock is not None:
                os.close(self._lock)  # closing the file drops the flock
                self._lock = None

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_guarded
    def commit(self) -> None:
        self.db.commit()

    # -------------------------------------------------------------- result files

    @_guarded
    def check_results(self) -> None:
        """Raise :class:`StoreMismatchError` unless every score in the folder's ``scores.csv`` is in
        this store, so result files rewritten from it lose nothing (after a backup was restored,
        say). The keys are matched in SQLite: a large store is not read into memory."""
        path = self.path.parent / "scores.csv"
        if not path.exists():
            return
        self.db.commit()  # the rollback below must not take pending scores with it
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS published (dataset, ref, dist, config)")
        lacking = (
            " FROM temp.published p WHERE NOT EXISTS (SELECT 1 FROM main.scores s WHERE"
            " s.dataset = p.dataset AND s.ref = p.ref AND s.dist = p.dist AND s.config = p.config)"
        )
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, ["dataset", "ref", "dist", "subjective"])
                if header[:4] != ["dataset", "ref", "dist", "subjective"]:
                    raise csv.Error("not a smic scores file")
                configs = header[4:]
                self.db.executemany(
                    "INSERT INTO temp.published VALUES (?, ?, ?, ?)",
                    (
                        (row[0], row[1], row[2], config)
                        for row in reader
                        if len(row) >= 3
                        for config, value in zip(configs, row[4:])
                        if value
                    ),
                )
            count = self.db.execute("SELECT COUNT(*)" + lacking).fetchone()[0]
            example = self.db.execute("SELECT p.dataset, p.ref, p.dist, p.config" + lacking + " LIMIT 1").fetchone()
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            cause = _os_cause(error) if isinstance(error, OSError) else str(error)
            raise StoreMismatchError(
                f"cannot read {path} ({cause}): the result files were left untouched; move it away to write new ones"
            ) from error
        finally:
            self.db.rollback()  # drops the rows, keeps the (empty) temporary table
        if count:
            dataset, ref, dist, config = example
            raise StoreMismatchError(
                f"{path} holds {count} scores that {self.path} lacks (e.g. {config} of {dataset} {ref} | {dist}): "
                "the result files were left untouched; restore the store from a backup, score those configs "
                "again, or rerun with --fresh to let this store replace them"
            )

    @contextmanager
    def staged_results(self) -> Iterator[Path]:
        """A temporary folder in the results folder to write result files into; when the block ends
        without an error each file replaces its namesake (``os.replace``: whole, never half), and an
        error leaves the old ones. Checks first (:meth:`check_results`, unless ``fresh``) that
        this store holds every published score. A failed write raises :class:`StoreWriteError`."""
        folder = self.path.parent
        if not self.fresh:
            self.check_results()
        stage: Path | None = None
        try:
            stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
            yield stage
            for source in sorted(stage.rglob("*")):
                if source.is_file():
                    target = folder / source.relative_to(stage)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(source, target)
        except OSError as error:
            where = f" ({error.filename})" if error.filename else ""
            raise StoreWriteError(
                f"cannot write the result files in {folder}: {_os_cause(error)}{where}; "
                f"the scores are kept in {self.path}: free some space or make the folder writable, then run "
                "the same command again"
            ) from error
        finally:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)

    # -------------------------------------------------------------- datasets and configs

    @_guarded
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

    @_guarded
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

    @_guarded
    def datasets(self) -> list[dict[str, Any]]:
        cursor = self.db.execute(
            "SELECT name, root, label_file, lower_better, score_name, notes FROM datasets ORDER BY rowid"
        )
        return [dict(zip(("name", "root", "label_file", "lower_better", "score_name", "notes"), row)) for row in cursor]

    @_guarded
    def configs(self) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT name, metric, attention, options, lower_better FROM configs ORDER BY added")
        return [
            {"name": n, "metric": m, "attention": a, "options": json.loads(o), "lower_better": bool(lb)}
            for n, m, a, o, lb in cursor
        ]

    @_guarded
    def pairs(self, dataset: str) -> list[tuple[str, str, float]]:
        cursor = self.db.execute(
            "SELECT ref, dist, subjective FROM pairs WHERE dataset = ? ORDER BY position", (dataset,)
        )
        return list(cursor)

    # -------------------------------------------------------------- runs, scores, failures

    @_guarded
    def start_run(self, dataset: str, configs: list[str]) -> int:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO runs (dataset, configs, started, status) VALUES (?, ?, ?, ?)",
                (dataset, ",".join(configs), time.time(), "running"),
            )
        return int(cursor.lastrowid or 0)

    @_guarded
    def finish_run(self, run: int, computed: int, status: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET finished = ?, computed = ?, status = ? WHERE id = ?",
                (time.time(), computed, status, run),
            )

    @_guarded
    def stored_keys(self, dataset: str) -> set[tuple[str, str, str]]:
        """(ref, dist, config) of every stored score of ``dataset``."""
        return set(self.db.execute("SELECT ref, dist, config FROM scores WHERE dataset = ?", (dataset,)))

    @_guarded
    def add_scores(self, dataset: str, config: str, run: int, rows: Iterable[tuple[str, str, float]]) -> int:
        """Insert new scores; returns how many were new. A key already stored (by another process
        that got past the lock) keeps its first score: INSERT OR IGNORE, then a check that every
        key is stored, since IGNORE would also drop a NULL score."""
        now = time.time()
        rows = list(rows)
        inserted = self.db.executemany(
            "INSERT OR IGNORE INTO scores (dataset, ref, dist, config, score, run, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(dataset, ref, dist, config, score, run, now) for ref, dist, score in rows],
        ).rowcount
        if inserted < len(rows):
            for ref, dist, score in rows:
                key = (dataset, ref, dist, config)
                query = "SELECT 1 FROM scores WHERE dataset = ? AND ref = ? AND dist = ? AND config = ?"
                if self.db.execute(query, key).fetchone() is None:
                    raise ValueError(f"cannot store the score {score!r} of {config} for {ref} | {dist}")
        self.db.executemany(
            "DELETE FROM failures WHERE dataset = ? AND ref = ? AND dist = ? AND config = ?",
            [(dataset, ref, dist, config) for ref, dist, _ in rows],
        )
        return inserted

    @_guarded
    def add_failure(self, dataset: str, ref: str, dist: str, config: str, reason: str, run: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
            (dataset, ref, dist, config, reason, run, time.time()),
        )

    @_guarded
    def scores(self, dataset: str) -> dict[str, dict[tuple[str, str], float]]:
        """config -> {(ref, dist): score} for ``dataset``."""
        result: dict[str, dict[tuple[str, str], float]] = {}
        for ref, dist, config, score in self.db.execute(
            "SELECT ref, dist, config, score FROM scores WHERE dataset = ?", (dataset,)
        ):
            result.setdefault(config, {})[(ref, dist)] = score
        return result

    @_guarded
    def failures(self, dataset: str | None = None) -> list[tuple[str, str, str, str, str]]:
        """(dataset, ref, dist, config, reason) of the failures still open."""
        query = "SELECT dataset, ref, dist, config, reason FROM failures"
        if dataset is None:
            return list(self.db.execute(query + " ORDER BY dataset, config, ref, dist"))
        return list(self.db.execute(query + " WHERE dataset = ? ORDER BY config, ref, dist", (dataset,)))

"""Faults of a results folder (issue 15): a second run at the same time, an emptied, truncated or
missing store, a store holding less than the result files, a read-only folder, a full disk. Each
is one line of error, and the stored scores and the result files stay as they were."""

from __future__ import annotations

import argparse
import builtins
import errno
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from smic.cli.bench import add_bench_arguments, bench_main
from smic.evaluation.datasets import Dataset, load_csv
from smic.evaluation.runner import Summary, run_benchmark
from smic.evaluation.store import (
    SCHEMA,
    STORE_NAME,
    ScoreStore,
    StoreBusyError,
    StoreDamagedError,
    StoreMismatchError,
    StoreWriteError,
)

SRC = Path(__file__).resolve().parents[1] / "src"
PLAIN, SCALED = "psnr", "psnr:data_range=2.0"
READONLY = "attempt to write a readonly database"


def make_dataset(folder: Path) -> Dataset:
    """12 pairs of 12x12 images, noise of growing strength, scores falling with it."""
    rng = np.random.default_rng(3)
    lines = ["ref,dist,score"]
    for r in range(3):
        ref = rng.integers(30, 226, size=(12, 12, 3))
        Image.fromarray(ref.astype(np.uint8)).save(folder / f"r{r}.png")
        for k in range(4):
            dist = np.clip(ref + rng.normal(0, 4 * (k + 1), ref.shape), 0, 255).astype(np.uint8)
            Image.fromarray(dist).save(folder / f"r{r}_{k}.png")
            lines.append(f"r{r}.png,r{r}_{k}.png,{9 - k + rng.normal(0, 0.3):.4f}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return load_csv(folder / "labels.csv", lower_better=False)


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    (tmp_path / "data").mkdir()
    return make_dataset(tmp_path / "data")


def run(dataset: Dataset, out: Path, metrics: list[str] | None = None, **options: Any) -> Summary:
    return run_benchmark(
        dataset, metrics or [PLAIN], out, batch_size=4, progress=False, n_boot=0, plots=False, **options
    )


def result_files(out: Path) -> dict[str, bytes]:
    """Every file of the folder but the store and its lock, with its bytes."""
    return {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file() and not path.name.startswith((STORE_NAME, ".lock"))
    }


def stored(out: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(out / STORE_NAME)
    try:
        return db.execute("SELECT * FROM scores ORDER BY id").fetchall()
    finally:
        db.close()


def bench(data: Path, out: Path, metrics: str = PLAIN) -> int:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    argv = ["--dataset", "csv", "--root", str(data / "labels.csv"), "--csv-direction", "higher"]
    return bench_main(parser.parse_args([*argv, "--metrics", metrics, "--out", str(out), "--no-progress"]))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("smic bench")]
    assert len(lines) == 1, lines
    return lines[0]


# ---------------------------------------------------------------------------- two runs at once

HOLDER = """
import sys
from smic.evaluation.store import ScoreStore
store = ScoreStore.open_run(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_second_run_is_refused_while_another_holds_the_folder(
    tmp_path: Path, dataset: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    before, rows = result_files(out), stored(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        message = (
            rf"another smic run is using {re.escape(str(out))} \(pid {holder.pid} since \d{{4}}-\d\d-\d\d "
            r"\d\d:\d\d:\d\d\); wait for it or use another --out$"
        )
        with pytest.raises(StoreBusyError, match=message):
            run(dataset, out, [PLAIN, SCALED])
        capsys.readouterr()
        assert bench(tmp_path / "data", out, f"{PLAIN},{SCALED}") == 2
        assert re.fullmatch("smic bench: error: " + message, one_error_line(capsys))
        assert result_files(out) == before and stored(out) == rows
    finally:
        holder.kill()  # killed, not closed: the kernel must drop the lock
        holder.communicate()
    summary = run(dataset, out, [PLAIN, SCALED])
    assert (summary.computed, summary.reused) == (12, 12)
    assert stored(out)[:12] == rows


def test_two_writers_past_the_lock_keep_the_first_score(tmp_path: Path) -> None:
    with ScoreStore(tmp_path / STORE_NAME) as first, ScoreStore(tmp_path / STORE_NAME) as second:
        assert first.add_scores("D", PLAIN, 1, [("r", "a", 1.0), ("r", "b", 2.0)]) == 2
        first.commit()
        assert second.add_scores("D", PLAIN, 2, [("r", "a", 9.0), ("r", "c", 3.0)]) == 1  # no IntegrityError
        second.commit()
        assert first.scores("D") == {PLAIN: {("r", "a"): 1.0, ("r", "b"): 2.0, ("r", "c"): 3.0}}
        with pytest.raises(ValueError, match="cannot store the score nan"):  # IGNORE drops a NULL: caught
            second.add_scores("D", PLAIN, 2, [("r", "d", float("nan"))])


# ---------------------------------------------------------------------------- a damaged or missing store


@pytest.mark.parametrize(
    ("keep", "cause"),
    [(0.0, "is empty (0 bytes)"), (0.5, "is damaged (database disk image is malformed)")],
    ids=["emptied", "half-truncated"],
)
def test_damaged_store_is_refused_and_left_alone(
    tmp_path: Path, dataset: Dataset, capsys: pytest.CaptureFixture[str], keep: float, cause: str
) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    before = result_files(out)
    path = out / STORE_NAME
    with open(path, "r+b") as handle:
        handle.truncate(int(path.stat().st_size * keep))
    damaged = path.read_bytes()
    message = (
        f"{path} {cause}: restore it from a backup, or move it away and rerun with --fresh to start a new "
        f"store; the result files in {out} were left untouched"
    )
    with pytest.raises(StoreDamagedError, match=f"^{re.escape(message)}$"):
        run(dataset, out, [PLAIN, SCALED])
    assert bench(tmp_path / "data", out) == 2
    assert one_error_line(capsys) == "smic bench: error: " + message
    assert path.read_bytes() == damaged and result_files(out) == before  # nothing started over


def test_missing_store_beside_results_is_refused_unless_fresh(tmp_path: Path, dataset: Dataset) -> None:
    out = tmp_path / "out"
    run(dataset, out, [PLAIN, SCALED])
    before = result_files(out)
    (out / STORE_NAME).unlink()
    message = (
        f"{out} holds result files (scores.csv, table.csv, paired.csv, table.md, failures.csv) but no "
        f"{STORE_NAME}: restore the store from a backup, move the old results away, or rerun with --fresh "
        "to start a new store that replaces them"
    )
    with pytest.raises(StoreMismatchError, match=f"^{re.escape(message)}$"):
        run(dataset, out)
    assert not (out / STORE_NAME).exists() and result_files(out) == before

    summary = run(dataset, out, fresh=True)  # asked for: the new store's results replace the old
    assert summary.computed == 12
    assert (out / "scores.csv").read_text().splitlines()[0] == f"dataset,ref,dist,subjective,{PLAIN}"


def test_store_holding_less_than_the_results_does_not_rewrite_them(tmp_path: Path, dataset: Dataset) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    backup = (out / STORE_NAME).read_bytes()
    run(dataset, out, [PLAIN, SCALED])
    before = result_files(out)
    (out / STORE_NAME).write_bytes(backup)  # an older backup restored
    rows = stored(out)
    pattern = (
        rf"^{re.escape(str(out / 'scores.csv'))} holds 12 scores that {re.escape(str(out / STORE_NAME))} lacks "
        rf"\(e\.g\. {re.escape(SCALED)} of {dataset.name} r\d\.png \| r\d_\d\.png\): "
        "the result files were left untouched"
    )
    with pytest.raises(StoreMismatchError, match=pattern):
        run(dataset, out)
    assert result_files(out) == before and stored(out) == rows

    summary = run(dataset, out, [PLAIN, SCALED])  # scoring the lacking config again makes it whole
    assert (summary.computed, summary.reused) == (12, 12)
    assert result_files(out)["scores.csv"].splitlines()[0] == f"dataset,ref,dist,subjective,{PLAIN},{SCALED}".encode()


# ---------------------------------------------------------------------------- read-only folder, full disk


class FaultyConnection:
    """A sqlite3 connection that raises ``error`` on the statements ``fails`` picks."""

    def __init__(self, db: sqlite3.Connection, fails: Any, error: sqlite3.Error) -> None:
        self._db, self._fails, self._error = db, fails, error

    def _check(self, sql: str) -> None:
        if self._fails(sql.lstrip().upper()):
            raise self._error

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def __enter__(self) -> sqlite3.Connection:
        return self._db.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._db.__exit__(*exc)


def fault_store(monkeypatch: pytest.MonkeyPatch, fails: Any, error: sqlite3.Error) -> None:
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: FaultyConnection(connect(*a, **k), fails, error))


def test_read_only_folder(tmp_path: Path, dataset: Dataset) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    before, rows = result_files(out), stored(out)
    out.chmod(0o555)
    try:
        try:
            (out / "probe").touch()
        except PermissionError:
            pass
        else:
            (out / "probe").unlink()
            pytest.skip("chmod does not stop this user's writes (root): test_read_only_store covers the error")
        with pytest.raises(StoreWriteError, match=rf"^cannot write to {re.escape(str(out))}/\S+: .*resume$"):
            run(dataset, out, [PLAIN, SCALED])
    finally:
        out.chmod(0o755)
    assert result_files(out) == before and stored(out) == rows
    assert run(dataset, out, [PLAIN, SCALED]).computed == 12


def test_read_only_store(tmp_path: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    before, rows = result_files(out), stored(out)
    with monkeypatch.context() as patch:
        writes = ("INSERT", "UPDATE", "DELETE", "REPLACE")
        fault_store(patch, lambda sql: sql.startswith(writes), sqlite3.OperationalError(READONLY))
        with pytest.raises(StoreWriteError) as caught:
            run(dataset, out, [PLAIN, SCALED])
    assert str(caught.value) == (
        f"cannot write to {out / STORE_NAME}: {READONLY}; the scores stored so far are kept: free some space "
        "or make the folder writable, then run the same command again to resume"
    )
    assert result_files(out) == before and stored(out) == rows
    assert (run(dataset, out, [PLAIN, SCALED]).computed, stored(out)[:12]) == (12, rows)


def test_disk_full_while_storing_scores(tmp_path: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    before, rows = result_files(out), stored(out)
    inserts = 0

    def second_insert(sql: str) -> bool:  # the second batch of scores meets a full disk
        nonlocal inserts
        inserts += "INTO SCORES" in sql
        return inserts == 2 and "INTO SCORES" in sql

    with monkeypatch.context() as patch:
        fault_store(patch, second_insert, sqlite3.OperationalError("database or disk is full"))
        with pytest.raises(StoreWriteError, match=rf"^cannot write to {re.escape(str(out / STORE_NAME))}: database"):
            run(dataset, out, [PLAIN, SCALED])
    after = stored(out)
    assert after[:12] == rows and len(after) == 16  # the batch committed before the fault stays
    assert result_files(out) == before
    summary = run(dataset, out, [PLAIN, SCALED])
    assert (summary.computed, summary.reused) == (8, 16) and stored(out)[:16] == after


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS], ids=errno.errorcode.get)
def test_result_files_that_cannot_be_written_keep_the_old_ones(
    tmp_path: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    out = tmp_path / "out"
    run(dataset, out)
    before = result_files(out)
    real_open = builtins.open

    class HalfWritten:  # writes some bytes, then fails, as a file on a full disk does
        def __init__(self, handle: Any, path: str) -> None:
            self.handle, self.path = handle, path

        def write(self, text: str) -> int:
            self.handle.write(text[:5])
            raise OSError(code, os.strerror(code), self.path)

        def __enter__(self) -> HalfWritten:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.handle.close()

    def faulty_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        hit = isinstance(file, (str, os.PathLike)) and Path(file).name == "table.csv" and "w" in mode
        return HalfWritten(handle, str(file)) if hit else handle

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", faulty_open)
        with pytest.raises(StoreWriteError) as caught:
            run(dataset, out, [PLAIN, SCALED])
    message = str(caught.value)
    assert message.startswith(f"cannot write the result files in {out}: {os.strerror(code)} (")
    assert "table.csv); the scores are kept in" in message and "\n" not in message
    assert result_files(out) == before  # scores.csv was written beside, not over, the old one
    assert len(stored(out)) == 24
    summary = run(dataset, out, [PLAIN, SCALED])  # the rerun only writes the files
    assert (summary.computed, summary.reused) == (0, 24)
    assert result_files(out)["scores.csv"] != before["scores.csv"]


def test_a_version_0_store_keeps_the_meaning_of_its_labels(tmp_path: Path) -> None:
    # before version 1, "psnr+smic" was the authors' form and "variant=reference" named it
    out = tmp_path / "out"
    out.mkdir()
    db = sqlite3.connect(out / STORE_NAME)
    db.executescript(SCHEMA)
    old = ["psnr", "psnr+smic", "lpips+smic:variant=reference", "lpips+mic:k=8:variant=paper", "fsim+smic"]
    db.executemany("INSERT INTO configs VALUES (?, '', NULL, '{}', 0, ?)", [(label, i) for i, label in enumerate(old)])
    db.executemany(
        "INSERT INTO scores (dataset, ref, dist, config, score) VALUES ('d', 'r.png', 'x.png', ?, 1.0)",
        [(o,) for o in old],
    )
    db.execute("INSERT INTO runs (dataset, configs) VALUES ('d', ?)", (",".join(old),))
    db.commit()
    db.close()
    (out / "scores.csv").write_text("dataset,ref,dist,subjective," + ",".join(old) + "\nd,r.png,x.png,1,1,1,1,1,1\n")
    new = ["psnr", "psnr+smic:variant=authors", "lpips+smic:variant=authors", "lpips+mic:projections=8", "fsim+smic"]
    with ScoreStore.open_run(out) as store:
        assert [c["name"] for c in store.configs()] == new
        assert sorted(store.scores("d")) == sorted(new)
        store.check_results()  # scores.csv's header was renamed with the store
    assert (out / "scores.csv").read_text().splitlines()[0] == "dataset,ref,dist,subjective," + ",".join(new)
    with ScoreStore.open_run(out) as store:  # version 1 now: nothing is renamed twice
        assert [c["name"] for c in store.configs()] == new

"""The benchmark runner end to end: result files, failures, the CLI, and resuming after SIGINT/SIGKILL."""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from smic.cli.bench import add_bench_arguments, bench_main
from smic.evaluation.datasets import load_csv, load_tid2013
from smic.evaluation.report import DatasetResults, write_reports
from smic.evaluation.runner import (
    MetricConfig,
    expand_configs,
    parse_config,
    run_benchmark,
)
from smic.spec import MetricSpec
from tests.conftest import stored_scores

SRC = Path(__file__).resolve().parents[1] / "src"


def save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_tid_copy(root: Path, refs: int = 3, levels: int = 4, size: int = 16) -> Path:
    """A TID2013-shaped copy: noise of growing strength, MOS falling with it (plus jitter)."""
    rng = np.random.default_rng(0)
    lines = []
    for r in range(1, refs + 1):
        ref = rng.integers(30, 226, size=(size, size, 3)).astype(np.float64)
        save(root / "reference_images" / f"I{r:02d}.BMP", ref.astype(np.uint8))
        for level in range(1, levels + 1):
            dist = np.clip(ref + rng.normal(0, 6 * level, ref.shape), 0, 255).astype(np.uint8)
            name = f"i{r:02d}_01_{level}.bmp"
            save(root / "distorted_images" / name, dist)
            lines.append(f"{7 - level + rng.normal(0, 0.2):.5f} {name}")
    (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_config_labels() -> None:
    assert MetricConfig is MetricSpec and parse_config("PSNR+SMIC").label == "psnr+smic"
    config = parse_config("lpips+smic:variant=authors:projections=32")
    assert (config.name, config.attention, config.variant, dict(config.options)) == (
        "lpips",
        "smic",
        "authors",
        {"projections": 32},
    )
    assert config.label == "lpips+smic:projections=32:variant=authors"
    assert parse_config("lpips+smic:variant=paper") == parse_config("lpips+smic")  # the default has one label
    labels = [c.label for c in expand_configs(["psnr", "ssim+mic", "psnr:data_range=2.0"], [None, "smic"])]
    assert labels == ["psnr", "psnr+smic", "ssim+mic", "psnr:data_range=2.0", "psnr+smic:data_range=2.0"]
    labels = [c.label for c in expand_configs(["lpips:variant=authors"], ["smic", "mic"])]
    assert labels == ["lpips+smic:variant=authors", "lpips+mic:variant=authors"]
    assert [c.label for c in expand_configs(["psnr"], ["none", None, "SMIC"])] == ["psnr", "psnr+smic"]
    with pytest.raises(ValueError, match="key=value"):
        parse_config("psnr:oops")
    with pytest.raises(ValueError, match="unknown metric 'nometric'"):
        expand_configs(["nometric"])
    with pytest.raises(ValueError, match="attention must be one of"):
        expand_configs(["psnr"], ["smc"])


def test_end_to_end_with_failures_and_resume(tmp_path: Path) -> None:
    root = make_tid_copy(tmp_path / "tid")
    save(root / "distorted_images" / "i01_02_1.bmp", np.zeros((8, 8, 3), np.uint8))  # size mismatch
    (root / "distorted_images" / "i02_02_1.bmp").write_bytes(b"not an image")  # unreadable
    save(root / "distorted_images" / "i03_02_1.bmp", np.zeros((16, 16), np.uint8))  # grey beside a colour ref
    with open(root / "mos_with_names.txt", "a") as handle:
        handle.write("3.0 i01_02_1.bmp\n2.0 i02_02_1.bmp\n1.0 i03_02_1.bmp\n")
    dataset = load_tid2013(root, strict=False)
    out = tmp_path / "out"
    summary = run_benchmark(dataset, ["psnr", "psnr:data_range=2.0"], out, batch_size=5, progress=False, n_boot=100)
    assert summary.computed == 2 * 12 and summary.reused == 0
    reasons = {(f.dist, f.config): f.reason for f in summary.failures}
    assert len(reasons) == 6
    assert "size mismatch" in reasons[("distorted_images/i01_02_1.bmp", "psnr")]
    assert "not a readable image" in reasons[("distorted_images/i02_02_1.bmp", "psnr")]
    assert "dist is greyscale" in reasons[("distorted_images/i03_02_1.bmp", "psnr:data_range=2.0")]
    assert "FAILED" in summary.format()

    for name in ("scores.csv", "table.csv", "paired.csv", "table.md", "failures.csv", "scores.sqlite"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "psnr__TID2013.png",
        "psnr_data_range=2.0__TID2013.png",
    ]
    scores = read_csv(out / "scores.csv")
    assert len(scores) == 15 and list(scores[0]) == [
        "dataset",
        "ref",
        "dist",
        "subjective",
        "psnr",
        "psnr:data_range=2.0",
    ]
    assert scores[0]["dataset"] == "TID2013" and float(scores[0]["psnr:data_range=2.0"]) == pytest.approx(
        float(scores[0]["psnr"]) + 20 * np.log10(2), abs=1e-4
    )
    table = read_csv(out / "table.csv")
    assert [(r["metric"], r["dataset"], r["n"], r["n_missing"]) for r in table] == [
        ("psnr", "TID2013", "12", "3"),
        ("psnr:data_range=2.0", "TID2013", "12", "3"),
    ]
    row = table[0]
    assert float(row["srcc"]) > 0.8 and row["fit_status"] and row["paper_srcc"] == "0.700"
    assert float(row["srcc_ci_low"]) <= float(row["srcc"]) <= float(row["srcc_ci_high"])
    markdown = (out / "table.md").read_text()
    assert "## Table I" in markdown and "/ 0.700 (" in markdown and "Table II" not in markdown

    again = run_benchmark(dataset, ["psnr"], out, progress=False, n_boot=100)  # resume: nothing new
    assert again.computed == 0 and again.reused == 12 and len(again.failures) == 3
    assert read_csv(out / "table.csv") == table


def test_table_two_and_paired_tests_from_results(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(size=60)
    labels = ["psnr", "psnr+mic", "psnr+smic", "psnr+smic:variant=authors"]
    noise = {"psnr": 1.0, "psnr+mic": 0.5, "psnr+smic": 0.2, "psnr+smic:variant=authors": 0.3}
    results = [
        DatasetResults(
            "LIVE",
            True,
            "DMOS",
            "test",
            [f"r{i}" for i in range(60)],
            [f"d{i}" for i in range(60)],
            -truth,
            {label: truth + noise[label] * rng.normal(size=60) for label in labels},
        )
    ]
    rows, _ = write_reports(tmp_path, results, [MetricSpec.parse(label) for label in labels], n_boot=50, plots=False)
    markdown = (tmp_path / "table.md").read_text()
    assert "## Table I" in markdown and "## Table II (MIC against SMIC)" in markdown
    assert "psnr+mic (PSNR w/ MIC; paper's equations) | " in markdown
    assert "/ 0.930 (" in markdown  # Table II's LIVE SRCC
    paired = read_csv(tmp_path / "paired.csv")
    # the authors' form is compared with plain PSNR, not with the paper form's MIC ablation
    assert [(p["a"], p["b"]) for p in paired] == [
        ("psnr+mic", "psnr"),
        ("psnr+smic", "psnr"),
        ("psnr+smic", "psnr+mic"),
        ("psnr+smic:variant=authors", "psnr"),
    ]
    assert float(paired[1]["delta_srcc"]) > 0
    assert all(r.evaluation is not None and r.evaluation.srcc > 0 for r in rows)  # DMOS orientation handled


def cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    return parser.parse_args(argv)


def test_cli_functions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tid_copy(tmp_path / "tid", refs=2, levels=3)
    args = cli(
        [
            "--dataset",
            "tid2013",
            "--root",
            str(root),
            "--metrics",
            "psnr",
            "--out",
            str(tmp_path / "o"),
            "--attention",
            "none",
            "--batch-size",
            "4",
            "--no-strict",
            "--no-progress",
            "--bootstrap",
            "20",
        ]
    )
    assert (args.metrics, args.attention, args.batch_size, args.strict) == (["psnr"], ["none"], 4, False)
    assert bench_main(args) == 0
    assert "TID2013: 6 pairs x 1 configs" in capsys.readouterr().out
    args.strict = True  # the default: a partial copy is refused with a message, not a traceback
    assert bench_main(args) == 2
    assert "not the full release" in capsys.readouterr().err
    missing = cli(["--dataset", "KADID-10k", "--root", str(root), "--metrics", "psnr", "--out", str(tmp_path / "o")])
    assert bench_main(missing) == 2 and "dmos.csv" in capsys.readouterr().err
    unknown = cli(
        [
            "--dataset",
            "tid2013",
            "--root",
            str(root),
            "--metrics",
            "nometric",
            "--out",
            str(tmp_path / "o"),
            "--no-strict",
        ]
    )
    assert bench_main(unknown) == 2 and "nometric" in capsys.readouterr().err
    bad = cli(
        [
            "--dataset",
            "tid2013",
            "--root",
            str(root),
            "--metrics",
            "psnr",
            "--attention",
            "none,smc",
            "--out",
            str(tmp_path / "o"),
            "--no-strict",
        ]
    )
    assert bench_main(bad) == 2
    assert capsys.readouterr().err.startswith("smic bench: error: attention must be one of")


# ---------------------------------------------------------------------------- interruption

CHILD = textwrap.dedent('''
    """``python -m smic.cli.bench`` with PSNR slowed down; it starts once GO_FILE exists."""
    import os, signal, sys, time
    from smic.cli.bench import main
    from smic.metrics.psnr import PSNR

    plain = PSNR.score

    def slow(self, ref, dist, return_maps=False):
        time.sleep(0.1)
        return plain(self, ref, dist, return_maps)

    PSNR.score = slow
    # a shell starts background jobs with SIGINT ignored, and Python keeps that: restore Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    while not os.path.exists(os.environ["GO_FILE"]):  # imports done: wait for the previous run to end
        time.sleep(0.01)
    sys.exit(main(sys.argv[1:]))
''')
METRICS = ["psnr", "psnr:data_range=2.0"]


def start_child(tmp_path: Path, out: Path, go: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "GO_FILE": str(go),
    }
    argv = [
        sys.executable,
        str(tmp_path / "child.py"),
        "--dataset",
        "csv",
        "--root",
        str(tmp_path / "data" / "labels.csv"),
        "--csv-direction",
        "higher",
        "--metrics",
        ",".join(METRICS),
        "--batch-size",
        "2",
        "--out",
        str(out),
        "--bootstrap",
        "50",
        "--no-progress",
    ]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stored_rows(out: Path) -> dict[tuple[str, str, str], tuple[int, int, float, float]]:
    """(ref, dist, config) -> (row id, run, created, score) of every stored score."""
    rows = stored_scores(out / "scores.sqlite", "SELECT ref, dist, config, id, run, created, score FROM scores")
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5], r[6]) for r in rows}


def interrupt_after(child: subprocess.Popen[bytes], out: Path, at_least: int, sig: signal.Signals) -> int:
    deadline = time.time() + 60
    while len(stored_rows(out)) < at_least:
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        assert time.time() < deadline, "the child stored nothing in 60 s"
        time.sleep(0.02)
    child.send_signal(sig)
    child.communicate(timeout=60)
    return child.returncode


def test_interrupted_runs_resume_without_recomputing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    lines = ["ref,dist,score"]
    for r in range(3):
        ref = rng.integers(30, 226, size=(12, 12, 3))
        save(tmp_path / "data" / f"r{r}.png", ref.astype(np.uint8))
        for k in range(8):
            save(
                tmp_path / "data" / f"r{r}_{k}.png",
                np.clip(ref + rng.normal(0, 3 * (k + 1), ref.shape), 0, 255).astype(np.uint8),
            )
            lines.append(f"r{r}.png,r{r}_{k}.png,{9 - k + rng.normal(0, 0.5):.4f}")
    (tmp_path / "data" / "labels.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "child.py").write_text(CHILD)
    total = 24 * 2
    out = tmp_path / "out"
    (tmp_path / "go1").touch()
    first = start_child(tmp_path, out, tmp_path / "go1")
    second = start_child(tmp_path, out, tmp_path / "go2")  # imports while the first one runs

    try:
        assert interrupt_after(first, out, 6, signal.SIGINT) == 130  # Ctrl-C: a clean exit, resumable
        after_sigint = stored_rows(out)
        assert 6 <= len(after_sigint) < total
        (tmp_path / "go2").touch()
        interrupt_after(second, out, len(after_sigint) + 6, signal.SIGKILL)
        assert second.returncode == -signal.SIGKILL
    finally:  # a failed assertion must not leave a child waiting for its go file
        for child in (first, second):
            if child.poll() is None:
                child.kill()
                child.communicate()
    after_sigkill = stored_rows(out)
    assert len(after_sigint) + 6 <= len(after_sigkill) < total
    assert {k: after_sigkill[k] for k in after_sigint} == after_sigint  # run 2 recomputed nothing of run 1

    from smic.metrics.psnr import PSNR

    scored: list[int] = []
    plain = PSNR.score

    def counting(self: PSNR, ref: torch.Tensor, dist: torch.Tensor, return_maps: bool = False) -> object:
        scored.append(ref.shape[0])
        return plain(self, ref, dist, return_maps)

    monkeypatch.setattr(PSNR, "score", counting)
    dataset = load_csv(tmp_path / "data" / "labels.csv", lower_better=False)
    summary = run_benchmark(dataset, METRICS, out, batch_size=2, progress=False, n_boot=50)
    final = stored_rows(out)
    assert len(final) == total and not summary.failures
    assert {k: final[k] for k in after_sigkill} == after_sigkill  # stored rows untouched (ids, runs, times)
    assert sum(scored) == summary.computed == total - len(after_sigkill)  # only what was missing was scored
    assert summary.reused == len(after_sigkill)
    assert len({run for _, run, _, _ in final.values()}) == 3

    run_benchmark(dataset, METRICS, tmp_path / "reference", batch_size=5, progress=False, n_boot=50)
    assert (out / "table.csv").read_text() == (tmp_path / "reference" / "table.csv").read_text()
    assert (out / "scores.csv").read_text() == (tmp_path / "reference" / "scores.csv").read_text()

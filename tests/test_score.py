"""`smic score` on many pairs: folders, --pairs lists, several metrics, every output format,
resume after SIGKILL, failures listed (exit 1); the API it calls (smic.score_pairs)."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smic
from smic.cli import main
from smic.evaluation.scoring import pairs_from_folders, score_pairs, store_folder
from tests.conftest import stored_scores

SRC = Path(__file__).resolve().parents[1] / "src"


def picture(seed: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: size[0], : size[1]]
    base = np.stack([np.sin(x / (5 + c) + seed) * np.cos(y / (7 + c)) for c in range(3)], axis=-1)
    return np.clip(127.5 + 100 * base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def noisy(image: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(1000 + seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def make_folders(root: Path, n: int) -> tuple[Path, Path]:
    ref, dist = root / "ref", root / "dist"
    for i in range(n):
        sub = "" if i % 2 else "set_a/"
        (ref / sub).mkdir(parents=True, exist_ok=True)
        (dist / sub).mkdir(parents=True, exist_ok=True)
        image = picture(i)
        Image.fromarray(image).save(ref / f"{sub}img{i:03d}.png")
        Image.fromarray(noisy(image, i, 4 + i % 5)).save(dist / f"{sub}img{i:03d}.png")
    return ref, dist


def psnr_of(ref: Path, dist: Path) -> float:
    a = np.asarray(Image.open(ref), dtype=np.float64) / 255
    b = np.asarray(Image.open(dist), dtype=np.float64) / 255
    return 10 * math.log10(1 / np.mean((a - b) ** 2))


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_folders_are_paired_by_relative_path_and_scored_with_several_metrics(tmp_path, capsys):
    ref, dist = make_folders(tmp_path, 6)
    out = tmp_path / "scores.csv"
    argv = ["score", str(ref), str(dist), "--metric", "psnr,ssim", "--metric", "psnr:data_range=2.0"]
    assert main([*argv, "--out", str(out), "--no-progress", "--batch-size", "4"]) == 0
    rows = read(out)
    assert list(rows[0]) == ["id", "ref", "dist", "psnr", "ssim", "psnr:data_range=2.0", "failed"]
    assert sorted(r["dist"] for r in rows) == sorted(
        f"dist/{p.relative_to(dist).as_posix()}" for p in dist.rglob("*.png")
    )
    for row in rows:
        expected = psnr_of(tmp_path / row["ref"], tmp_path / row["dist"])  # the definition, in float64
        assert float(row["psnr"]) == pytest.approx(expected, abs=1e-3)
        assert float(row["psnr:data_range=2.0"]) == pytest.approx(expected + 20 * math.log10(2), abs=1e-3)
        assert 0 < float(row["ssim"]) < 1 and row["failed"] == ""
    summary = capsys.readouterr().out
    assert "6 pairs x 3 metrics: 18 scores computed, 0 reused, 0 failed" in summary
    assert "psnr:data_range=2.0" in summary and "median" in summary


def test_folders_match_a_changed_suffix_and_list_what_has_no_partner(tmp_path, capsys):
    ref, dist = make_folders(tmp_path, 2)
    Image.open(dist / "img001.png").save(dist / "img001.jpg", quality=90)
    (dist / "img001.png").unlink()
    assert len(pairs_from_folders(ref, dist).pairs) == 2  # img001.png with img001.jpg
    Image.fromarray(picture(9)).save(dist / "extra.png")
    assert main(["score", str(ref), str(dist), "--metric", "psnr", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("smic: error: 1 image(s) in") and "have no partner" in err and "dist extra.png" in err


def test_pairs_csv_with_ids_and_every_output_format(tmp_path):
    ref, dist = make_folders(tmp_path, 4)
    listing = tmp_path / "pairs.csv"
    names = sorted(p.relative_to(ref).as_posix() for p in ref.rglob("*.png"))
    listing.write_text("id,ref,dist\n" + "".join(f"p{i},ref/{n},dist/{n}\n" for i, n in enumerate(names)))
    expected = [psnr_of(ref / n, dist / n) for n in names]
    for suffix in (".csv", ".jsonl", ".parquet"):
        if suffix == ".parquet":
            pytest.importorskip("pyarrow", reason="writing .parquet needs pyarrow")
        out = tmp_path / f"out{suffix}"
        assert main(["score", "--pairs", str(listing), "--metric", "psnr", "--out", str(out), "--no-progress"]) == 0
        if suffix == ".csv":
            records = [{**r, "psnr": float(r["psnr"])} for r in read(out)]
        elif suffix == ".jsonl":
            records = [json.loads(line) for line in out.read_text().splitlines()]
        else:
            import pyarrow.parquet as pq

            records = pq.read_table(out).to_pylist()
        assert [r["id"] for r in records] == [f"p{i}" for i in range(len(names))]
        assert [r["psnr"] for r in records] == pytest.approx(expected, abs=1e-3)


def test_identical_pair_is_strict_json_and_csv(tmp_path):
    ref, _ = make_folders(tmp_path, 1)
    image = next(ref.rglob("*.png"))
    result = score_pairs([(image, image)], ["psnr"], out=tmp_path / "same.jsonl", progress=False, device="cpu")
    assert result.scores["psnr"] == [math.inf]
    line = (tmp_path / "same.jsonl").read_text().strip()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(c))["psnr"] == "inf"


def test_failures_are_recorded_listed_and_give_exit_code_1(tmp_path, capsys):
    ref, dist = make_folders(tmp_path, 4)
    (dist / "img001.png").write_bytes(b"not an image")
    Image.fromarray(picture(3, (40, 64))).save(dist / "img003.png")  # 64x40 against 64x48
    out = tmp_path / "scores.csv"
    assert main(["score", str(ref), str(dist), "--metric", "psnr", "--out", str(out), "--no-progress"]) == 1
    rows = {r["dist"]: r for r in read(out)}
    assert rows["dist/img001.png"]["psnr"] == "" and "not a readable image" in rows["dist/img001.png"]["failed"]
    assert rows["dist/img003.png"]["psnr"] == "" and "size mismatch" in rows["dist/img003.png"]["failed"]
    assert rows["dist/set_a/img000.png"]["psnr"] != ""
    printed = capsys.readouterr().out
    assert "1 failed" not in printed and "2 failed" in printed and "FAILED psnr ref/img001.png" in printed


def test_api_takes_metric_specs_and_returns_rows(tmp_path):
    ref, dist = make_folders(tmp_path, 3)
    result = smic.score_pairs(pairs_from_folders(ref, dist), [smic.MetricSpec("psnr"), "ssim"], progress=False)
    assert result.labels == ["psnr", "ssim"] and len(result.records()) == 3
    assert result.out is None and result.failures == [] and result.computed == 6


CHILD = """
import sys, time
from smic.cli import main
from smic.metrics.psnr import PSNR

plain = PSNR.score


def slow(self, ref, dist, return_maps=False, **kwargs):  # slow enough to be killed in the middle
    time.sleep(0.05)
    return plain(self, ref, dist, return_maps, **kwargs)


PSNR.score = slow
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_without_recomputing_and_writes_the_same_file(tmp_path):
    ref, dist = make_folders(tmp_path, 24)
    out = tmp_path / "killed.csv"
    (tmp_path / "child.py").write_text(CHILD)
    argv = ["score", str(ref), str(dist), "--metric", "psnr,ssim", "--batch-size", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), *argv, "--out", str(out)], env=env)
    store = store_folder(out) / "scores.sqlite"

    def stored() -> int:
        rows = stored_scores(store)
        return int(rows[0][0]) if rows else 0

    deadline = time.monotonic() + 120
    try:
        while stored() < 6:  # kill it once some scores are committed
            assert process.poll() is None and time.monotonic() < deadline, "the child ended or stored nothing"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    done = stored()
    assert 6 <= done < 48, "the run must be killed in the middle"
    result = score_pairs(pairs_from_folders(ref, dist), ["psnr", "ssim"], out=out, progress=False, device="cpu")
    assert (result.reused, result.computed) == (done, 48 - done)  # nothing computed twice
    clean = score_pairs(pairs_from_folders(ref, dist), ["psnr", "ssim"], out=tmp_path / "clean.csv", progress=False)
    assert clean.computed == 48
    assert out.read_text() == (tmp_path / "clean.csv").read_text()


def test_single_pair_with_several_metrics_prints_one_line_each(capsys):
    data = Path(smic.__file__).parent / "data"
    ref, dist = str(data / "sample_ref.png"), str(data / "sample_dist.png")
    assert main(["score", ref, dist, "--metric", "psnr,ssim"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["psnr", "ssim"]
    assert main(["score", ref, dist, "--metric", "psnr", "--metric", "ssim", "--json"]) == 0
    assert [r["spec"] for r in json.loads(capsys.readouterr().out)] == ["psnr", "ssim"]


def test_scores_equal_the_metric_called_directly(tmp_path):
    ref, dist = make_folders(tmp_path, 3)
    result = score_pairs(pairs_from_folders(ref, dist), ["ssim"], progress=False, batch_size=2, device="cpu")
    for record in result.records():
        pair = smic.io.load_pair(tmp_path / record["ref"], tmp_path / record["dist"])
        assert record["ssim"] == float(smic.create_metric("ssim")(*pair)[0])
    assert torch.get_default_dtype() == torch.float32

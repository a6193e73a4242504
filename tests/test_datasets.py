"""Dataset loaders on tiny copies of the six published layouts (shared/docs/DATASETS.md).

Each builder writes a few 8x8 images and the label file in the real format (.mat via
scipy.io.savemat with the real variable names, .xlsx via openpyxl, CSV, txt) with the quirks
the doc lists: mixed case, CRLF, re-sorted lines, nested folders.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from smic.evaluation.datasets import (
    LIVE_BLOCKS,
    LIVE_KEPT,
    list_datasets,
    load_csiq,
    load_csv,
    load_dataset,
    load_kadid10k,
    load_live,
    load_pipal,
    load_qads,
    load_tid2013,
)


def image(path: Path, seed: int = 0, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


# ---------------------------------------------------------------------------- LIVE

LIVE_REFS = ["bikes.bmp", "studentsculpture.bmp", "womanhat.bmp"]


def live_entry(folder: str, k: int) -> int:
    """Index in the 982-long .mat arrays of ``<folder>/img<k>.bmp`` (k from 1)."""
    start = 0
    for name, count in LIVE_BLOCKS:
        if name == folder:
            return start + k - 1
        start += count
    raise KeyError(folder)


def make_live(root: Path, kept: dict[tuple[str, int], str] | None = None, realigned: bool = False) -> Path:
    """LIVE Release 2 layout with images only for ``kept`` entries ((folder, k) -> reference name)."""
    kept = (
        kept
        if kept is not None
        else {
            ("jp2k", 2): "studentsculpture.bmp",
            ("jpeg", 57): "bikes.bmp",
            ("wn", 1): "womanhat.bmp",
            ("fastfading", 174): "bikes.bmp",
        }
    )
    dmos = np.zeros((1, 982))
    orgs = np.ones((1, 982))
    names = np.empty((1, 982), dtype=object)
    names[0, :] = "bikes.bmp"
    for i, ref in enumerate(sorted({r for r in kept.values()} | set(LIVE_REFS))):
        image(root / "refimgs" / ref, seed=i)
    for (folder, k), ref in kept.items():
        entry = live_entry(folder, k)
        dmos[0, entry] = 20.0 + entry / 10
        orgs[0, entry] = 0
        names[0, entry] = ref
        image(root / folder / f"img{k}.bmp", seed=entry)
    for folder, _ in LIVE_BLOCKS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "dmos.mat", {"dmos": dmos, "orgs": orgs})
    if realigned:
        scipy.io.savemat(
            root / "dmos_realigned.mat", {"dmos_new": dmos * 1.5 - 3, "dmos_std": dmos * 0 + 1, "orgs": orgs}
        )
    scipy.io.savemat(root / "refnames_all.mat", {"refnames_all": names})
    return root


def test_live_maps_mat_entries_to_folders_and_references(tmp_path: Path) -> None:
    root = make_live(tmp_path / "databaserelease2")
    data = load_live(tmp_path, strict=False)  # the nested folder is found
    assert data.name == "LIVE" and data.lower_better and data.score_name == "DMOS"
    rows = {(p.dist.parent.name, p.dist.name): (p.ref.name, p.score) for p in data.pairs}
    assert rows == {
        ("jp2k", "img2.bmp"): ("studentsculpture.bmp", 20.0 + 1 / 10),
        ("jpeg", "img57.bmp"): ("bikes.bmp", 20.0 + (227 + 56) / 10),
        ("wn", "img1.bmp"): ("womanhat.bmp", 20.0 + (227 + 233) / 10),
        ("fastfading", "img174.bmp"): ("bikes.bmp", 20.0 + 981 / 10),
    }
    assert data.label_file == root / "dmos.mat" and "dmos.mat" in data.notes


def test_live_realigned_labels(tmp_path: Path) -> None:
    make_live(tmp_path, realigned=True)
    plain = load_live(tmp_path, strict=False)
    realigned = load_live(tmp_path, labels="realigned", strict=False)
    assert realigned.label_file == tmp_path / "dmos_realigned.mat" and "dmos_new" in realigned.notes
    np.testing.assert_allclose(realigned.scores, plain.scores * 1.5 - 3)
    (tmp_path / "dmos.mat").unlink()
    assert load_live(tmp_path, strict=False).label_file == tmp_path / "dmos_realigned.mat"  # the fallback


def test_live_strict_counts_pass_on_a_full_copy_and_fail_on_a_partial_one(tmp_path: Path) -> None:
    kept: dict[tuple[str, int], str] = {}
    refs = [f"ref{i:02d}.bmp" for i in range(29)]
    for folder, _count in LIVE_BLOCKS:
        for k in range(1, LIVE_KEPT[folder] + 1):
            kept[(folder, k)] = refs[(k + len(kept)) % 29]
    make_live(tmp_path / "full", kept)
    data = load_live(tmp_path / "full")
    assert len(data) == 779 and len({p.ref for p in data.pairs}) == 29
    make_live(tmp_path / "part")
    with pytest.raises(ValueError, match=r"not the full release.*779.*strict=False"):
        load_live(tmp_path / "part")


def test_live_errors_name_the_missing_file(tmp_path: Path) -> None:
    root = make_live(tmp_path)
    (root / "wn" / "img1.bmp").unlink()
    with pytest.raises(FileNotFoundError, match=r"img1\.bmp"):
        load_live(root, strict=False)
    (root / "dmos.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"dmos\.mat or dmos_realigned\.mat"):
        load_live(root, strict=False)
    (root / "refnames_all.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"refnames_all\.mat"):
        load_live(root, strict=False)
    scipy.io.savemat(root / "refnames_all.mat", {"refnames_all": np.array([["a.bmp"]], dtype=object)})
    scipy.io.savemat(root / "dmos.mat", {"dmos": np.zeros((1, 10)), "orgs": np.zeros((1, 10))})
    with pytest.raises(ValueError, match=r"982"):
        load_live(root, strict=False)
    scipy.io.savemat(root / "dmos.mat", {"dmos": np.zeros((1, 982))})
    with pytest.raises(ValueError, match=r"no variable orgs"):
        load_live(root, strict=False)


# ---------------------------------------------------------------------------- CSIQ


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    """An .xlsx with these sheets, in this order, written by openpyxl."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, grid in sheets.items():
        sheet = book.create_sheet(name)
        for row in grid:
            sheet.append(row)
    book.save(path)


# (image, dst_type, dst_lev, dmos) as the spreadsheet has them: 1600 is a number there
CSIQ_ROWS = [
    (1600, "noise", 1, 0.061),
    ("woman", "jpeg 2000", 3, 0.402),
    ("woman", "contrast", 2, 0.2),
    (1600, "blur", 5.0, 0.93),
    ("aerial_city", "jpeg", 4, 1.0),
]
CSIQ_FILES = [
    "awgn/1600.AWGN.1.png",
    "jpeg2000/woman.jpeg2000.3.png",
    "contrast/woman.contrast.2.png",
    "BLUR/1600.BLUR.5.png",
    "JPEG/aerial_city.JPEG.4.png",
]


def csiq_grid() -> list[list[object]]:
    """Sheet all_by_image: 3 blank rows, header on row 4 in columns D-I, a pad row at the end."""
    grid: list[list[object]] = [[], ["CSIQ DMOS"], []]
    grid.append([None, None, None, "image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
    for i, (name, kind, level, dmos) in enumerate(CSIQ_ROWS):
        grid.append([None, None, None, name, i + 1, kind, level, 0.1, dmos])
    grid.append([None, None, None, None, None, None, None, None, None])
    return grid


def make_csiq(root: Path, labels: str = "xlsx") -> Path:
    for i, ref in enumerate(["1600", "woman", "aerial_city"]):
        image(root / "src_imgs" / f"{ref}.png", seed=i)
    for i, name in enumerate(CSIQ_FILES):
        image(root / "dst_imgs" / name, seed=10 + i)
    if labels == "xlsx":
        write_xlsx(root / "csiq.DMOS.xlsx", {"all_by_distortion": [["#REF!"]], "all_by_image": csiq_grid()})
    else:
        text = "\r\n".join(",".join("" if v is None else str(v) for v in row) for row in csiq_grid())
        (root / "csiq.DMOS.csv").write_text(text + "\r\n")
    return root


@pytest.mark.parametrize("labels", ["xlsx", "csv"])
def test_csiq_reads_the_spreadsheet_or_its_csv_export(tmp_path: Path, labels: str) -> None:
    make_csiq(tmp_path, labels)
    data = load_csiq(tmp_path, strict=False)
    assert data.lower_better and data.score_name == "DMOS" and data.label_file.suffix == f".{labels}"
    got = [(p.dist.relative_to(tmp_path / "dst_imgs").as_posix(), p.ref.name, p.score) for p in data.pairs]
    assert got == [(f, f.split("/")[1].split(".")[0] + ".png", row[3]) for f, row in zip(CSIQ_FILES, CSIQ_ROWS)]
    with pytest.raises(ValueError, match=r"not the full release.*866"):
        load_csiq(tmp_path)


def test_csiq_xlsx_without_openpyxl_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_csiq(tmp_path)
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # what an environment without it imports
    with pytest.raises(ImportError, match=r'csiq\.DMOS\.xlsx needs openpyxl: pip install "smic\[xlsx\]"'):
        load_csiq(tmp_path, strict=False)
    text = "\n".join(",".join("" if v is None else str(v) for v in row) for row in csiq_grid())
    (tmp_path / "export.csv").write_text(text + "\n")
    assert len(load_dataset("CSIQ", tmp_path, strict=False, labels=tmp_path / "export.csv")) == len(CSIQ_ROWS)


def test_csiq_errors(tmp_path: Path) -> None:
    root = make_csiq(tmp_path)
    with pytest.raises(ValueError, match=r"no sheet 'all_by_image'"):
        write_xlsx(root / "csiq.DMOS.xlsx", {"Sheet1": csiq_grid()})
        load_csiq(root, strict=False)
    write_xlsx(root / "csiq.DMOS.xlsx", {"all_by_image": [["image", "type"], ["1600", "noise"]]})
    with pytest.raises(ValueError, match=r"header row"):
        load_csiq(root, strict=False)
    (root / "csiq.DMOS.xlsx").unlink()
    with pytest.raises(FileNotFoundError, match=r"csiq\.DMOS\.xlsx"):
        load_csiq(root, strict=False)
    make_csiq(root)
    (root / "dst_imgs" / "contrast" / "woman.contrast.2.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"woman\.contrast\.2\.png"):
        load_csiq(root, strict=False)


# ---------------------------------------------------------------------------- TID2013


def make_tid2013(root: Path, lines: list[str] | None = None) -> Path:
    for i, ref in enumerate(["I01.BMP", "I02.BMP", "i25.bmp"]):
        image(root / "reference_images" / ref, seed=i)
    for i, name in enumerate(["i01_01_1.bmp", "I01_11_1.BMP", "i02_08_4.bmp", "i25_24_5.bmp"]):
        image(root / "distorted_images" / name, seed=10 + i)
    lines = (
        lines
        if lines is not None
        else ["3.1 i25_24_5.bmp", "", "5.51429 I01_01_1.bmp", "4.2 I01_11_1.BMP", "  0.24242 i02_08_4.bmp  "]
    )
    (root / "mos_with_names.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return root


def test_tid2013_joins_on_names_ignoring_case(tmp_path: Path) -> None:
    make_tid2013(tmp_path)
    data = load_tid2013(tmp_path, strict=False)
    assert not data.lower_better and data.score_name == "MOS"
    got = {p.dist.name: (p.ref.name, p.score) for p in data.pairs}
    assert got == {
        "i25_24_5.bmp": ("i25.bmp", 3.1),
        "i01_01_1.bmp": ("I01.BMP", 5.51429),
        "I01_11_1.BMP": ("I01.BMP", 4.2),
        "i02_08_4.bmp": ("I02.BMP", 0.24242),
    }
    with pytest.raises(ValueError, match=r"3000"):
        load_tid2013(tmp_path)


def test_tid2013_errors(tmp_path: Path) -> None:
    make_tid2013(tmp_path, ["5.1 i01_01_1.bmp", "4.0 i01_02_1.bmp"])
    with pytest.raises(FileNotFoundError, match=r"1 labelled image.*i01_02_1\.bmp"):
        load_tid2013(tmp_path, strict=False)
    make_tid2013(tmp_path, ["5.1 i01_01_1.bmp", "five i01_01_1.bmp"])
    with pytest.raises(ValueError, match=r"line 2: 'five' is not a number"):
        load_tid2013(tmp_path, strict=False)
    make_tid2013(tmp_path, ["5.1 i01_01_1.bmp extra"])
    with pytest.raises(ValueError, match=r"line 1"):
        load_tid2013(tmp_path, strict=False)
    (tmp_path / "mos_with_names.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"mos_with_names\.txt"):
        load_tid2013(tmp_path, strict=False)


# ---------------------------------------------------------------------------- KADID-10k


def make_kadid(root: Path, split: bool = False) -> Path:
    refs, dists = root / ("reference_images" if split else "images"), root / ("distorted_images" if split else "images")
    for i, ref in enumerate(["I01.png", "I02.png"]):
        image(refs / ref, seed=i)
    for i, name in enumerate(["I01_01_01.png", "I02_10_05.png", "I01_25_03.png"]):
        image(dists / name, seed=10 + i)
    (root / "dmos.csv").write_text(
        "dist_img,ref_img,dmos,var\nI02_10_05.png,I02.png,1.00,\n"
        "I01_01_01.png,I01.png,4.57,0.2\n\ni01_25_03.png,I01.png,4.93,\n"
    )
    return root


@pytest.mark.parametrize("split", [False, True])
def test_kadid_reads_dmos_column_as_mos(tmp_path: Path, split: bool) -> None:
    make_kadid(tmp_path / "kadid10k", split)
    data = load_kadid10k(tmp_path, strict=False)
    assert data.name == "KADID-10k" and not data.lower_better and data.score_name == "MOS"
    assert [(p.dist.name, p.ref.name, p.score) for p in data.pairs] == [
        ("I02_10_05.png", "I02.png", 1.0),
        ("I01_01_01.png", "I01.png", 4.57),
        ("I01_25_03.png", "I01.png", 4.93),
    ]


def test_kadid_errors(tmp_path: Path) -> None:
    root = make_kadid(tmp_path)
    (root / "dmos.csv").write_text("dist,ref,score\n")
    with pytest.raises(ValueError, match=r"dist_img, ref_img, dmos"):
        load_kadid10k(root, strict=False)
    (root / "dmos.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"dmos\.csv"):
        load_kadid10k(root, strict=False)


# ---------------------------------------------------------------------------- PIPAL


def make_pipal(root: Path) -> Path:
    image(root / "Train_Ref" / "A0001.bmp", 0)
    image(root / "Train_Ref" / "A0060.bmp", 1)
    image(root / "Distortion_1" / "Distortion_1" / "A0001_00_00.bmp", 2)  # nested by unzipping
    image(root / "Distortion_1" / "Distortion_1" / "A0001_03_11.bmp", 3)
    image(root / "Distortion_2" / "A0060_06_26.bmp", 4)
    (root / "Train_Label").mkdir()
    (root / "Train_Label" / "A0001.txt").write_text("A0001_00_00.bmp,1520.0648\r\nA0001_03_11.bmp,916.7\r\n")
    (root / "Train_Label" / "A0060.txt").write_text("A0060_06_26.bmp,1836.0\n\n")
    return root


def test_pipal_indexes_distortion_folders_recursively(tmp_path: Path) -> None:
    make_pipal(tmp_path)
    data = load_pipal(tmp_path, strict=False)
    assert not data.lower_better
    assert {p.dist.name: (p.ref.name, p.score) for p in data.pairs} == {
        "A0001_00_00.bmp": ("A0001.bmp", 1520.0648),
        "A0001_03_11.bmp": ("A0001.bmp", 916.7),
        "A0060_06_26.bmp": ("A0060.bmp", 1836.0),
    }
    with pytest.raises(ValueError, match=r"23200"):
        load_pipal(tmp_path)


def test_pipal_errors(tmp_path: Path) -> None:
    root = make_pipal(tmp_path)
    (root / "Train_Label" / "A0060.txt").write_text("A0060_06_26.bmp 1836.0 x\n")
    with pytest.raises(ValueError, match=r"A0060\.txt line 1"):
        load_pipal(root, strict=False)
    (root / "Train_Label" / "A0060.txt").write_text("A0060_06_27.bmp,1836.0\n")
    with pytest.raises(FileNotFoundError, match=r"A0060_06_27\.bmp"):
        load_pipal(root, strict=False)
    for label in (root / "Train_Label").iterdir():
        label.unlink()
    with pytest.raises(FileNotFoundError, match=r"\*\.txt"):
        load_pipal(root, strict=False)


# ---------------------------------------------------------------------------- QADS


def make_qads(root: Path) -> Path:
    inner = root / "QADS" / "QADS"
    image(inner / "source_images" / "img01.bmp", 0)
    image(inner / "source_images" / "img02.bmp", 1)
    image(inner / "super-resolved_images" / "img01_2_01.bmp", 2)
    image(inner / "super-resolved_images" / "img02_4_21.bmp", 3)
    (inner / "mos_with_names.txt").write_text("0.7125  img01_2_01.bmp\n0.1000  img02_4_21.bmp\n")
    return inner


def test_qads_nested_copy(tmp_path: Path) -> None:
    inner = make_qads(tmp_path)
    data = load_qads(tmp_path, strict=False)
    assert data.root == inner and not data.lower_better
    assert [(p.dist.name, p.ref.name, p.score) for p in data.pairs] == [
        ("img01_2_01.bmp", "img01.bmp", 0.7125),
        ("img02_4_21.bmp", "img02.bmp", 0.1),
    ]
    with pytest.raises(ValueError, match=r"980"):
        load_qads(tmp_path)
    (inner / "source_images" / "img02.bmp").unlink()
    with pytest.raises(FileNotFoundError, match=r"img02\.bmp"):
        load_qads(tmp_path, strict=False)


# ---------------------------------------------------------------------------- generic CSV and dispatch


def test_generic_csv(tmp_path: Path) -> None:
    image(tmp_path / "refs" / "a.png", 0)
    image(tmp_path / "d1.png", 1)
    (tmp_path / "labels.csv").write_text("Dist,Ref,Score,comment\nd1.png,refs/a.png,0.5,x\n")
    data = load_csv(tmp_path / "labels.csv", lower_better=True)
    assert data.lower_better and data.name == "labels" and data.pairs[0].ref == tmp_path / "refs" / "a.png"
    with pytest.raises(ValueError, match=r"direction"):
        load_csv(tmp_path / "labels.csv", lower_better=None)
    with pytest.raises(ValueError, match=r"direction"):
        load_dataset("CSV", tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("ref,dist,score\nrefs/a.png,d2.png,0.5\n")
    with pytest.raises(FileNotFoundError, match=r"d2\.png"):
        load_csv(tmp_path / "labels.csv", lower_better=False)
    (tmp_path / "labels.csv").write_text("ref,dist\nrefs/a.png,d1.png\n")
    with pytest.raises(ValueError, match=r"score"):
        load_csv(tmp_path / "labels.csv", lower_better=False)


def test_load_dataset_matches_names_ignoring_case(tmp_path: Path) -> None:
    make_kadid(tmp_path / "k")
    make_tid2013(tmp_path / "t")
    assert load_dataset("kadid-10k", tmp_path / "k", strict=False).name == "KADID-10k"
    assert load_dataset("KADID10K", tmp_path / "k", strict=False).name == "KADID-10k"
    assert load_dataset("Tid2013", tmp_path / "t", strict=False).name == "TID2013"
    assert list_datasets() == ["LIVE", "CSIQ", "TID2013", "KADID-10k", "PIPAL", "QADS", "csv"]
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'"):
        load_dataset("nope", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_dataset("tid2013", tmp_path / "missing")
    with pytest.raises(ValueError, match=r"TID2013 has a single label file; --labels applies to LIVE and CSIQ only"):
        load_dataset("tid2013", tmp_path / "t", labels="other.txt")
    with pytest.raises(FileNotFoundError, match=r"no mos_with_names\.txt in .*expected TID2013"):
        load_dataset("tid2013", tmp_path / "k")

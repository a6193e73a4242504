"""Score lists of pairs with many metrics into one file: what ``smic score`` runs for folders and
``--pairs`` lists, on the engine of ``smic bench`` (:mod:`smic.evaluation.engine`).

>>> result = score_pairs(pairs_from_folders("ref/", "dist/"), ["psnr", "ssim", "lpips+smic"], out="scores.csv")
>>> print(result.summary())

The scores are kept in a store beside the output (``scores.csv.store/``), so a rerun with the
same ``out`` computes only what is missing and an interrupted run loses nothing; the output file
is rewritten whole from the store at the end of each run.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smic import storage
from smic.evaluation.datasets import Dataset, Pair
from smic.evaluation.datasets._layout import header_rows
from smic.evaluation.engine import Engine, Failure, prepare_metrics, score_dataset
from smic.evaluation.store import ScoreStore
from smic.spec import MetricSpec
from smic.storage import Location

__all__ = ["IMAGE_SUFFIXES", "PairScores", "pairs_from_csv", "pairs_from_folders", "score_pairs"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
FORMATS = (".csv", ".jsonl", ".parquet")
DATASET = "pairs"


def _pairs_dataset(root: Path, pairs: list[Pair], label_file: Path | None, notes: str) -> Dataset:
    if not pairs:
        raise ValueError(f"no pairs to score in {label_file or root}")
    return Dataset(DATASET, root, pairs, False, "none", label_file, notes)


def _images(folder: Location) -> dict[str, Location]:
    return {
        key: path
        for key, path in storage.list_files(folder).items()
        if os.path.splitext(key)[1].lower() in IMAGE_SUFFIXES and not storage.name_of(path).startswith(".")
    }


def pairs_from_folders(ref: str | os.PathLike[str], dist: str | os.PathLike[str]) -> Dataset:
    """Pairs of the images in two folders matched by relative path (``a/b.png`` with ``a/b.png``),
    or by relative path without the suffix where that is unique (``a/b.png`` with ``a/b.jpg``).
    Every image must find its partner: a ``ValueError`` lists those that do not. A folder may be a
    URI (``s3://bucket/prefix``; smic.storage)."""
    ref_dir, dist_dir = storage.as_location(ref), storage.as_location(dist)
    for name, folder in (("ref", ref_dir), ("dist", dist_dir)):
        if not storage.is_dir(folder):
            raise FileNotFoundError(f"{name}: no such folder: {folder}")
    refs, dists = _images(ref_dir), _images(dist_dir)
    stems: dict[str, list[str]] = {}
    for key in refs:
        stems.setdefault(key.rsplit(".", 1)[0], []).append(key)
    pairs: list[Pair] = []
    matched: set[str] = set()
    unmatched_dist: list[str] = []
    for key, path in dists.items():
        partner = key if key in refs else None
        if partner is None:
            candidates = stems.get(key.rsplit(".", 1)[0], [])
            partner = candidates[0] if len(candidates) == 1 else None
        if partner is None:
            unmatched_dist.append(key)
            continue
        matched.add(partner)
        pairs.append(Pair(refs[partner], path, math.nan))
    unmatched_ref = [key for key in refs if key not in matched]
    if unmatched_dist or unmatched_ref:
        shown = [f"dist {key}" for key in unmatched_dist[:5]] + [f"ref {key}" for key in unmatched_ref[:5]]
        raise ValueError(
            f"{len(unmatched_dist)} image(s) in {dist_dir} and {len(unmatched_ref)} in {ref_dir} have no partner "
            f"(pairs are matched by relative path): {', '.join(shown)}"
            + (" ..." if len(unmatched_dist) > 5 or len(unmatched_ref) > 5 else "")
        )
    return _pairs_dataset(_common_root([ref_dir, dist_dir]), pairs, None, f"folders {ref_dir} and {dist_dir}")


def _common_root(folders: list[Location]) -> Path:
    """The deepest local folder holding every local one (store keys are relative to it; URIs are
    their own keys); the current folder where all are URIs."""
    local = [folder.resolve() for folder in folders if isinstance(folder, Path)]
    return Path(os.path.commonpath(local)) if local else Path.cwd()


def pairs_from_csv(path: str | os.PathLike[str]) -> Dataset:
    """Pairs listed in a CSV with the columns ``ref,dist`` (any order, other columns ignored; an
    ``id`` column is kept by :func:`score_pairs`); paths relative to the CSV's folder, or URIs
    (``s3://...``; smic.storage), which are not checked before the run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs: no such file: {path}")
    root = path.parent.resolve()
    pairs = []
    missing: list[str] = []
    for _, cells in header_rows("pairs", path, ("ref", "dist"), "ref,dist[,id]"):
        ref, dist = (storage.join(root, cells.get(column, "")) for column in ("ref", "dist"))
        missing += [str(p) for p in (ref, dist) if isinstance(p, Path) and not p.is_file()]
        pairs.append(Pair(ref, dist, math.nan))
    if missing:
        shown = "; ".join(dict.fromkeys(missing[:5]))
        raise FileNotFoundError(f"pairs: {len(missing)} image(s) named in {path.name} not found: {shown}")
    return _pairs_dataset(root, pairs, path, f"list {path.name}")


def _ids(dataset: Dataset) -> list[str]:
    """The ``id`` column of a pairs CSV where it has one, else each pair's dist key."""
    if dataset.label_file is not None:
        rows = header_rows("pairs", dataset.label_file, ("ref", "dist"), "ref,dist[,id]")
        if rows and "id" in rows[0][1]:
            return [cells["id"] for _, cells in rows]
    return [dataset.key(pair.dist) for pair in dataset.pairs]


@dataclass(frozen=True)
class PairScores:
    """The scores of a :func:`score_pairs` run: one row per pair, one column per config."""

    labels: list[str]
    ids: list[str]
    refs: list[str]
    dists: list[str]
    scores: dict[str, list[float | None]]  # label -> one score per pair (None: failed)
    failures: list[Failure]
    computed: int
    reused: int
    out: Path | None

    def summary(self) -> str:
        """Count, mean and median of each config's scores, then the failures."""
        lines = [
            f"{len(self.ids)} pairs x {len(self.labels)} metrics: "
            f"{self.computed} scores computed, {self.reused} reused, {len(self.failures)} failed"
        ]
        width = max(len(label) for label in self.labels)
        for label in self.labels:
            values = np.array([v for v in self.scores[label] if v is not None], dtype=np.float64)
            mean, median = (f"{f(values):.6g}" if values.size else "-" for f in (np.mean, np.median))
            lines.append(f"  {label:<{width}}  n={values.size:<6} mean {mean:<12} median {median}")
        for failure in self.failures[:20]:
            lines.append(f"  FAILED {failure.config} {failure.ref} | {failure.dist}: {failure.reason}")
        if len(self.failures) > 20:
            lines.append(f"  ... {len(self.failures) - 20} more failures (the 'failed' column of the output)")
        if self.out is not None:
            lines.append(f"written to {self.out}")
        return "\n".join(lines)

    def records(self) -> list[dict[str, Any]]:
        """One dict per pair: id, ref, dist, each config's score (None where it failed), failed."""
        reasons: dict[tuple[str, str], list[str]] = {}
        for failure in self.failures:
            reasons.setdefault((failure.ref, failure.dist), []).append(f"{failure.config}: {failure.reason}")
        return [
            {
                "id": pair_id,
                "ref": ref,
                "dist": dist,
                **{label: self.scores[label][i] for label in self.labels},
                "failed": "; ".join(reasons.get((ref, dist), [])),
            }
            for i, (pair_id, ref, dist) in enumerate(zip(self.ids, self.refs, self.dists))
        ]


def store_folder(out: Path) -> Path:
    """Where the scores behind output file ``out`` are kept for resuming: ``<out>.store/``."""
    return out.with_name(out.name + ".store")


def score_pairs(
    pairs: Dataset | Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    metrics: Sequence[str | MetricSpec],
    *,
    out: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
    max_pixels: int | None = None,
    fresh: bool = False,
    engine: Engine | None = None,
) -> PairScores:
    """Score every pair with every metric spec (``"psnr"``, ``"lpips+smic"``, a :class:`MetricSpec`).

    ``pairs``: :func:`pairs_from_folders`, :func:`pairs_from_csv`, or (ref, dist) paths. With
    ``out`` (``.csv``, ``.jsonl`` or ``.parquet``, the last needing pyarrow) the scores are written
    there and kept in ``<out>.store/``: a rerun computes only what is missing. Failures (unreadable
    image, size mismatch, metric error) are returned and written with their reason; the rest is
    scored. ``device``: cuda when available. ``engine``: None for this process, or
    :class:`~smic.evaluation.ray_engine.RayEngine` for a Ray cluster.
    """
    dataset = pairs if isinstance(pairs, Dataset) else _listed(pairs)
    configs = list(dict.fromkeys(m if isinstance(m, MetricSpec) else MetricSpec.parse(m) for m in metrics))
    if not configs:
        raise ValueError("no metric given")
    target = None if out is None else Path(out)
    if target is not None and target.suffix.lower() not in FORMATS:
        raise ValueError(f"out: {target.name} must end in {', '.join(FORMATS)}")
    if target is not None and target.suffix.lower() == ".parquet":
        _pyarrow()
    torch_device = torch.device(device) if device is not None else _default_device()
    models = prepare_metrics(configs, torch_device, engine)
    with tempfile.TemporaryDirectory(prefix="smic-score-") as scratch:
        folder = Path(scratch) if target is None else store_folder(target)
        store = ScoreStore.open_run(folder, fresh=fresh)
        try:
            scored = score_dataset(
                store,
                dataset,
                configs,
                models,
                device=torch_device,
                batch_size=batch_size,
                workers=workers,
                progress=progress,
                max_pixels=max_pixels,
                engine=engine,
            )
            stored = store.scores(DATASET)
        finally:
            store.close()
    keys = [(dataset.key(pair.ref), dataset.key(pair.dist)) for pair in dataset.pairs]
    result = PairScores(
        scored.labels,
        _ids(dataset),
        [ref for ref, _ in keys],
        [dist for _, dist in keys],
        {label: [stored.get(label, {}).get(key) for key in keys] for label in scored.labels},
        scored.failures,
        scored.computed,
        scored.reused,
        target,
    )
    if target is not None:
        write_scores(target, result)
    return result


def _listed(pairs: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]]) -> Dataset:
    items = [Pair(_absolute(ref), _absolute(dist), math.nan) for ref, dist in pairs]
    if not items:
        raise ValueError("no pairs to score")
    folders = [p.parent if isinstance(p, Path) else p for pair in items for p in (pair.ref, pair.dist)]
    return _pairs_dataset(_common_root(folders), items, None, "listed pairs")


def _absolute(path: str | os.PathLike[str]) -> Location:
    location = storage.as_location(path)
    return location.resolve() if isinstance(location, Path) else location


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise ValueError("out: writing .parquet needs pyarrow: pip install pyarrow (or write .csv / .jsonl)") from None
    return pyarrow


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def write_scores(path: Path, result: PairScores) -> None:
    """Write ``result`` to ``path`` by its suffix, whole (a temp file renamed over it). CSV: one
    column per config, empty where it failed, inf as ``inf``; JSON lines: strict JSON, inf as the
    string ``"inf"``; Parquet: float64 columns, null where it failed."""
    records = result.records()
    columns = ["id", "ref", "dist", *result.labels, "failed"]
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            with open(temp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in records])
        elif suffix == ".jsonl":
            with open(temp, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps({k: _json_value(v) for k, v in record.items()}, allow_nan=False) + "\n")
        else:
            pyarrow = _pyarrow()
            table = pyarrow.table(
                {
                    column: pyarrow.array(
                        [r[column] for r in records], type=pyarrow.float64() if column in result.labels else None
                    )
                    for column in columns
                }
            )
            pyarrow.parquet.write_table(table, temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)

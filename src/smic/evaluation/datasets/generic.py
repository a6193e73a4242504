"""Any dataset as a CSV of ``ref,dist,score``, the score direction stated by the caller."""

from __future__ import annotations

from pathlib import Path

from smic.evaluation.datasets._layout import Dataset, Pair, header_rows, parse_score


def load_csv(
    path: Path | str, *, lower_better: bool | None, name: str | None = None, score_name: str | None = None
) -> Dataset:
    """A CSV with a header holding ``ref``, ``dist`` and ``score`` (any order, other columns ignored).

    Image paths are relative to the CSV's folder (or absolute). ``lower_better`` must be given
    (True for DMOS-like scores, False for MOS-like ones): guessing it would flip every correlation.
    """
    path = Path(path)
    label = name or path.stem
    if lower_better is None:
        raise ValueError(
            f"{label}: state the score direction of {path.name}: lower_better=True or False "
            "(CLI: --csv-direction lower|higher)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{label}: CSV file {path} does not exist (expected columns ref,dist,score)")
    root = path.parent.resolve()
    pairs: list[Pair] = []
    missing: list[str] = []
    for line, cells in header_rows(label, path, ("ref", "dist", "score"), "ref,dist,score"):
        score = parse_score(label, path, line, cells.get("score", ""))
        ref, dist = (root / cells.get(column, "") for column in ("ref", "dist"))
        missing += [str(p) for p in (ref, dist) if not p.is_file()]
        pairs.append(Pair(ref, dist, score))
    if missing:
        shown = "; ".join(dict.fromkeys(missing[:5]))
        raise FileNotFoundError(f"{label}: {len(missing)} image(s) named in {path.name} not found: {shown}")
    if not pairs:
        raise ValueError(f"{label}: {path.name} has no data rows")
    return Dataset(label, root, pairs, lower_better, score_name or "score", path, f"labels: {path.name}")

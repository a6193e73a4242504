"""Correlation statistics of the FR-IQA protocol (VQEG; METHOD.md section 7).

- SRCC (Spearman) and KRCC (Kendall tau-b) on the raw scores.
- PLCC and RMSE after the 5-parameter logistic
  Q(x) = b1 * (1/2 - 1/(1 + exp(b2 * (x - b3)))) + b4 * x + b5   (VQEG FR-TV Phase II, Sheikh 2006),
  fitted by least squares from data-driven start values with a bounded ``maxfev``; a failed fit
  falls back to a straight line, reported in ``fit_status``. No sample is ever dropped.
- Raw PLCC (no fit), bootstrap confidence intervals over images, and a paired test of two
  metrics on the same images (paired bootstrap of the SRCC difference + Williams' t).

Signs: SRCC, KRCC and raw PLCC are *oriented*: multiplied by -1 when exactly one of (metric,
subjective score) is lower-better, so a positive value always means agreement with the
observers (the sign is never hidden by ``abs``). The fitted logistic may be decreasing, so PLCC
after the fit is positive whenever the fit explains anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "Evaluation",
    "LogisticFit",
    "PairedTest",
    "bootstrap_ci",
    "evaluate",
    "fit_logistic",
    "krcc",
    "logistic5",
    "paired_test",
    "plcc",
    "rmse",
    "srcc",
    "williams_test",
]

DEFAULT_MAXFEV = 20000


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """Q(x) = b1 * (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5, overflow-free via expit."""
    return b1 * (0.5 - special.expit(-b2 * (x - b3))) + b4 * x + b5


@dataclass(frozen=True)
class LogisticFit:
    """A fitted mapping score -> subjective score, with how it was obtained.

    ``kind`` is ``"logistic"`` (params b1..b5 of :func:`logistic5`), ``"linear"`` (params
    slope, intercept: the fallback) or ``"constant"`` (params: the mean; constant scores).
    ``start`` holds the logistic start values b1..b5 in the units of x and y.
    """

    kind: str
    params: tuple[float, ...]
    start: tuple[float, ...]
    maxfev: int
    status: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "logistic":
            return logistic5(x, *self.params)
        if self.kind == "linear":
            return self.params[0] * x + self.params[1]
        return np.full_like(x, self.params[0])


def srcc(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks."""
    return plcc(stats.rankdata(x), stats.rankdata(y))


def krcc(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall rank correlation, tau-b (tie-corrected), as ``scipy.stats.kendalltau``."""
    return float(stats.kendalltau(x, y).statistic)


def plcc(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson linear correlation; NaN when either input is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")


def rmse(prediction: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error sqrt(mean((prediction - y)^2)), in the units of y."""
    return float(np.sqrt(np.mean((np.asarray(prediction) - np.asarray(y)) ** 2)))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, maxfev: int = DEFAULT_MAXFEV) -> LogisticFit:
    """Least-squares fit of :func:`logistic5` mapping scores ``x`` to subjective scores ``y``.

    x and y are standardised first (fit in z-units, parameters converted back). Start values,
    data-driven: b1 = sign(SRCC) * (max y - min y), b2 = 1 / std x, b3 = mean x, b4 = 0,
    b5 = mean y. If Levenberg-Marquardt does not converge within ``maxfev`` evaluations, or ends
    worse than a straight line (a special case of the model, b1 = 0), it is retried from four
    other starts; if all fail, the least-squares line is used and ``status`` says why.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"fit_logistic: x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("fit_logistic: x and y must be finite")
    mx, sx, my, sy = x.mean(), x.std(), y.mean(), y.std()
    sign = 1.0 if not (srcc(x, y) < 0) else -1.0
    start = (sign * float(np.ptp(y)), 1.0 / sx if sx > 0 else 0.0, float(mx), 0.0, float(my))
    if sx == 0 or sy == 0 or len(x) < 2:
        return LogisticFit("constant", (float(my),), start, maxfev, "no fit: constant scores")
    slope, intercept = np.polyfit(x, y, 1)
    linear_sse = float(np.sum((slope * x + intercept - y) ** 2))
    if len(x) < 6:
        return LogisticFit(
            "linear",
            (float(slope), float(intercept)),
            start,
            maxfev,
            f"linear fallback: {len(x)} samples are too few for 5 parameters",
        )
    z, w = (x - mx) / sx, (y - my) / sy
    amplitude = sign * float(np.ptp(w))
    starts = [
        (amplitude, 1.0, 0.0, 0.0, 0.0),
        (amplitude, 3.0, 0.0, 0.0, 0.0),
        (amplitude, 0.3, 0.0, 0.0, 0.0),
        (amplitude, 1.0, float(np.median(z)), 0.0, 0.0),
        (0.1 * sign, 1.0, 0.0, slope * sx / sy, 0.0),
    ]
    reasons: list[str] = []
    for attempt, p0 in enumerate(starts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optimize.OptimizeWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                p, _ = optimize.curve_fit(logistic5, z, w, p0=p0, maxfev=maxfev)
        except (RuntimeError, ValueError, FloatingPointError) as error:
            reasons.append(str(error).split(".")[0])
            continue
        b1, b2, b3, b4, b5 = (float(v) for v in p)
        params = (sy * b1, b2 / sx, mx + sx * b3, sy * b4 / sx, my + sy * (b5 - b4 * mx / sx))
        prediction = logistic5(x, *params)
        sse = float(np.sum((prediction - y) ** 2))
        if not (np.all(np.isfinite(params)) and np.isfinite(sse)):
            reasons.append("non-finite parameters")
            continue
        if sse > linear_sse * (1 + 1e-9) + 1e-12:
            reasons.append("ended worse than a straight line")
            continue
        status = "ok" if attempt == 0 else f"ok (start {attempt + 1} of {len(starts)})"
        return LogisticFit("logistic", params, start, maxfev, status)
    why = "; ".join(dict.fromkeys(reasons))
    return LogisticFit(
        "linear",
        (float(slope), float(intercept)),
        start,
        maxfev,
        f"linear fallback: logistic failed from {len(starts)} starts (maxfev={maxfev}: {why})",
    )


# ---------------------------------------------------------------------------- bootstrap


def _dense_ranks(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank 0..K-1 of each value (equal values share one) and K."""
    unique, inverse = np.unique(values, return_inverse=True)
    return inverse.ravel(), len(unique)


def _resampled_ranks(dense: np.ndarray, k: int, index: np.ndarray) -> np.ndarray:
    """Average ranks inside each bootstrap row of ``dense[index]`` (B, n), without sorting.

    Rank of an element = (# sampled elements with a smaller value) + (# with an equal value + 1) / 2,
    from per-row counts of each dense rank: O(B n) instead of a sort per row.
    """
    rows = index.shape[0]
    sample = dense[index]
    counts = np.bincount((sample + k * np.arange(rows)[:, None]).ravel(), minlength=rows * k).reshape(rows, k)
    average = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    return np.take_along_axis(average, sample, axis=1)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def _index_chunks(n: int, n_boot: int, seed: int, cells: int = 4_000_000) -> Iterator[np.ndarray]:
    """Bootstrap index rows (B, n) drawn with ``numpy.random.default_rng(seed)``, in chunks."""
    rng = np.random.default_rng(seed)
    rows = max(1, cells // max(n, 1))
    done = 0
    while done < n_boot:
        size = min(rows, n_boot - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def _percentile_ci(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    x: np.ndarray,
    y: np.ndarray,
    prediction: np.ndarray | None = None,
    *,
    sign: float = 1.0,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs over images: ``srcc`` (oriented by ``sign``) and, given the fitted
    ``prediction``, ``plcc`` of prediction vs y (the fit is held fixed, not refitted per resample)."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    dense_x, kx = _dense_ranks(x)
    dense_y, ky = _dense_ranks(y)
    srccs, plccs = [], []
    for index in _index_chunks(len(x), n_boot, seed):
        ry = _resampled_ranks(dense_y, ky, index)
        srccs.append(sign * _rowwise_pearson(_resampled_ranks(dense_x, kx, index), ry))
        if prediction is not None:
            plccs.append(_rowwise_pearson(np.asarray(prediction, dtype=np.float64)[index], y[index]))
    result = {"srcc": _percentile_ci(np.concatenate(srccs), level)}
    if prediction is not None:
        result["plcc"] = _percentile_ci(np.concatenate(plccs), level)
    return result


# ---------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Protocol statistics of one metric on one dataset (see the module docstring for signs)."""

    n: int
    srcc: float
    krcc: float
    plcc: float
    rmse: float
    raw_plcc: float
    fit: LogisticFit
    srcc_ci: tuple[float, float]
    plcc_ci: tuple[float, float]
    n_infinite: int  # +-inf scores (e.g. PSNR of identical images), clipped for the fit only
    level: float

    @property
    def fit_status(self) -> str:
        clipped = f"; {self.n_infinite} infinite score(s) clipped for the fit" if self.n_infinite else ""
        return self.fit.status + clipped


def orientation(metric_lower_better: bool, subjective_lower_better: bool) -> float:
    """+1 when metric and subjective score point the same way, else -1."""
    return -1.0 if bool(metric_lower_better) != bool(subjective_lower_better) else 1.0


def _clip_infinite(x: np.ndarray) -> tuple[np.ndarray, int]:
    if np.isnan(x).any():
        raise ValueError("scores contain NaN: record those pairs as failures instead")
    infinite = ~np.isfinite(x)
    if not infinite.any():
        return x, 0
    finite = x[~infinite]
    if finite.size == 0:
        raise ValueError("all scores are infinite")
    return np.clip(x, finite.min(), finite.max()), int(infinite.sum())


def evaluate(
    scores: np.ndarray,
    subjective: np.ndarray,
    *,
    metric_lower_better: bool = False,
    subjective_lower_better: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    maxfev: int = DEFAULT_MAXFEV,
) -> Evaluation:
    """All protocol statistics of ``scores`` against ``subjective`` (same images, same order).

    Infinite scores keep their rank for SRCC/KRCC and are clipped to the finite range for the
    fit and PLCC (counted in ``n_infinite``); NaN raises. ``n_boot=0`` skips the CIs.
    """
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(subjective, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"evaluate: scores and subjective must be 1-D of equal length, got {x.shape}, {y.shape}")
    if len(x) < 3:
        raise ValueError(f"evaluate: need at least 3 pairs, got {len(x)}")
    sign = orientation(metric_lower_better, subjective_lower_better)
    finite_x, n_infinite = _clip_infinite(x)
    fit = fit_logistic(finite_x, y, maxfev=maxfev)
    prediction = fit.predict(finite_x)
    nan_ci = (float("nan"), float("nan"))
    cis = bootstrap_ci(x, y, prediction, sign=sign, n_boot=n_boot, seed=seed, level=level) if n_boot > 0 else {}
    return Evaluation(
        n=len(x),
        srcc=sign * srcc(x, y),
        krcc=sign * krcc(x, y),
        plcc=plcc(prediction, y) if fit.kind != "constant" else float("nan"),
        rmse=rmse(prediction, y),
        raw_plcc=sign * plcc(finite_x, y),
        fit=fit,
        srcc_ci=cis.get("srcc", nan_ci),
        plcc_ci=cis.get("plcc", nan_ci),
        n_infinite=n_infinite,
        level=level,
    )


# ---------------------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class PairedTest:
    """Metric A against metric B on the same n images: delta = SRCC_A - SRCC_B (oriented)."""

    n: int
    srcc_a: float
    srcc_b: float
    delta: float
    ci: tuple[float, float]
    p_bootstrap: float
    williams_t: float
    p_williams: float


def williams_test(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' t for dependent correlations sharing variable 1 (Steiger 1980, eq. 7), df = n - 3.

    t = (r12 - r13) sqrt((n-1)(1+r23) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r23)^3)),
    |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23, rbar = (r12 + r13) / 2. Applied here to
    Spearman coefficients (an approximation). Returns (t, two-sided p).
    """
    if n <= 3:
        return float("nan"), float("nan")
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    rbar = (r12 + r13) / 2
    denominator = 2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r23) ** 3
    if not denominator > 0:
        return float("nan"), float("nan")
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / denominator)
    return float(t), float(2 * stats.t.sf(abs(t), n - 3))


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    subjective: np.ndarray,
    *,
    sign_a: float = 1.0,
    sign_b: float = 1.0,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedTest:
    """Is metric A's SRCC different from metric B's on the same images?

    Paired bootstrap: the same resampled images for both metrics; CI = percentile interval of
    the resampled differences; two-sided p = 2 min(P*(d <= 0), P*(d >= 0)) with the (1 + count) /
    (B + 1) correction. Also Williams' t on the Spearman coefficients (:func:`williams_test`).
    """
    a, b, y = (np.asarray(v, dtype=np.float64) for v in (a, b, subjective))
    if not (a.shape == b.shape == y.shape) or a.ndim != 1:
        raise ValueError("paired_test: a, b and subjective must be 1-D of equal length")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired_test: scores contain NaN: record those pairs as failures instead")
    r_ay, r_by = sign_a * srcc(a, y), sign_b * srcc(b, y)
    t, p_williams = williams_test(r_ay, r_by, sign_a * sign_b * srcc(a, b), len(a))
    (da, ka), (db, kb), (dy, ky) = _dense_ranks(a), _dense_ranks(b), _dense_ranks(y)
    deltas = []
    for index in _index_chunks(len(a), n_boot, seed):
        ry = _resampled_ranks(dy, ky, index)
        deltas.append(
            sign_a * _rowwise_pearson(_resampled_ranks(da, ka, index), ry)
            - sign_b * _rowwise_pearson(_resampled_ranks(db, kb, index), ry)
        )
    d = np.concatenate(deltas) if deltas else np.array([])
    d = d[np.isfinite(d)]
    if d.size:
        p_boot = min(1.0, 2 * min((1 + np.sum(d <= 0)) / (d.size + 1), (1 + np.sum(d >= 0)) / (d.size + 1)))
    else:
        p_boot = float("nan")
    return PairedTest(len(a), r_ay, r_by, r_ay - r_by, _percentile_ci(d, level), float(p_boot), t, p_williams)

"""Statistics against scipy on known data; the 5-parameter fit against a curve with known parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from smic.evaluation.stats import (
    _dense_ranks,
    _resampled_ranks,
    bootstrap_ci,
    evaluate,
    fit_logistic,
    krcc,
    logistic5,
    paired_test,
    plcc,
    rmse,
    srcc,
    williams_test,
)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=400), 1)  # ties on purpose
    return x, 2 * x + rng.normal(size=400)


def test_correlations_match_scipy(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert rmse(x, y) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)))
    assert np.isnan(plcc(np.ones(5), np.arange(5.0)))


@pytest.mark.parametrize(
    "params, x",
    [
        ((2.0, 1.5, 2.3, 0.1, 3.0), np.linspace(-3, 7, 300)),
        ((-4.0, 0.8, 1.0, -0.05, 50.0), np.linspace(-5, 5, 200)),  # decreasing
        ((30.0, 0.0015, 52300.0, 1e-4, 3.0), np.linspace(47000, 57000, 300)),  # LPIPS-like raw scale
    ],
)
def test_logistic_fit_recovers_known_parameters(params: tuple[float, ...], x: np.ndarray) -> None:
    fit = fit_logistic(x, logistic5(x, *params))
    assert fit.kind == "logistic" and fit.status.startswith("ok")
    np.testing.assert_allclose(fit.params, params, rtol=1e-3, atol=1e-9)
    assert fit.maxfev > 0 and len(fit.start) == 5


def test_logistic_start_values_are_data_driven() -> None:
    x = np.linspace(0, 10, 50)
    y = -3 * x + 7
    fit = fit_logistic(x, y)
    b1, b2, b3, b4, b5 = fit.start
    assert b1 == pytest.approx(-np.ptp(y)) and b2 == pytest.approx(1 / x.std())
    assert b3 == pytest.approx(x.mean()) and b4 == 0 and b5 == pytest.approx(y.mean())
    np.testing.assert_allclose(fit.predict(x), y, atol=1e-6)


def test_failed_fit_falls_back_to_a_line_and_says_so() -> None:
    x = np.linspace(0, 1, 40)
    y = np.sin(25 * x) + x
    fit = fit_logistic(x, y, maxfev=3)
    assert fit.kind == "linear" and "linear fallback" in fit.status and "maxfev=3" in fit.status
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(fit.params, (slope, intercept))
    few = fit_logistic(np.arange(4.0), np.array([1.0, 3.0, 2.0, 5.0]))
    assert few.kind == "linear" and "too few" in few.status
    assert fit_logistic(np.ones(10), np.arange(10.0)).kind == "constant"


def test_evaluate_orients_signs_and_keeps_every_sample(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    same = evaluate(x, y, n_boot=200)
    flipped = evaluate(-x, y, metric_lower_better=True, n_boot=200)  # a distance against a MOS
    assert same.n == flipped.n == len(x)
    assert same.srcc > 0.8 and flipped.srcc == pytest.approx(same.srcc)
    assert flipped.krcc == pytest.approx(same.krcc) and flipped.raw_plcc == pytest.approx(same.raw_plcc)
    assert flipped.plcc == pytest.approx(same.plcc, abs=1e-6)
    assert same.srcc_ci[0] < same.srcc < same.srcc_ci[1] and same.plcc_ci[0] < same.plcc < same.plcc_ci[1]
    dmos = evaluate(x, -y, subjective_lower_better=True, n_boot=0)  # a similarity against a DMOS
    assert dmos.srcc == pytest.approx(same.srcc) and np.isnan(dmos.srcc_ci[0])


def test_evaluate_infinite_scores_keep_their_rank() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.inf])
    y = np.arange(7.0)
    result = evaluate(x, y, n_boot=50)
    assert result.srcc == pytest.approx(1.0) and result.n_infinite == 1 and "clipped" in result.fit_status
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.array([1.0, np.nan, 3.0]), np.arange(3.0))


def test_resampled_ranks_equal_scipy_rankdata() -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=60), 1)
    index = rng.integers(0, 60, size=(20, 60))
    dense, k = _dense_ranks(values)
    np.testing.assert_allclose(_resampled_ranks(dense, k, index), stats.rankdata(values[index], axis=1))


def test_bootstrap_ci_is_seeded_and_covers(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    one = bootstrap_ci(x, y, n_boot=300, seed=3)
    assert one == bootstrap_ci(x, y, n_boot=300, seed=3)
    assert one != bootstrap_ci(x, y, n_boot=300, seed=4)
    low, high = one["srcc"]
    assert low < srcc(x, y) < high and high - low < 0.1


def test_paired_test_detects_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=500)
    good, bad = truth + 0.3 * rng.normal(size=500), truth + 1.5 * rng.normal(size=500)
    y = truth + 0.1 * rng.normal(size=500)
    result = paired_test(good, bad, y, n_boot=500)
    assert result.delta > 0 and result.ci[0] > 0 and result.p_bootstrap < 0.01 and result.p_williams < 0.01
    assert result.srcc_a == pytest.approx(srcc(good, y))
    same = paired_test(good, -good, y, sign_b=-1.0, n_boot=200)  # the same ranking, flipped direction
    assert same.delta == pytest.approx(0.0, abs=1e-12) and same.p_bootstrap == 1.0


def test_williams_test_known_value() -> None:
    # Steiger (1980) style check: equal correlations give t = 0; the formula's value by hand
    assert williams_test(0.5, 0.5, 0.3, 100) == (0.0, 1.0)
    r12, r13, r23, n = 0.7, 0.5, 0.4, 103
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    t_hand = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / (2 * (n - 1) / (n - 3) * det + 0.36 * (1 - r23) ** 3))
    t, p = williams_test(r12, r13, r23, n)
    assert t == pytest.approx(t_hand) and p == pytest.approx(2 * stats.t.sf(t_hand, n - 3))

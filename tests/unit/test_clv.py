"""Predicted CLV: CDNOW reproduction, weighted fitting, edge cases, file entry point, backtest."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.optimize import check_grad
from scipy.special import beta as beta_fn

from pipelines.lib.ltv import (
    InsufficientDataError,
    backtest,
    bgnbd,
    fit_clv,
    fit_transactions_file,
    gamma_gamma,
    pareto_nbd,
    predict,
    summarize,
)
from pipelines.lib.ltv.base import compress_rows
from pipelines.lib.ltv.model import discounted_purchases, expected_purchases
from pipelines.lib.ltv.simulate import simulate_bgnbd_summary, simulate_transactions

CDNOW = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow" / "cdnow_sample.csv"
CALIBRATION_END = dt.date(1997, 9, 30)
HOLDOUT_END = dt.date(1998, 6, 30)
CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
CDNOW_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


def sig3(value: float) -> float:
    """``value`` rounded to 3 significant figures."""
    return round(value, 2 - math.floor(math.log10(abs(value))))


@pytest.fixture(scope="module")
def cdnow_tx() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow(cdnow_tx: pd.DataFrame) -> pd.DataFrame:
    return summarize(cdnow_tx, "customer_id", "date", "amount", CALIBRATION_END, "week")


@pytest.fixture(scope="module")
def cdnow_fit(cdnow: pd.DataFrame):
    return fit_clv(cdnow)


# ------------------------------------------------------------------ CDNOW reproduction


def test_cdnow_summary(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 2357
    assert (cdnow["frequency"] > 0).sum() == 946
    first = cdnow.set_index("customer_id").loc[1]
    # customer 1: 1997-01-01, 01-18, 08-02 in calibration, 12-12 in the holdout
    assert first["frequency"] == 2
    assert first["recency"] == pytest.approx(213 / 7)
    assert first["T"] == pytest.approx(272 / 7)
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)


def test_cdnow_bgnbd_matches_published(cdnow_fit) -> None:
    fit = cdnow_fit.purchase
    assert fit.converged, fit.message
    for name, published in CDNOW_BGNBD.items():
        assert sig3(fit.params[name]) == sig3(published), name
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert fit.n_customers == 2357


def test_cdnow_gamma_gamma_matches_published(cdnow_fit) -> None:
    fit = cdnow_fit.spend
    assert fit.converged, fit.message
    for name, published in CDNOW_GG.items():
        assert sig3(fit.params[name]) == sig3(published), name
    assert fit.n_customers == 946


def test_cdnow_pareto_nbd_matches_published(cdnow: pd.DataFrame) -> None:
    fit = pareto_nbd.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert fit.converged, fit.message
    for name, published in CDNOW_PARETO.items():
        assert sig3(fit.params[name]) == sig3(published), name
    assert fit.log_likelihood == pytest.approx(-9595.0, abs=0.1)


def test_cdnow_conditional_expectation_matches_paper() -> None:
    # FHL 2005: a customer with x = 2, t_x = 30.43, T = 38.86 makes 1.226 purchases in 39 weeks
    value = bgnbd.conditional_expected_purchases(CDNOW_BGNBD, 39, 2, 30.43, 38.86)
    assert float(value) == pytest.approx(1.226, abs=5e-4)


def test_cdnow_holdout_backtest(cdnow_tx: pd.DataFrame) -> None:
    result = backtest(cdnow_tx, "customer_id", "date", "amount", CALIBRATION_END, HOLDOUT_END)
    assert result.actual_purchases == 1882
    assert result.holdout_days == 273
    assert abs(result.relative_error) < 0.2  # CDNOW's Christmas 1997 lies in the holdout
    assert list(result.deciles["decile"]) == list(range(1, 11))
    assert result.deciles["n_customers"].sum() == 2357


# ------------------------------------------------------------------ likelihood machinery


def test_weighted_unique_fit_equals_all_rows_fit(cdnow: pd.DataFrame) -> None:
    cols = [cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    unique = bgnbd.fit(*cols)
    all_rows = bgnbd.fit(*cols, compress=False)
    assert unique.n_rows_evaluated < all_rows.n_rows_evaluated == 2357
    packed = compress_rows(*cols)
    external = bgnbd.fit(*packed.columns, weights=packed.weights, compress=False)
    for name in bgnbd.PARAM_NAMES:
        assert unique.params[name] == pytest.approx(all_rows.params[name], rel=1e-6)
        assert external.params[name] == pytest.approx(all_rows.params[name], rel=1e-6)
    assert unique.log_likelihood == pytest.approx(all_rows.log_likelihood, abs=1e-6)

    x, m = cdnow["monetary_count"], cdnow["monetary_value"]
    gg_unique, gg_all = gamma_gamma.fit(x, m), gamma_gamma.fit(x, m, compress=False)
    for name in gamma_gamma.PARAM_NAMES:
        assert gg_unique.params[name] == pytest.approx(gg_all.params[name], rel=1e-6)


def test_objective_value_and_gradient_are_exact(cdnow: pd.DataFrame) -> None:
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    objective = bgnbd._Objective(x, t_x, T, np.ones(len(x)))
    for point in ([0.3, 4.0, 0.8, 2.4], [2.0, 0.5, 3.0, 0.2]):
        log_point = np.log(point)
        params = dict(zip(bgnbd.PARAM_NAMES, point, strict=True))
        direct = bgnbd.log_likelihood(params, x, t_x, T).sum()
        assert -objective(log_point)[0] * len(x) == pytest.approx(direct, rel=1e-12)
        error = check_grad(lambda v: objective(v)[0], lambda v: objective(v)[1], log_point)
        assert error < 1e-5

    repeat = x > 0
    m = cdnow["monetary_value"].to_numpy(float)[repeat]
    gg = gamma_gamma._Objective(x[repeat], m, np.ones(repeat.sum()))
    log_point = np.log([2.0, 3.0, 10.0])
    direct = gamma_gamma.log_likelihood(
        dict(zip(gamma_gamma.PARAM_NAMES, np.exp(log_point), strict=True)), x[repeat], m
    ).sum()
    assert -gg(log_point)[0] * repeat.sum() == pytest.approx(direct, rel=1e-12)
    assert check_grad(lambda v: gg(v)[0], lambda v: gg(v)[1], log_point) < 1e-5


def _eq10_by_quadrature(p: dict[str, float], t: float, x: int, t_x: float, T: float) -> float:
    """Eq. (10) in its original form, ₂F₁ by Euler's integral (needs a+b−1 > r)."""
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    z = t / (alpha + T + t)
    big_a, big_b, big_c = b + x, r + x, a + b + x - 1

    def integrand(u: float) -> float:
        return u ** (big_b - 1) * (1 - u) ** (big_c - big_b - 1) * (1 - z * u) ** (-big_a)

    f21 = quad(integrand, 0, 1, limit=200)[0] / beta_fn(big_b, big_c - big_b)
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * f21
    odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return (a + b + x - 1) / (a - 1) * bracket / (1 + odds)


@pytest.mark.parametrize("params", [CDNOW_BGNBD, {"r": 0.5, "alpha": 6.0, "a": 1.7, "b": 3.0}])
@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"), [(0, 0, 38.9, 52), (2, 30.4, 38.9, 13), (9, 50, 52, 52)]
)
def test_conditional_expectation_pfaff_rewrite(params, x, t_x, T, t) -> None:
    ours = float(bgnbd.conditional_expected_purchases(params, t, x, t_x, T))
    assert ours == pytest.approx(_eq10_by_quadrature(params, t, x, t_x, T), rel=1e-7)


def test_conditional_expectation_finite_for_huge_a_b_at_acquisition_day() -> None:
    """Regression: a fit with a, b ~ 1e5..1e6 (seen on a 200-day generated zone) made SciPy's
    ₂F₁ return NaN for members acquired on the calibration day (T = 0, t > α), and the
    backtest's decile cast crashed the LTV asset."""
    params = {"r": 0.5781743602566904, "alpha": 44.457324395985786,
              "a": 90818.50930899194, "b": 919008.0280101746}
    got = bgnbd.conditional_expected_purchases(params, 90, np.array([0, 0, 3]),
                                               np.array([0.0, 0.0, 20.0]), np.array([0.0, 1.0, 30.0]))
    assert np.isfinite(got).all()
    # continuous in T across the switch between the two sides of Pfaff's identity
    assert got[1] < got[0] < got[1] * 1.05  # one day older: slightly fewer expected
    # the fallback side (T < t − α) meets SciPy's direct side (T > t − α) continuously
    edge = 90 - params["alpha"]
    below, above = bgnbd.conditional_expected_purchases(
        params, 90, np.array([0, 0]), np.array([0.0, 0.0]), np.array([edge - 1e-3, edge + 1e-3]))
    assert below == pytest.approx(above, rel=1e-4)
    assert np.isfinite(bgnbd.expected_purchases(params, np.array([30.0, 90.0, 365.0]))).all()


#: the fit of `make demo`'s zone (generator v5, 5,000 x 120 days, seed 42)
DEMO_BGNBD = {"r": 0.6051992367833279, "alpha": 6.41246756804717, "a": 4.703252839856894,
              "b": 41.580907172519645}


@pytest.mark.parametrize(("x", "t_x", "T"), [(40, 0.45, 0.5), (20, 1.8, 2.0), (10, 4.0, 5.0),
                                             (1, 0.4, 0.5)])
def test_conditional_expectation_of_heavy_recent_buyers(x, t_x, T) -> None:
    """Regression: SciPy's ₂F₁ outside the unit disc lost every digit for heavy buyers with a
    short history (x = 40, T = 0.5 weeks: −168,166 purchases in 365 days), so `make demo`'s
    blocking GX check on member_ltv failed on negative predicted CLV. Against eq. (10) by
    quadrature, for 90, 180 and 365 days; more days, more purchases."""
    got = [float(bgnbd.conditional_expected_purchases(DEMO_BGNBD, d / 7, x, t_x, T))
           for d in (90, 180, 365)]
    for d, value in zip((90, 180, 365), got, strict=True):
        assert value == pytest.approx(_eq10_by_quadrature(DEMO_BGNBD, d / 7, x, t_x, T),
                                      rel=1e-6)
    assert 0 < got[0] < got[1] < got[2]


def test_conditional_expectation_continuous_at_a_equal_one() -> None:
    near = {**CDNOW_BGNBD, "a": 1.0 + 1e-4}
    exact = {**CDNOW_BGNBD, "a": 1.0}
    args = (52, np.array([0, 3]), np.array([0, 20.0]), np.array([30.0, 30.0]))
    np.testing.assert_allclose(
        bgnbd.conditional_expected_purchases(exact, *args),
        bgnbd.conditional_expected_purchases(near, *args),
        rtol=1e-3,
    )


# ------------------------------------------------------------------ summary step


def test_summary_counts_customer_days_and_excludes_first_purchase() -> None:
    tx = pd.DataFrame(
        {
            "member": ["A", "A", "A", "A", "B", "C", "C", "D"],
            "ts": [
                "2024-01-01 09:00",
                "2024-01-01 18:00",  # same day: one purchase of 30 + 20
                "2024-01-15 10:00",
                "2024-02-10 10:00",  # after calibration_end: holdout
                "2024-01-20",
                "2024-01-03",
                "2024-01-10",  # zero-value repeat day: counted, excluded from spend
                "2024-02-01",  # first purchase after calibration_end: not a customer yet
            ],
            "amount": [30.0, 20.0, 40.0, 99.0, 10.0, 5.0, 0.0, 7.0],
        }
    )
    s = summarize(tx, "member", "ts", "amount", "2024-01-31", "day", "2024-02-29")
    s = s.set_index("customer_id")
    assert sorted(s.index) == ["A", "B", "C"]
    assert s.loc["A", "frequency"] == 1
    assert s.loc["A", "recency"] == 14
    assert s.loc["A", "T"] == 30
    assert s.loc["A", "monetary_value"] == 40.0  # first day (50) excluded
    assert s.loc["A", "frequency_holdout"] == 1
    assert s.loc["A", "monetary_holdout"] == 99.0
    assert s.loc["B", "frequency"] == 0 and s.loc["B", "monetary_value"] == 0
    assert s.loc["C", "frequency"] == 1
    assert s.loc["C", "monetary_count"] == 0 and s.loc["C", "monetary_value"] == 0
    assert (s["duration_holdout"] == 29).all()

    weeks = summarize(tx, "member", "ts", "amount", "2024-01-31", "week").set_index("customer_id")
    assert weeks.loc["A", "T"] == pytest.approx(30 / 7)
    assert "frequency_holdout" not in weeks


def test_summary_of_nothing_is_empty() -> None:
    tx = pd.DataFrame({"c": ["A"], "d": ["2024-05-01"], "v": [1.0]})
    assert summarize(tx, "c", "d", "v", "2024-01-01").empty
    assert fit_clv(summarize(tx, "c", "d", "v", "2024-01-01")).fitted is False
    assert fit_clv(pd.DataFrame()).fitted is False


# ------------------------------------------------------------------ predictions


def test_predictions(cdnow: pd.DataFrame, cdnow_fit) -> None:
    out = predict(cdnow, cdnow_fit)
    assert list(out.columns) == [
        "customer_id",
        "p_alive",
        "expected_purchases_90d",
        "expected_purchases_180d",
        "expected_purchases_365d",
        "expected_spend_per_order",
        "predicted_clv_365d",
    ]
    assert len(out) == len(cdnow) and np.isfinite(out.drop(columns="customer_id")).all().all()
    one_timers = (cdnow["frequency"] == 0).to_numpy()
    assert (out.loc[one_timers, "p_alive"] == 1).all()  # BG/NBD: no dropout before a repeat
    population_mean = gamma_gamma.population_mean_spend(cdnow_fit.spend.params)
    assert np.allclose(out.loc[one_timers, "expected_spend_per_order"], population_mean)
    assert (out["expected_purchases_90d"] <= out["expected_purchases_180d"]).all()
    assert (out["expected_purchases_180d"] <= out["expected_purchases_365d"]).all()
    np.testing.assert_allclose(
        out["predicted_clv_365d"], out["expected_purchases_365d"] * out["expected_spend_per_order"]
    )
    # 365 days = 52.14 weeks, as eq. (10) directly
    row = cdnow.index[cdnow["customer_id"] == 1][0]
    direct = bgnbd.conditional_expected_purchases(
        cdnow_fit.purchase.params, 365 / 7, 2, 213 / 7, 272 / 7
    )
    assert out.loc[row, "expected_purchases_365d"] == pytest.approx(float(direct))


def test_discounting(cdnow: pd.DataFrame, cdnow_fit) -> None:
    plain = predict(cdnow, cdnow_fit)
    discounted = predict(cdnow, cdnow_fit, discount_rate=0.10)
    ratio = discounted["predicted_clv_365d"] / plain["predicted_clv_365d"]
    assert ((ratio < 1) & (ratio > 1 / 1.1)).all()
    # the monthly-midpoint approximation against a daily grid
    args = (np.array([0, 2, 10]), np.array([0, 30.43, 35.0]), np.array([38.86] * 3))
    daily = np.zeros(3)
    previous = np.zeros(3)
    for day in range(1, 366):
        current = expected_purchases(cdnow_fit, day, *args)
        daily += (current - previous) * 1.1 ** (-(day - 0.5) / 365)
        previous = current
    monthly = discounted_purchases(cdnow_fit, 365, 0.10, *args)
    np.testing.assert_allclose(monthly, daily, rtol=1e-4)


def test_pareto_nbd_option(cdnow: pd.DataFrame) -> None:
    fit = fit_clv(cdnow, purchase_model="pareto_nbd")
    out = predict(cdnow, fit)
    assert fit.fitted and fit.to_dict()["pareto_nbd"]["converged"]
    assert ((out["p_alive"] > 0) & (out["p_alive"] <= 1)).all()
    # Pareto/NBD lets one-time buyers die too
    assert (out.loc[cdnow["frequency"] == 0, "p_alive"] < 1).all()
    s_one = {**fit.purchase.params, "s": 1.0}
    s_near = {**fit.purchase.params, "s": 1.0 + 1e-7}
    assert float(pareto_nbd.conditional_expected_purchases(s_one, 39, 2, 30, 38)) == pytest.approx(
        float(pareto_nbd.conditional_expected_purchases(s_near, 39, 2, 30, 38)), rel=1e-6
    )


# ------------------------------------------------------------------ robustness


def test_population_too_small() -> None:
    with pytest.raises(InsufficientDataError):
        bgnbd.fit([0, 1, 2], [0, 1, 2], [5, 5, 5])
    with pytest.raises(InsufficientDataError):
        gamma_gamma.fit([1, 2], [10.0, 20.0])
    tiny = pd.DataFrame(
        {
            "customer_id": range(5),
            "frequency": [0, 1, 0, 2, 0],
            "recency": [0, 3, 0, 4, 0],
            "T": [5.0] * 5,
            "monetary_value": [0, 10, 0, 12, 0],
            "monetary_count": [0, 1, 0, 2, 0],
        }
    )
    fit = fit_clv(tiny)
    assert fit.fitted is False and "at least" in fit.warning
    json.dumps(fit.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="unfitted"):
        predict(tiny, fit)


def test_zero_spend_is_excluded_from_gamma_gamma(cdnow: pd.DataFrame) -> None:
    reference = gamma_gamma.fit(cdnow["monetary_count"], cdnow["monetary_value"])
    extra = pd.DataFrame({"monetary_count": [3] * 50, "monetary_value": [0.0] * 50})
    padded = pd.concat([cdnow[["monetary_count", "monetary_value"]], extra])
    fit = gamma_gamma.fit(padded["monetary_count"], padded["monetary_value"])
    assert fit.params == reference.params
    with pytest.raises(InsufficientDataError, match="variation"):
        gamma_gamma.fit([1] * 20, [10.0] * 20)


def test_non_convergence_is_reported() -> None:
    # everybody bought on the last day: nobody ever drops out, the MLE of p is 0
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10, 200)
    summary = pd.DataFrame(
        {
            "customer_id": range(200),
            "frequency": x,
            "recency": 30.0,
            "T": 30.0,
            "monetary_value": rng.gamma(5, 5, 200),
            "monetary_count": x,
        }
    )
    fit = fit_clv(summary)
    assert fit.fitted and not fit.converged
    assert not fit.purchase.converged and "bound" in fit.purchase.message
    assert "bgnbd" in fit.warning


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="recency"):
        bgnbd.fit([1] * 40, [5] * 40, [4] * 40)
    with pytest.raises(ValueError, match="NaN"):
        bgnbd.fit([1, np.nan] * 20, [1] * 40, [4] * 40)
    with pytest.raises(ValueError, match="period"):
        fit_clv(pd.DataFrame(), period="month")


# ------------------------------------------------------------------ simulated data


def test_recovers_simulated_parameters() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 3.0}
    rng = np.random.default_rng(2024)
    s = simulate_bgnbd_summary(20_000, truth, rng.uniform(20, 52, 20_000), rng)
    fit = bgnbd.fit(s["frequency"], s["recency"], s["T"])
    assert fit.converged
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.1), name

    spend_truth = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    n = 20_000
    x = rng.integers(1, 8, n)
    nu = rng.gamma(spend_truth["q"], 1 / spend_truth["gamma"], n)
    m = rng.gamma(spend_truth["p"] * x, 1.0) / (nu * x)  # mean of x Gamma(p, ν) draws
    gg = gamma_gamma.fit(x, m)
    for name, value in spend_truth.items():
        assert gg.params[name] == pytest.approx(value, rel=0.1), name


def test_backtest_on_simulated_transactions() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 3.0}
    spend = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    rng = np.random.default_rng(7)
    tx = simulate_transactions(
        10_000, truth, spend, "2023-01-01", "2024-06-30", rng, acquisition_end="2023-06-30"
    )
    result = backtest(tx, "customer_id", "date", "amount", "2023-12-31", "2024-06-30")
    assert abs(result.relative_error) < 0.1
    assert abs(result.value_relative_error) < 0.15
    deciles = result.deciles
    assert (deciles["purchases_relative_error"].abs() < 0.3).all()
    # the ranking carries information: top decile buys far more than the bottom one
    assert deciles["actual_purchases"].iloc[0] > 5 * deciles["actual_purchases"].iloc[-1]


# ------------------------------------------------------------------ file entry point


def test_fit_transactions_file_on_cdnow() -> None:
    result = fit_transactions_file(CDNOW, "customer_id", "date", "amount", CALIBRATION_END)
    json.dumps(result, allow_nan=False)
    assert result["fitted"] and result["converged"]
    assert result["n_customers"] == 2357 and result["n_repeat_customers"] == 946
    assert result["calibration_start"] == "1997-01-01"
    assert result["calibration_end"] == "1997-09-30"
    assert result["period"] == "week"
    assert sig3(result["bgnbd"]["r"]) == 0.243
    assert result["bgnbd"]["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert {"r", "alpha", "a", "b", "log_likelihood", "converged"} <= set(result["bgnbd"])
    assert {"p", "q", "gamma", "log_likelihood"} <= set(result["gamma_gamma"])
    assert sig3(result["gamma_gamma"]["gamma"]) == 15.4


def test_fit_transactions_file_parquet(tmp_path: Path, cdnow_tx: pd.DataFrame) -> None:
    path = tmp_path / "tx.parquet"
    frame = cdnow_tx.assign(date=pd.to_datetime(cdnow_tx["date"]))
    frame.to_parquet(path)
    result = fit_transactions_file(path, "customer_id", "date", "amount", CALIBRATION_END)
    assert result["bgnbd"]["r"] == pytest.approx(0.24259, rel=1e-4)


def test_fit_transactions_file_bad_input(tmp_path: Path) -> None:
    good = "member,day,paid\nA,2024-01-01,10\nA,2024-01-05,12\n"
    path = tmp_path / "tx.csv"
    path.write_text(good)
    with pytest.raises(ValueError, match=r"tx\.csv: line 1.*'amount'"):
        fit_transactions_file(path, "member", "day", "amount", dt.date(2024, 1, 31))
    path.write_text(good + "B,2024-13-45,3\n")
    with pytest.raises(ValueError, match=r"tx\.csv: line 4, column 'day'.*2024-13-45"):
        fit_transactions_file(path, "member", "day", "paid", dt.date(2024, 1, 31))
    path.write_text(good + "B,2024-01-02,abc\n")
    with pytest.raises(ValueError, match=r"tx\.csv: line 4, column 'paid'"):
        fit_transactions_file(path, "member", "day", "paid", dt.date(2024, 1, 31))
    path.write_text(good + ",2024-01-02,3\n")
    with pytest.raises(ValueError, match=r"tx\.csv: line 4, column 'member'"):
        fit_transactions_file(path, "member", "day", "paid", dt.date(2024, 1, 31))
    path.write_text(good)
    small = fit_transactions_file(path, "member", "day", "paid", dt.date(2024, 1, 31))
    assert small["fitted"] is False and small["bgnbd"] is None and small["warning"]
    json.dumps(small, allow_nan=False)

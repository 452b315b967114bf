"""Calibration/holdout backtest: fit on history up to a date, predict the next window, compare.

This is the papers' own validation (FHL 2005, §4: fit on weeks 1–39, compare with 40–78), with
the comparison broken down by decile of predicted value so that a model that gets the total
right by averaging over- and under-predictions is still caught.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.lib.ltv import gamma_gamma
from pipelines.lib.ltv.base import InsufficientDataError
from pipelines.lib.ltv.model import ClvFit, expected_purchases, fit_clv
from pipelines.lib.ltv.summary import summarize, to_day


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Holdout totals and the per-decile table (decile 1 = highest predicted value)."""

    fit: ClvFit
    holdout_days: int
    n_customers: int
    predicted_purchases: float
    actual_purchases: int
    relative_error: float
    predicted_value: float
    actual_value: float
    value_relative_error: float
    deciles: pd.DataFrame


def _relative(predicted: float, actual: float) -> float:
    return (predicted - actual) / actual if actual else float("nan")


def backtest(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str,
    calibration_end: dt.date | str,
    holdout_end: dt.date | str,
    period: str = "week",
    purchase_model: str = "bgnbd",
    n_bins: int = 10,
) -> BacktestResult:
    """Fit on transactions up to ``calibration_end``, predict (calibration_end, holdout_end].

    Purchases are repeat customer-days of customers acquired by ``calibration_end`` (the ones
    the model speaks about); value is their total spend in the holdout. Predicted value is
    expected purchases × Gamma-Gamma expected spend per order. Relative errors are
    (predicted − actual) / actual. Raises `InsufficientDataError` when the fit is impossible.
    """
    summary = summarize(
        transactions, customer_col, date_col, value_col, calibration_end, period, holdout_end
    )
    fit = fit_clv(summary, period, purchase_model)
    if not fit.fitted or fit.spend is None:
        raise InsufficientDataError(f"backtest: model not fitted: {fit.warning}")
    holdout_days = to_day(holdout_end) - to_day(calibration_end)
    x, t_x, t_cal = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    purchases = expected_purchases(fit, holdout_days, x, t_x, t_cal)
    spend = gamma_gamma.conditional_expected_spend(
        fit.spend.params, summary["monetary_count"], summary["monetary_value"]
    )
    frame = pd.DataFrame(
        {
            "predicted_purchases": purchases,
            "actual_purchases": summary["frequency_holdout"].to_numpy(),
            "predicted_value": purchases * spend,
            "actual_value": summary["monetary_holdout"].to_numpy(),
        }
    )
    bins = min(n_bins, len(frame))
    rank = frame["predicted_value"].rank(method="first", ascending=False)
    frame["decile"] = np.ceil(rank * bins / len(frame)).astype(int)
    deciles = frame.groupby("decile").agg(
        n_customers=("actual_purchases", "size"),
        predicted_purchases=("predicted_purchases", "sum"),
        actual_purchases=("actual_purchases", "sum"),
        predicted_value=("predicted_value", "sum"),
        actual_value=("actual_value", "sum"),
    )
    deciles["purchases_relative_error"] = [
        _relative(p, a)
        for p, a in zip(deciles["predicted_purchases"], deciles["actual_purchases"], strict=True)
    ]
    deciles["value_relative_error"] = [
        _relative(p, a)
        for p, a in zip(deciles["predicted_value"], deciles["actual_value"], strict=True)
    ]
    predicted = float(frame["predicted_purchases"].sum())
    actual = int(frame["actual_purchases"].sum())
    predicted_value = float(frame["predicted_value"].sum())
    actual_value = float(frame["actual_value"].sum())
    return BacktestResult(
        fit=fit,
        holdout_days=holdout_days,
        n_customers=len(frame),
        predicted_purchases=predicted,
        actual_purchases=actual,
        relative_error=_relative(predicted, actual),
        predicted_value=predicted_value,
        actual_value=actual_value,
        value_relative_error=_relative(predicted_value, actual_value),
        deciles=deciles.reset_index(),
    )

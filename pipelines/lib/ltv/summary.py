"""From a transaction log to the per-customer sufficient statistics the models need.

Conventions (those of the BG/NBD and Gamma-Gamma papers, and of their CDNOW example):

* A *purchase* is a customer-day: several transactions on one day are one purchase, with the
  day's total as its value. This is what makes the CDNOW fit reproduce the published numbers.
* ``frequency`` (x) counts *repeat* purchases in the calibration period — the first purchase
  only starts the customer's clock. ``recency`` (t_x) is the time from the first to the last
  purchase; ``T`` from the first purchase to the end of the calibration period (inclusive day).
* ``monetary_value`` is the mean value of the repeat purchases with a positive value, and
  ``monetary_count`` how many there were. The first purchase is excluded, as in Fader, Hardie &
  Lee (2005, "RFM and CLV"), because it is often atypical (welcome offers); zero- or negative-
  value days (free gifts, net refunds) are excluded because the Gamma-Gamma model describes
  positive amounts only. Both are 0 when there is no such purchase.
* Customers whose first purchase is after ``calibration_end`` are not in the summary.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import numpy as np
import pandas as pd

PERIOD_DAYS: Final[dict[str, float]] = {"day": 1.0, "week": 7.0}

SUMMARY_COLUMNS: Final = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "monetary_count",
)
HOLDOUT_COLUMNS: Final = ("frequency_holdout", "monetary_holdout", "duration_holdout")


def period_days(period: str) -> float:
    """Length of one model time unit in days."""
    try:
        return PERIOD_DAYS[period]
    except KeyError:
        raise ValueError(f"period must be one of {sorted(PERIOD_DAYS)}, not {period!r}") from None


def to_day(value: dt.date | dt.datetime | str | pd.Timestamp) -> int:
    """A date-like value as whole days since 1970-01-01 (time of day and tz dropped)."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return int(np.datetime64(stamp.normalize(), "D").astype(np.int64))


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Whole days since the epoch for a column of dates (ISO 8601 strings, dates or datetimes).

    Time zones are dropped keeping the local wall-clock date: a member who bought at 23:30 in
    Shanghai bought on that Shanghai day.
    """
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates, format="ISO8601")
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)
    if dates.isna().any():
        raise ValueError("dates contain missing values")
    return dates.to_numpy().astype("datetime64[D]").astype(np.int64)


def _empty_summary(with_holdout: bool) -> pd.DataFrame:
    columns = list(SUMMARY_COLUMNS) + (list(HOLDOUT_COLUMNS) if with_holdout else [])
    frame = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    return frame.astype({"frequency": np.int64, "monetary_count": np.int64})


def summarize(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str | None,
    calibration_end: dt.date | str,
    period: str = "week",
    observation_end: dt.date | str | None = None,
) -> pd.DataFrame:
    """Per-customer (frequency, recency, T, monetary_value) at ``calibration_end``.

    Returns one row per customer with columns `SUMMARY_COLUMNS`; with ``observation_end`` also
    ``frequency_holdout`` (purchases = customer-days in (calibration_end, observation_end]),
    ``monetary_holdout`` (their total value) and ``duration_holdout`` (length of that window in
    periods). Times are in ``period`` units ("week" = 7 days, "day").

    Vectorised: one hash factorisation of the customer ids, one sort of (customer, day) keys and
    segment reductions — no Python-level loop over customers.
    """
    unit = period_days(period)
    cal_day = to_day(calibration_end)
    obs_day = cal_day if observation_end is None else to_day(observation_end)
    if obs_day < cal_day:
        raise ValueError("observation_end must not be before calibration_end")
    with_holdout = observation_end is not None
    missing = [c for c in (customer_col, date_col, value_col) if c and c not in transactions]
    if missing:
        raise ValueError(f"transactions have no column(s) {missing}")

    customers = transactions[customer_col]
    if customers.isna().any():
        raise ValueError(f"{customer_col} contains missing values")
    days = day_numbers(transactions[date_col])
    if value_col is None:
        values = np.zeros(len(days))
    else:
        values = pd.to_numeric(transactions[value_col]).to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{value_col} contains missing or non-numeric values")

    keep = days <= obs_day
    codes, uniques = pd.factorize(customers.to_numpy()[keep])
    days, values = days[keep], values[keep]
    if len(days) == 0:
        return _empty_summary(with_holdout)

    # one row per customer-day, sorted by customer then day
    d_min = int(days.min())
    span = int(days.max()) - d_min + 1
    key = codes.astype(np.int64) * span + (days - d_min)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    day_key = key_sorted[starts]
    day_value = np.add.reduceat(values[order], starts)
    day_customer = day_key // span
    day = day_key % span + d_min

    calib = day <= cal_day
    c_customer, c_day, c_value = day_customer[calib], day[calib], day_value[calib]
    if len(c_day) == 0:
        return _empty_summary(with_holdout)
    seg = np.flatnonzero(np.r_[True, c_customer[1:] != c_customer[:-1]])
    seg_end = np.r_[seg[1:], len(c_day)] - 1
    first, last = c_day[seg], c_day[seg_end]
    repeat = np.ones(len(c_day), dtype=bool)
    repeat[seg] = False
    positive_repeat = repeat & (c_value > 0)
    monetary_count = np.add.reduceat(positive_repeat.astype(np.int64), seg)
    monetary_sum = np.add.reduceat(np.where(positive_repeat, c_value, 0.0), seg)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(monetary_count > 0, monetary_sum / np.maximum(monetary_count, 1), 0.0)

    seg_customer = c_customer[seg]
    summary = pd.DataFrame(
        {
            "customer_id": uniques[seg_customer],
            "frequency": (seg_end - seg).astype(np.int64),
            "recency": (last - first) / unit,
            "T": (cal_day - first) / unit,
            "monetary_value": monetary,
            "monetary_count": monetary_count,
        }
    )
    if with_holdout:
        hold = ~calib
        n_codes = len(uniques)
        counts = np.bincount(day_customer[hold], minlength=n_codes)
        spend = np.bincount(day_customer[hold], weights=day_value[hold], minlength=n_codes)
        summary["frequency_holdout"] = counts[seg_customer].astype(np.int64)
        summary["monetary_holdout"] = spend[seg_customer]
        summary["duration_holdout"] = (obs_day - cal_day) / unit
    return summary

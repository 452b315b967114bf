"""Derived datasets for distributional mart checks (the GX suite then runs on their rows).

GX validates rows; "today's order count within a band of the trailing 28-day median" is a
property of a day, not of an order. A profile turns a mart into one row per evaluated day with
the ratios the suite bounds. Ratios are NULL (and therefore pass) while there is too little
history to judge, with the thresholds coming from the suite's `profile` block.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import duckdb
import pandas as pd

Profile = Callable[[duckdb.DuckDBPyConnection, str, date | None, dict[str, Any]], pd.DataFrame]


def daily_orders(con: duckdb.DuckDBPyConnection, relation: str, as_of: date | None,
                 params: dict[str, Any]) -> pd.DataFrame:
    """One row for `as_of` (default: last order day): orders and matched share vs trailing days.

    Trailing days are the `trailing_days` calendar days before `as_of` that had orders (a shop
    closed for a day does not drag the median down).
    """
    trailing = int(params.get("trailing_days", 28))
    min_days = int(params.get("min_trailing_days", 7))
    min_median = float(params.get("min_trailing_median_orders", 20))
    return con.execute(f"""
        WITH daily AS (
            SELECT CAST(ordered_at AS DATE) AS d, count(*) AS n,
                   avg(CASE WHEN member_id IS NOT NULL THEN 1.0 ELSE 0.0 END) AS matched
            FROM {relation} GROUP BY 1
        ), target AS (
            SELECT coalesce(CAST(? AS DATE), max(d)) AS d FROM daily
        ), trail AS (
            SELECT median(daily.n) AS med, count(*) AS days,
                   sum(daily.matched * daily.n) / sum(daily.n) AS share
            FROM daily, target
            WHERE daily.d >= target.d - CAST(? AS INTEGER) AND daily.d < target.d
        )
        SELECT target.d AS business_day, coalesce(today.n, 0) AS orders,
               trail.days AS trailing_days, trail.med AS trailing_median_orders,
               today.matched AS matched_share, trail.share AS trailing_matched_share,
               CASE WHEN trail.days >= ? AND trail.med >= ?
                    THEN coalesce(today.n, 0) / trail.med END AS orders_vs_trailing_median,
               CASE WHEN trail.days >= ? AND trail.med >= ? AND today.n > 0
                    THEN trail.share - today.matched END AS matched_share_drop
        FROM target CROSS JOIN trail LEFT JOIN daily AS today ON today.d = target.d
    """, [as_of, trailing, min_days, min_median, min_days, min_median]).df()


PROFILES: dict[str, Profile] = {"daily_orders": daily_orders}

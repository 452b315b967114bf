"""Backtest predicted LTV on a built warehouse: fit on all but the last year, predict it.

Prints the relative error of total predicted vs actual repeat purchases in the holdout
(goal: within 10 %), the same for value, and the per-decile table.

    python benchmarks/bench_clv_backtest.py --warehouse FILE [--holdout-days 365]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from pathlib import Path

from pipelines.lib.ltv import backtest
from pipelines.lib.platform.warehouse import open_connection


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--warehouse", type=Path, required=True)
    p.add_argument("--holdout-days", type=int, default=365)
    args = p.parse_args()
    con = open_connection(args.warehouse, read_only=True)
    tx = con.execute(
        "SELECT member_id, CAST(ordered_at AS DATE) AS order_date, "
        "CAST(net_amount AS DOUBLE) AS value FROM marts.fct_orders "
        "WHERE member_id IS NOT NULL AND paid_amount > 0").df()
    con.close()
    end = tx["order_date"].max()
    cal_end = end - timedelta(days=args.holdout_days)
    t0 = time.perf_counter()
    bt = backtest(tx, "member_id", "order_date", "value", calibration_end=cal_end,
                  holdout_end=end)
    print(json.dumps({
        "transactions": len(tx), "calibration_end": str(cal_end), "holdout_end": str(end),
        "customers": bt.n_customers,
        "predicted_purchases": round(bt.predicted_purchases, 1),
        "actual_purchases": bt.actual_purchases,
        "relative_error_purchases": round(bt.relative_error, 4),
        "relative_error_value": round(bt.value_relative_error, 4),
        "seconds": round(time.perf_counter() - t0, 2),
    }, indent=2))
    print(bt.deciles.to_string(index=False))


if __name__ == "__main__":
    main()

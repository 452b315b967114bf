"""CLV pipeline speed on synthetic members: summarise + fit BG/NBD + fit Gamma-Gamma + predict.

Members are drawn from the BG/NBD + Gamma-Gamma generative story with CDNOW-like parameters
(per week), acquired uniformly over ``--days`` days that end at the calibration date. The fits
run on the unique sufficient statistics with integer weights (what the library always does);
the same fits on all rows (one row per member) are timed in the same run for the ratio.

    python benchmarks/bench_clv.py --members 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from pipelines.lib.ltv import bgnbd, gamma_gamma, pareto_nbd
from pipelines.lib.ltv.model import ClvFit, predict
from pipelines.lib.ltv.simulate import simulate_transactions
from pipelines.lib.ltv.summary import summarize

T = TypeVar("T")
TRUE_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def timed(label: str, fn: Callable[[], T], timings: dict[str, float], repeat: int = 1) -> T:
    """Run ``fn`` ``repeat`` times; record and print the median wall time."""
    seconds = []
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        value = fn()
        seconds.append(time.perf_counter() - start)
    timings[label] = float(np.median(seconds))
    spread = f"  (min {min(seconds):.2f}, max {max(seconds):.2f})" if repeat > 1 else ""
    print(f"  {label:<36} {timings[label]:8.2f} s{spread}", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730, help="acquisition window in days")
    parser.add_argument("--calibration-end", default="2024-12-31")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--discount-rate", type=float, default=0.0)
    parser.add_argument(
        "--skip-all-rows", action="store_true", help="do not time the fits on all rows"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timed step (median)")
    parser.add_argument("--pareto", action="store_true", help="also time a Pareto/NBD fit")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    end = dt.date.fromisoformat(args.calibration_end)
    start = end - dt.timedelta(days=args.days - 1)
    t: dict[str, float] = {}
    print(f"{args.members:,} members acquired {start} .. {end}")
    tx = timed(
        "simulate transactions (not counted)",
        lambda: simulate_transactions(args.members, TRUE_BGNBD, TRUE_GG, start, end, rng),
        t,
    )
    print(f"  {len(tx):,} transactions")
    summary = timed(
        "summarise",
        lambda: summarize(tx, "customer_id", "date", "amount", end, "week"),
        t,
        args.repeat,
    )
    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency"].to_numpy(float)
    t_cal = summary["T"].to_numpy(float)
    m_count = summary["monetary_count"].to_numpy(float)
    m_value = summary["monetary_value"].to_numpy(float)

    purchase = timed("fit BG/NBD (unique rows)", lambda: bgnbd.fit(x, t_x, t_cal), t, args.repeat)
    spend = timed(
        "fit Gamma-Gamma (unique rows)", lambda: gamma_gamma.fit(m_count, m_value), t, args.repeat
    )
    fit = ClvFit(True, "week", purchase, spend, len(summary), int((x > 0).sum()))
    predictions = timed(
        "predict (p_alive, 90/180/365d, CLV)",
        lambda: predict(summary, fit, discount_rate=args.discount_rate),
        t,
        args.repeat,
    )
    pipeline = sum(t[k] for k in t if not k.startswith("simulate"))
    print(f"  {'total summarise+fit+fit+predict':<36} {pipeline:8.2f} s")

    result: dict[str, object] = {
        "members": len(summary),
        "transactions": len(tx),
        "unique_bgnbd_rows": purchase.n_rows_evaluated,
        "unique_gg_rows": spend.n_rows_evaluated,
        "seconds": {k: round(v, 3) for k, v in t.items()},
        "pipeline_seconds": round(pipeline, 3),
        "bgnbd": purchase.params,
        "gamma_gamma": spend.params,
        "mean_clv_365d": float(predictions["predicted_clv_365d"].mean()),
    }
    print(
        f"  unique (x, t_x, T) rows: {purchase.n_rows_evaluated:,} of {len(summary):,}; "
        f"unique (x, m_x): {spend.n_rows_evaluated:,} of {spend.n_customers:,}"
    )
    if not args.skip_all_rows:
        all_rows = timed(
            "fit BG/NBD (all rows)",
            lambda: bgnbd.fit(x, t_x, t_cal, compress=False),
            t,
            args.repeat,
        )
        gg_all = timed(
            "fit Gamma-Gamma (all rows)",
            lambda: gamma_gamma.fit(m_count, m_value, compress=False),
            t,
            args.repeat,
        )
        ratio = t["fit BG/NBD (unique rows)"] / t["fit BG/NBD (all rows)"]
        gg_ratio = t["fit Gamma-Gamma (unique rows)"] / t["fit Gamma-Gamma (all rows)"]
        drift = max(abs(all_rows.params[k] / purchase.params[k] - 1) for k in purchase.params)
        gg_drift = max(abs(gg_all.params[k] / spend.params[k] - 1) for k in spend.params)
        print(f"  BG/NBD fit time unique/all rows: {ratio:.3f} (max param rel diff {drift:.1e})")
        print(f"  Gamma-Gamma fit time unique/all rows: {gg_ratio:.3f} (max diff {gg_drift:.1e})")
        result["bgnbd_unique_over_all_rows"] = round(ratio, 4)
        result["gg_unique_over_all_rows"] = round(gg_ratio, 4)
    if args.pareto:
        pnbd = timed("fit Pareto/NBD (unique rows)", lambda: pareto_nbd.fit(x, t_x, t_cal), t)
        result["pareto_nbd"] = pnbd.params
        result["pareto_nbd_seconds"] = round(t["fit Pareto/NBD (unique rows)"], 3)

    for label, fitted, truth in (("BG/NBD", purchase, TRUE_BGNBD), ("GG", spend, TRUE_GG)):
        print(
            f"  fitted {label:<7}",
            {k: round(v, 4) for k, v in fitted.params.items()},
            "true",
            truth,
        )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()

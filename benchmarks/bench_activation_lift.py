"""The activation loop closed: does audience_lift recover a known effect? (issue 24)

    python benchmarks/bench_activation_lift.py [--members 20000] [--days 60] [--work DIR]

1. `siyu generate` a zone (no campaign) ending on a Sunday E; night D = E − 14 (a Sunday).
2. `siyu run --end D`: the warehouse evaluates the audiences as of D (its history starts
   there: everyone in an audience enters on D) and writes the outbox of D.
3. Read the outbox of D: the treated members of `--audience` are the rows of its coupon CSV.
   Map them to the generator's persons through `_truth/identifiers.csv` (each member's
   identifiers in marts.member_identities, majority person).
4. Add the campaign to the zone (generator/campaign.py): each treated person with a POS card
   buys once more with probability p (default 0.3), `--amount` yuan, on a uniform day of
   D+1..D+14 — extra files only, the generated files stay as they were (checked by hash).
5. `siyu run --start D+1 --end E`, then read audience_lift for the cohort week of D.

The TRUE effect on the treated is known exactly from the data: conversion — the share of
treated entries whose only purchases in the window are campaign orders (receipt ids with
`C`); GMV — the campaign's net amount in the window per treated entry. The check: the true
effect lies inside the 95 % interval for the campaign's audience, and 0 inside the interval of
`--null-audience` (no campaign). Prints one JSON document with sizes, estimates, intervals,
widths, the truth and the verdicts; exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from siyu_generator import generate
from siyu_generator.campaign import Campaign, add_campaign

ROOT = Path(__file__).resolve().parents[1]


def _siyu(work: Path, *args: str) -> float:
    env = {**os.environ, "SIYU_DATA_DIR": str(work / "zone"),
           "SIYU_WAREHOUSE": str(work / "wh" / "siyu.duckdb"),
           "DAGSTER_HOME": str(work / "home"), "SIYU_REPORTS_DIR": str(work / "reports"),
           "SIYU_OUTBOX_DIR": str(work / "outbox")}
    (work / "home").mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"siyu run {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


def _landing_hashes(zone: Path) -> dict[str, str]:
    return {str(p.relative_to(zone)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((zone / "landing").rglob("*")) if p.is_file()}


def _persons_of(con: duckdb.DuckDBPyConnection, zone: Path, members: list[str]) -> dict[str, str]:
    con.execute("CREATE TEMP TABLE truth AS SELECT * FROM read_csv(?, header=true, all_varchar=true)",
                [str(zone / "_truth" / "identifiers.csv")])
    con.execute("CREATE TEMP TABLE treated (member_id VARCHAR)")
    con.executemany("INSERT INTO treated VALUES (?)", [(m,) for m in members])
    rows = con.execute("""
        SELECT member_id, arg_max(person_id, n) FROM (
            SELECT i.member_id, t.person_id, count(*) AS n
            FROM marts.member_identities i JOIN treated USING (member_id)
            JOIN truth t ON t.id_type = i.id_type AND t.id_value = i.id_value
            GROUP BY 1, 2) GROUP BY 1""").fetchall()
    return dict(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=20000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--seed", type=int, default=2424)
    p.add_argument("--end-date", default="2026-06-28", help="a Sunday")
    p.add_argument("--audience", default="first_purchase_14d")
    p.add_argument("--null-audience", default="birthday_this_month")
    p.add_argument("--p-extra", type=float, default=0.3)
    p.add_argument("--amount", type=float, default=100.0)
    p.add_argument("--work", default="/tmp/siyu-bench-activation")
    a = p.parse_args()
    end = date.fromisoformat(a.end_date)
    if end.weekday() != 6:
        raise SystemExit("--end-date must be a Sunday (the night D = end − 14 closes its week)")
    night = end - timedelta(days=14)
    work = Path(a.work)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    timings = {}
    t = time.perf_counter()
    generate(work / "zone", members=a.members, days=a.days, seed=a.seed, end_date=end)
    timings["generate_s"] = round(time.perf_counter() - t, 1)
    before = _landing_hashes(work / "zone")
    timings["run_to_night_s"] = round(_siyu(work, "--end", night.isoformat()), 1)

    coupon = work / "outbox" / night.isoformat() / f"{a.audience}.coupon.csv"
    with open(coupon, encoding="utf-8", newline="") as f:
        treated = [r["member_id"] for r in csv.DictReader(f)]
    wh = work / "wh" / "siyu.duckdb"
    with duckdb.connect(str(wh), read_only=True) as con:
        persons = _persons_of(con, work / "zone", treated)
    campaign = add_campaign(work / "zone", Campaign(
        persons=tuple(sorted(set(persons.values()))), start_date=night + timedelta(days=1),
        days=14, p_extra=a.p_extra, amount_yuan=a.amount))
    after = _landing_hashes(work / "zone")
    untouched = all(after.get(k) == v for k, v in before.items())
    added = sorted(set(after) - set(before))
    timings["run_after_s"] = round(_siyu(work, "--start", (night + timedelta(days=1)).isoformat(),
                                         "--end", end.isoformat()), 1)

    week = night - timedelta(days=6)
    with duckdb.connect(str(wh), read_only=True) as con:
        cols = [c[0] for c in con.execute("SELECT * FROM marts.audience_lift LIMIT 0").description]
        lift = {r[0]: dict(zip(cols, r, strict=True)) for r in con.execute(
            "SELECT * FROM marts.audience_lift WHERE cohort_week = ? AND audience_code IN (?, ?)",
            [week, a.audience, a.null_audience]).fetchall()}
        # the realised effect on the treated entries of the cohort
        truth = con.execute("""
            WITH e AS (
                SELECT member_id, min(entered_on) AS entered_on FROM marts.member_audience_spells
                WHERE audience_code = ? AND arm = 'treated' AND entered_on BETWEEN ? AND ?
                GROUP BY 1),
            w AS (
                SELECT e.member_id, o.net_amount, (o.channel = 'pos' AND regexp_matches(o.source_order_id, '^S[0-9]+C[0-9]{8}$')) AS campaign
                FROM e JOIN marts.fct_orders o ON o.member_id = e.member_id
                 AND o.paid_amount > 0
                 AND CAST(coalesce(o.paid_at, o.ordered_at) AS DATE) > e.entered_on
                 AND CAST(coalesce(o.paid_at, o.ordered_at) AS DATE) <= e.entered_on + 14)
            SELECT (SELECT count(*) FROM e),
                   (SELECT count(*) FROM (SELECT member_id FROM w GROUP BY 1
                                          HAVING bool_and(campaign))),
                   (SELECT coalesce(sum(net_amount), 0) FROM w WHERE campaign)
        """, [a.audience, week, night]).fetchall()[0]
    n_t, only_campaign, campaign_gmv = truth
    true_conv = only_campaign / n_t if n_t else None
    true_gmv = float(campaign_gmv) / n_t if n_t else None

    def verdict(row, key, true):
        lo, hi = row[f"{key}_ci_low"], row[f"{key}_ci_high"]
        return {"estimate": row[key], "ci": [lo, hi], "width": None if lo is None else hi - lo,
                "true": true, "true_inside": None if lo is None else lo <= true <= hi}

    out = {"members": a.members, "days": a.days, "seed": a.seed, "night": night.isoformat(),
           "cohort_week": week.isoformat(), "treated_in_outbox": len(treated),
           "mapped_to_persons": len(persons), "campaign": campaign,
           "generated_files_untouched": untouched, "campaign_files": len(added),
           "timings": timings, "audiences": {}}
    ok = untouched
    for code, true_conv_i, true_gmv_i in ((a.audience, true_conv, true_gmv),
                                          (a.null_audience, 0.0, 0.0)):
        row = lift.get(code)
        if row is None or row["status"] != "ok":
            out["audiences"][code] = {"status": None if row is None else row["status"]}
            ok = False
            continue
        conv, gmv = verdict(row, "conversion_diff", true_conv_i), verdict(row, "gmv_diff", true_gmv_i)
        out["audiences"][code] = {"treated": row["treated_members"], "holdout": row["holdout_members"],
                                  "treated_conversion": row["treated_conversion"],
                                  "holdout_conversion": row["holdout_conversion"],
                                  "conversion_diff": conv, "gmv_diff": gmv}
        ok = ok and conv["true_inside"] and gmv["true_inside"]
    out["recovered"] = ok
    print(json.dumps(out, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

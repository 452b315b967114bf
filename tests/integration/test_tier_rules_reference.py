"""member_tier_history against a day-by-day reference of the tier rules, on random members.

The SQL computes tiers from change days only (the days the qualified tier changes, and the
first review day on or after each fall) over histories projected past the as-of day. The
reference here walks every day from a member's first day to the as-of day with the rules as
docs/member-value.md states them: the tier held is the tier qualified for on the first day;
on a review day it becomes the tier qualified for that day; on any other day it is the higher
of yesterday's tier held and today's qualified tier. Both read the same ledger rows
(`member_growth_ledger`, tested on its own), so this pins the tier logic alone.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.member_value.fixture import write_member_value_inputs
from tests.integration.test_member_value_marts import _dbt, _project_vars

AS_OF = dt.date(2024, 6, 15)
MODELS = ["int_member_value__as_of", "int_member_value__orders", "int_member_value__activity",
          "member_growth_ledger", "int_member_value__growth_balance", "int_member_value__tier_days",
          "int_member_value__tier_spells", "member_tier_history"]


def _random_members(con: duckdb.DuckDBPyConnection, seed: int, n: int = 150) -> None:
    """Members first seen over 18 months, buying 0–12 times (up to 900 yuan: 0–9000 points,
    so thresholds 3000/6000 are crossed both ways), a third of orders refunded in part or whole."""
    rng = random.Random(seed)
    con.execute("DELETE FROM marts.dim_member")
    con.execute("DELETE FROM marts.fct_orders")
    start = dt.date(2023, 1, 1)
    members, orders = [], []
    for i in range(n):
        member = f"M{i:03d}"
        first = start + dt.timedelta(days=rng.randrange((AS_OF - start).days))
        members.append((member, f"{first} 09:00:00", "pos", "unknown", None, None))
        for k in range(rng.randrange(13)):
            paid = first + dt.timedelta(days=rng.randrange((AS_OF - first).days + 1))
            amount = rng.choice([20, 150, 300, 320, 600, 700, 900])
            refund, refunded_at = 0, None
            if rng.random() < 0.33:
                refund = rng.choice([amount, amount // 2, 10])
                refunded_at = f"{paid + dt.timedelta(days=rng.randrange(1, 60))} 00:00:00"
            orders.append((f"pos:{member}_{k}", "pos", member, f"{paid} 10:00:00", f"{paid} 10:00:00",
                           amount, 0, amount, refund, amount - refund, refunded_at))
    con.executemany("INSERT INTO marts.dim_member VALUES (?, ?, ?, ?, ?, ?)", members)
    con.executemany("INSERT INTO marts.fct_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)


def _reference_spells(con: duckdb.DuckDBPyConnection, review_day: int) -> set[tuple]:
    thresholds = sorted(t["min_growth_value"] for t in _project_vars()["tiers"])
    rank = lambda growth: sum(growth >= t for t in thresholds)  # noqa: E731  (1 = lowest)
    first_seen = dict(con.execute("SELECT member_id, cast(first_seen_at AS date) FROM "
                                  "marts.dim_member").fetchall())
    ledger = defaultdict(list)
    for member, earned, expires, points in con.execute(
            "SELECT member_id, event_date, expires_on, points FROM marts.member_growth_ledger "
            "WHERE event_date < expires_on").fetchall():
        ledger[member].append((earned, expires, points))
    spells = set()
    for member, day in first_seen.items():
        held, number, start, reason = None, 0, day, "enrolment"
        while day <= AS_OF:
            qualified = rank(sum(p for earned, expires, p in ledger[member] if earned <= day < expires))
            new = qualified if held is None or day.day == review_day else max(held, qualified)
            if held is not None and new != held:
                spells.add((member, number, held, start, day, reason))
                number, start = number + 1, day
                reason = "upgrade" if new > held else "downgrade"
            elif held is None:
                number = 1
            held = new
            day += dt.timedelta(days=1)
        spells.add((member, number, held, start, None, reason))
    return spells


@pytest.mark.parametrize(("seed", "dbt_vars"), [
    (1, {}),
    (2, {"tier_review_day_of_month": 15}),
    (3, {"growth_window": {"mode": "calendar_year"}, "tier_review_day_of_month": 28}),
])
def test_tier_history_follows_the_rules_day_by_day(tmp_path: Path, seed: int, dbt_vars: dict):
    wh = write_member_value_inputs(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(wh)) as con:
        _random_members(con, seed)
    proc = _dbt(tmp_path, wh, "build", MODELS, {"as_of_date": str(AS_OF), **dbt_vars})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    review_day = dbt_vars.get("tier_review_day_of_month", 1)
    with duckdb.connect(str(wh), read_only=True) as con:
        expected = _reference_spells(con, review_day)
        got = set(con.execute("SELECT member_id, spell_number, tier_rank, valid_from, valid_to, "
                              "change_reason FROM marts.member_tier_history").fetchall())
    assert len({s[0] for s in expected}) == 150
    assert sum(1 for s in expected if s[5] == "downgrade") >= 20  # the rules are exercised
    assert got == expected

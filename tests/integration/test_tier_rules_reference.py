"""member_tier_history against a day-by-day reference of the tier rules, on random members.

The SQL computes tiers from change days only (the days the qualified tier changes, and the
first review day on or after each fall) over histories projected past the as-of day, and the
refund rule per threshold without recursion. The reference here walks every day from a
member's first day to the as-of day with the rules as docs/member-value.md states them, one
day after the other: the tier held is the tier qualified for on the first day; on a review
day it becomes the tier qualified for that day; with refund_reverses_upgrade, on a day with a
refund deduction, when yesterday's tier held was yesterday's qualified tier (no downgrade
waiting) and the growth value before that day's expiries qualifies for less, it becomes that
lower tier (refund_downgrade); on any other day it is the higher of yesterday's tier held and
today's qualified tier. Both read the same ledger rows (`member_growth_ledger`, tested on its
own), so this pins the tier logic alone.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.dbt import dbt_ok
from tests.fixtures.member_value.fixture import write_member_value_inputs
from tests.integration.test_member_value_marts import _project_vars

AS_OF = dt.date(2024, 6, 15)
MODELS = ["int_member_value__as_of", "int_member_value__orders", "int_member_value__activity",
          "member_growth_ledger", "int_member_value__growth_balance", "int_member_value__tier_days",
          "int_member_value__tier_spells", "member_tier_history"]


def _random_members(con: duckdb.DuckDBPyConnection, seed: int, n: int = 150,
                    around_expiry: int = 100, calendar_year: bool = False) -> None:
    """Members first seen over 18 months, buying 0–12 times (up to 900 yuan: 0–9000 points,
    so thresholds 3000/6000 are crossed both ways), a third of orders refunded in part or whole.

    Plus `around_expiry` members whose refunds fall around the day older points expire (365
    days after they were earned, or on 1 January with `calendar_year`), where the refund rule
    meets the review day: refunds while a downgrade waits for it, refunds on the expiry day
    itself, purchases and refunds in between."""
    rng = random.Random(seed)
    con.execute("DELETE FROM marts.dim_member")
    con.execute("DELETE FROM marts.fct_orders")
    start = dt.date(2023, 1, 1)
    members, orders = [], []

    def order(member: str, key: str, paid: dt.date, amount: int, refund: int = 0,
              refunded: dt.date | None = None) -> None:
        orders.append((f"pos:{member}_{key}", "pos", member, f"{paid} 10:00:00", f"{paid} 10:00:00",
                       amount, 0, amount, refund, amount - refund,
                       f"{refunded} 00:00:00" if refunded else None))

    for i in range(n):
        member = f"M{i:03d}"
        first = start + dt.timedelta(days=rng.randrange((AS_OF - start).days))
        members.append((member, f"{first} 09:00:00", "pos", "unknown", None, None))
        for k in range(rng.randrange(13)):
            paid = first + dt.timedelta(days=rng.randrange((AS_OF - first).days + 1))
            amount = rng.choice([20, 150, 300, 320, 600, 700, 900])
            refund, refunded = 0, None
            if rng.random() < 0.33:
                refund = rng.choice([amount, amount // 2, 10])
                refunded = paid + dt.timedelta(days=rng.randrange(1, 60))
            order(member, str(k), paid, amount, refund, refunded)
    for i in range(around_expiry):
        member = f"S{i:03d}"
        if calendar_year:  # points earned in 2023 leave on 2024-01-01
            expiry = dt.date(2024, 1, 1)
            old = expiry - dt.timedelta(days=rng.randrange(30, 300))
        else:  # points leave the rolling window 365 days after they were earned
            expiry = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(150))
            old = expiry - dt.timedelta(days=365)
        order(member, "old", old, rng.choice([300, 400, 600, 700]))
        paid_days = [expiry - dt.timedelta(days=rng.randrange(5, 200))]
        paid_days += [expiry + dt.timedelta(days=rng.randrange(-5, 25)) for _ in range(rng.randrange(3))]
        first = min(old, *paid_days) - dt.timedelta(days=rng.randrange(30))
        members.append((member, f"{first} 09:00:00", "pos", "unknown", None, None))
        for k, paid in enumerate(paid_days):
            amount = rng.choice([20, 150, 300, 350, 600])
            refund, refunded = 0, None
            if rng.random() < 0.6:
                refund = rng.choice([amount, amount // 2, 100, 10])
                refunded = (expiry if rng.random() < 0.25 else
                            expiry + dt.timedelta(days=rng.randrange(-3, 30)))
                if refunded <= paid:
                    refunded = paid + dt.timedelta(days=1)
            order(member, str(k), paid, amount, min(refund, amount), refunded)
    con.executemany("INSERT INTO marts.dim_member VALUES (?, ?, ?, ?, ?, ?)", members)
    con.executemany("INSERT INTO marts.fct_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)


def _reference_spells(con: duckdb.DuckDBPyConnection, review_day: int,
                      refund_reverses_upgrade: bool, stats: Counter | None = None) -> set[tuple]:
    thresholds = sorted(t["min_growth_value"] for t in _project_vars()["tiers"])
    rank = lambda growth: sum(growth >= t for t in thresholds)  # noqa: E731  (1 = lowest)
    first_seen = dict(con.execute("SELECT member_id, cast(first_seen_at AS date) FROM "
                                  "marts.dim_member").fetchall())
    ledger, refund_days = defaultdict(list), defaultdict(set)
    for member, event_type, earned, expires, points in con.execute(
            "SELECT member_id, event_type, event_date, expires_on, points "
            "FROM marts.member_growth_ledger WHERE event_date < expires_on").fetchall():
        ledger[member].append((earned, expires, points))
        if event_type == "order_refund":
            refund_days[member].add(earned)
    stats = Counter() if stats is None else stats
    spells = set()
    for member, day in first_seen.items():
        held, qualified, number, start, reason = None, None, 0, day, "enrolment"
        while day <= AS_OF:
            yesterday = qualified
            qualified = rank(sum(p for earned, expires, p in ledger[member] if earned <= day < expires))
            # the day's refunds and purchases, before the points expiring that day leave
            before_expiry = rank(sum(p for earned, expires, p in ledger[member]
                                     if earned <= day <= expires))
            refund_fall = day in refund_days[member] and held is not None and before_expiry < yesterday
            if held is None or day.day == review_day:
                new = qualified
            elif refund_reverses_upgrade and refund_fall and held == yesterday:
                new = before_expiry
                stats["refund_drop"] += 1
                stats["refund_drop_with_expiry"] += before_expiry > qualified
            else:
                new = max(held, qualified)
                stats["refund_fall_while_waiting"] += refund_fall and held > yesterday
            if held is not None and new != held:
                spells.add((member, number, held, start, day, reason))
                number, start = number + 1, day
                reason = ("upgrade" if new > held else
                          "downgrade" if day.day == review_day else "refund_downgrade")
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
    (4, {"refund_reverses_upgrade": False}),
])
def test_tier_history_follows_the_rules_day_by_day(tmp_path: Path, seed: int, dbt_vars: dict):
    wh = write_member_value_inputs(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(wh)) as con:
        _random_members(con, seed, calendar_year=dbt_vars.get("growth_window", {}).get("mode")
                        == "calendar_year")
    dbt_ok("build", "--select", *MODELS, warehouse=wh, workdir=tmp_path,
           dbt_vars={"as_of_date": str(AS_OF), **dbt_vars})
    review_day = dbt_vars.get("tier_review_day_of_month", 1)
    refund_rule = dbt_vars.get("refund_reverses_upgrade", _project_vars()["refund_reverses_upgrade"])
    stats: Counter = Counter()
    with duckdb.connect(str(wh), read_only=True) as con:
        expected = _reference_spells(con, review_day, refund_rule, stats)
        got = set(con.execute("SELECT member_id, spell_number, tier_rank, valid_from, valid_to, "
                              "change_reason FROM marts.member_tier_history").fetchall())
    assert len({s[0] for s in expected}) == 250
    # the rules are exercised: downgrades on review days, and with the refund rule drops on
    # refund days, refunds that wait because a downgrade was already waiting, and drops on a
    # day when points also expire
    assert sum(1 for s in expected if s[5] == "downgrade") >= 20
    if refund_rule:
        assert sum(1 for s in expected if s[5] == "refund_downgrade") >= 20
        assert stats["refund_fall_while_waiting"] >= 3, stats
        if "growth_window" not in dbt_vars:  # (on 1 January only refunds of 2024 orders count)
            assert stats["refund_drop_with_expiry"] >= 1, stats  # the expiry's share waits
    else:
        assert not any(s[5] == "refund_downgrade" for s in expected)
    assert got == expected

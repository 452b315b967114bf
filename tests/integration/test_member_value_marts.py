"""Member-value marts on a hand-computed fixture (tests/fixtures/member_value/fixture.py).

One `dbt build` of the member-value models (with their data tests and the ledger
reconciliation test) runs on the fixture as of 2024-06-15 with the default rules, plus one
extra audience added the way an operator adds one (the audiences YAML); a second build
switches to calendar-year growth with behaviour bonuses. Every expected number below is worked
out by hand in the fixture's docstring or next to the assertion.

These check the models TOGETHER: ledger → balance → tier days → spells → member_tiers, the
profile, tags, GMV tree and audiences over the RFM and lifecycle marts. Each rule's own hand
cases — tier days (upgrade on the crossing day, downgrade at the review, the refund rule on and
off with the worked examples T, V, W, X, Y, another review day), the growth balance, tier
spells, RFM scores, ties and segments, lifecycle and AIPL stages — are dbt unit tests in
dbt_project/models/{intermediate,marts}/member_value/_member_value__unit_tests.yml
(tests/unit/test_dbt_unit_tests.py runs them); tests/integration/test_tier_rules_reference.py
walks the tier rules day by day on random members.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from pipelines.lib.platform.warehouse import connect
from tests.dbt import DBT_DIR, dbt, dbt_ok
from tests.fixtures.member_value.fixture import (
    AS_OF,
    write_member_value_inputs,
)

MODELS = ["fqn:siyu.intermediate.member_value", "fqn:siyu.marts.member_value",
          "fqn:siyu.member_value"]
D = Decimal


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def _project_vars() -> dict:
    return yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


EXTRA_AUDIENCE = {
    "code": "beijing_women", "name": "北京女性会员 Beijing women",
    "description": "Added by the test the way an operator adds an audience.",
    "rules": [{"field": "city", "op": "eq", "value": "北京"},
              {"field": "gender", "op": "in", "value": ["female"]}],
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("member_value")
    wh = write_member_value_inputs(tmp / "warehouse.duckdb")
    audiences = _project_vars()["audiences"] + [EXTRA_AUDIENCE]
    dbt_ok("build", "--select", *MODELS, warehouse=wh, workdir=tmp,
           dbt_vars={"as_of_date": str(AS_OF), "rfm_windows_days": [30, 90],
                     "rfm_primary_window_days": 30, "audiences": audiences})
    return wh


TIER_MODELS = ["int_member_value__as_of", "int_member_value__orders", "int_member_value__activity",
               "member_growth_ledger", "int_member_value__growth_balance",
               "int_member_value__tier_days", "int_member_value__tier_spells", "member_tier_history",
               "member_tiers"]


@pytest.fixture(scope="module")
def calendar_year_warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("member_value_calendar")
    wh = write_member_value_inputs(tmp / "warehouse.duckdb")
    dbt_ok("build", "--select", *TIER_MODELS, "assert_growth_ledger_reconciles_to_orders",
           warehouse=wh, workdir=tmp,
           dbt_vars={"as_of_date": str(AS_OF), "growth_window": {"mode": "calendar_year"},
                     "growth_bonus_points": {"registration": 100, "first_wecom_add": 50}})
    return wh


def _rows(wh: Path, sql: str) -> list[tuple]:
    with connect(wh, read_only=True) as con:
        return con.execute(sql).fetchall()


def _spells(wh: Path, member: str) -> list[tuple]:
    return _rows(wh, f"""select tier_code, valid_from, valid_to, change_reason
                         from marts.member_tier_history where member_id = '{member}'
                         order by valid_from""")


# --- growth ledger -----------------------------------------------------------------------

def test_ledger_earns_and_deducts_pro_rata(warehouse):
    got = {(r[0], r[1]): r[2:] for r in _rows(warehouse, """
        select order_key, event_type, points, event_date, expires_on
        from marts.member_growth_ledger where member_id in ('A', 'C', 'D')""")}
    assert got[("pos:A1", "order_paid")] == (2000, d("2024-01-10"), d("2025-01-09"))
    # refund 100 of 300: the order keeps floor(200 × 10) = 2000 of its 3000 points; the
    # deduction leaves the window with the points it claws back (the order's expires_on)
    assert got[("pos:A3", "order_refund")] == (-1000, d("2024-03-20"), d("2025-03-05"))
    # full refund claws back everything
    assert got[("miniprogram:C1", "order_paid")][0] == 4000
    assert got[("miniprogram:C1", "order_refund")][0] == -4000
    # 99.99 earns floor(999.9) = 999; net 66.66 keeps floor(666.6) = 666 → −333
    assert got[("tmall:D1", "order_paid")][0] == 999
    assert got[("tmall:D1", "order_refund")][0] == -333
    assert len(got) == 8  # A1 A2 A3 +refund, C1 +refund, D1 +refund


def test_ledger_dates_a_tmall_refund_by_its_delivery_day(warehouse):
    # T1: paid 03-04, first delivered closed with 800 refunded on 03-08 (fct_orders.refunded_at
    # = that delivery day's start): the deduction is dated 03-08 and expires with the order
    assert _rows(warehouse, """select event_type, event_date, points, expires_on
                               from marts.member_growth_ledger where member_id = 'T'
                               order by event_date""") == [
        ("order_paid", d("2024-03-04"), 8000, d("2025-03-04")),
        ("order_refund", d("2024-03-08"), -8000, d("2025-03-04")),
    ]


def test_ledger_ignores_guests_unpaid_future_orders_and_future_refunds(warehouse):
    keys = {r[0] for r in _rows(warehouse, "select order_key from marts.member_growth_ledger")}
    assert not {"pos:X1", "pos:X2", "miniprogram:X3"} & keys
    # R1's first order is refunded on 06-20, after the as-of day: no deduction yet
    assert _rows(warehouse, """select count(*) from marts.member_growth_ledger
                               where order_key = 'miniprogram:R1_0'""") == [(1,)]
    # no bonus rows with the default 0 points
    assert _rows(warehouse, """select count(*) from marts.member_growth_ledger
                               where order_key is null""") == [(0,)]


def test_ledger_total_reconciles_to_net_paid(warehouse):
    # Σ floor(10 × net) over member purchases known on 2024-06-15, computed by hand:
    # A 2000+1500+2000, B 7000+3500, C 0, D 666, G 800, H 4×500, J 7000, K 400,
    # R1 8×1250, R2 9000, R3 8050, R4 7020, R5 4020, R6 3000, R7 2000, R8 1000
    expected = (5500 + 10500 + 0 + 666 + 800 + 2000 + 7000 + 400
                + 10000 + 9000 + 8050 + 7020 + 4020 + 3000 + 2000 + 1000)
    assert _rows(warehouse, "select sum(points) from marts.member_growth_ledger") == [(expected,)]


# --- tiers ---------------------------------------------------------------------------------

def test_tier_upgrades_on_crossing_day_and_a_refund_reverses_them(warehouse):
    assert _spells(warehouse, "A") == [
        ("regular", d("2024-01-01"), d("2024-02-20"), "enrolment"),
        ("silver", d("2024-02-20"), d("2024-03-05"), "upgrade"),    # 3500 crosses 3000
        ("gold", d("2024-03-05"), d("2024-03-20"), "upgrade"),      # 6500 crosses 6000
        # the 03-20 refund claws back 1000 of the points gold stood on: 5500 → silver at once
        ("silver", d("2024-03-20"), None, "refund_downgrade"),
    ]
    # issue 19: 800 yuan paid 03-04 (gold), delivered closed and fully refunded on 03-08
    assert _spells(warehouse, "T") == [
        ("regular", d("2024-03-02"), d("2024-03-04"), "enrolment"),
        ("gold", d("2024-03-04"), d("2024-03-08"), "upgrade"),
        ("regular", d("2024-03-08"), None, "refund_downgrade"),
    ]


def test_member_tiers_on_the_as_of_day(warehouse):
    got = {r[0]: r[1:] for r in _rows(warehouse, """
        select member_id, growth_value, tier_code, tier_name, qualified_tier_code,
               next_tier_code, points_to_next_tier, points_expiring_30d, tier_since
        from marts.member_tiers""")}
    assert got["A"] == (5500, "silver", "银卡", "silver", "gold", 500, 0, d("2024-03-20"))
    assert got["B"] == (3500, "silver", "银卡", "silver", "gold", 2500, 0, d("2024-06-01"))
    assert got["C"] == (0, "regular", "普卡", "regular", "silver", 3000, 0, d("2024-04-03"))
    assert got["T"] == (0, "regular", "普卡", "regular", "silver", 3000, 0, d("2024-03-08"))
    assert got["J"] == (7000, "gold", "金卡", "gold", None, None, 0, d("2024-03-01"))
    # K's 400 points from 2023-06-25 leave the window on 2024-06-24
    assert got["K"][0] == 400 and got["K"][6] == 400
    assert got["E"][:2] == (0, "regular")
    assert len(got) == 19  # every member, buyers or not


def test_calendar_year_mode_and_bonuses(calendar_year_warehouse):
    wh = calendar_year_warehouse
    # registration bonus 100 on the day first seen; B1's 7000 count until 2024-01-01, which is
    # also a review day, so gold ends there; B2's 3500 on 05-12 → silver at once
    assert _spells(wh, "B") == [
        ("regular", d("2023-01-15"), d("2023-05-10"), "enrolment"),
        ("gold", d("2023-05-10"), d("2024-01-01"), "upgrade"),
        ("regular", d("2024-01-01"), d("2024-05-12"), "downgrade"),
        ("silver", d("2024-05-12"), None, "upgrade"),
    ]
    bonuses = _rows(wh, """select member_id, event_type, points, event_date, expires_on
                           from marts.member_growth_ledger where order_key is null
                           and member_id in ('B', 'R1') order by member_id, event_type""")
    assert bonuses == [
        ("B", "registration_bonus", 100, d("2023-01-15"), d("2024-01-01")),
        ("R1", "registration_bonus", 100, d("2024-05-01"), d("2025-01-01")),
        ("R1", "wecom_add_bonus", 50, d("2024-05-01"), d("2025-01-01")),
    ]
    # 2024 only: B2's 3500 (the 2023 registration bonus reset with the year)
    assert _rows(wh, "select growth_value from marts.member_tiers where member_id = 'B'") == [(3500,)]


# --- profile and tags ----------------------------------------------------------------------

def test_profile_tags(warehouse):
    cols = ("age_band", "is_birthday_month", "aov_band", "preferred_category", "price_sensitivity",
            "preferred_channel", "wecom_friend_status", "recent_favourites", "recent_cart_adds",
            "is_recently_active", "tier_code", "rfm_segment_code", "lifecycle_stage")
    got = {r[0]: dict(zip(cols, r[1:], strict=True)) for r in _rows(
        warehouse, f"select member_id, {', '.join(cols)} from marts.member_profile")}
    r1 = got["R1"]
    assert r1["age_band"] == "30_34"                 # born 1990-06-20: 33 on 2024-06-15
    assert r1["is_birthday_month"] is True
    assert r1["aov_band"] == "100_199"               # 1000 / 8 = 125
    assert r1["preferred_category"] == "bags"
    assert r1["price_sensitivity"] == "high"         # 400 discount / 1400 gross = 0.29
    assert r1["preferred_channel"] == "miniprogram"
    assert r1["wecom_friend_status"] == "friend"
    assert (r1["recent_favourites"], r1["recent_cart_adds"], r1["is_recently_active"]) == (1, 2, True)
    assert (r1["tier_code"], r1["rfm_segment_code"]) == ("gold", "important_value")
    assert got["F"]["wecom_friend_status"] == "deleted"
    assert got["E"]["aov_band"] == "no_purchase" and got["E"]["age_band"] == "unknown"
    assert got["R2"]["is_birthday_month"] is False
    assert got["J"]["is_recently_active"] is False
    # the long form carries the same values, one row per member and tag
    tags = dict(_rows(warehouse, "select tag, value from marts.member_tags where member_id = 'R1'"))
    assert tags["tier"] == "gold" and tags["is_recently_active"] == "true"
    # 16 tags + the group facts in_any_group (false) and groups_count (0); no best group
    # layer outside groups (no row)
    assert tags["price_sensitivity"] == "high" and len(tags) == 18
    assert (tags["in_any_group"], tags["groups_count"]) == ("false", "0")
    assert _rows(warehouse, "select distinct computed_at from marts.member_tags") == [
        (dt.datetime(2024, 6, 15),)]


def test_profile_has_no_direct_identifiers(warehouse):
    cols = {r[0] for r in _rows(warehouse, """select column_name from information_schema.columns
                                              where table_name = 'member_profile'""")}
    assert not cols & {"birthday", "mobile_masked", "member_name", "nickname", "mobile_sha256"}


# --- GMV driver tree ---------------------------------------------------------------------------

def test_gmv_driver_tree_by_hand(warehouse):
    got = {(r[0], r[1]): r[2:] for r in _rows(warehouse, """
        select cast(month as varchar), channel, gmv, members, active_members, buyers, orders,
               retention_rate, conversion_rate, repurchase_count, average_order_value
        from marts.gmv_drivers""")}
    # February 2024: A2 150 + H2 50; members first seen by 02-29: A B D G H J K = 7;
    # active: A, H
    assert got[("2024-02-01", "all")] == (D("200.00"), 7, 2, 2, 2, 2 / 7, 1.0, 1.0, 100.0)
    # January 2024: A1 200 + D1 99.99 + H1 50 (GMV is paid, refunds not deducted)
    assert got[("2024-01-01", "all")][:5] == (D("349.99"), 6, 3, 3, 3)
    assert got[("2024-01-01", "tmall")][:5] == (D("99.99"), 6, 3, 1, 1)


def test_gmv_driver_tree_reconciles_and_contributions_sum(warehouse):
    rows = _rows(warehouse, """
        select gmv, members * retention_rate * conversion_rate * repurchase_count * average_order_value,
               gmv_change_mom, members_contribution_mom + retention_rate_contribution_mom
                   + conversion_rate_contribution_mom + repurchase_count_contribution_mom
                   + average_order_value_contribution_mom
        from marts.gmv_drivers""")
    assert len(rows) > 10
    for gmv, product, change, contributions in rows:
        assert product == pytest.approx(float(gmv), abs=1e-6)
        if contributions is not None:
            assert contributions == pytest.approx(change, abs=1e-6)
    # February vs January (all): −149.99 split across the factors
    feb = _rows(warehouse, """select gmv_change_mom, members_contribution_mom
                              from marts.gmv_drivers where channel = 'all' and month = '2024-02-01'""")
    assert feb[0][0] == pytest.approx(-149.99) and feb[0][1] > 0  # the base grew 6 → 7


# --- audiences -----------------------------------------------------------------------------

def test_audiences_from_yaml(warehouse):
    got: dict[str, set[str]] = {}
    for member, code in _rows(warehouse, "select member_id, audience_code from marts.member_audiences"):
        got.setdefault(code, set()).add(member)
    # first purchase within 14 days (days since first purchase 0..13): r + f − 1
    assert got["first_purchase_14d"] == {"R1", "R2", "R4", "R5", "R6", "R8"}
    assert got["decline_winback"] == {"H", "R3", "R5", "R7"}
    assert got["birthday_this_month"] == {"R1"}
    assert got["gold_inactive_60d"] == {"J"}
    assert got["shanghai_women_engaged_favouriters"] == {"R1"}
    # the audience the test added through the YAML (vars), no SQL touched
    assert got["beijing_women"] == {"A", "C", "H"}


def test_a_bad_audience_rule_names_the_audience(warehouse, tmp_path):
    bad = _project_vars()["audiences"] + [
        {"code": "typo", "name": "typo", "rules": [{"field": "tier", "op": "eq", "value": "gold"}]}]
    proc = dbt("compile", "--select", "member_audiences", warehouse=warehouse, workdir=tmp_path,
               dbt_vars={"as_of_date": str(AS_OF), "audiences": bad})
    assert proc.returncode != 0
    assert "audience 'typo': unknown field 'tier'" in proc.stdout

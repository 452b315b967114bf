"""Lifetime-value marts (int_ltv__*, member_ltv, ltv_cohorts) on a hand-computed fixture.

The inputs (tests/fixtures/ltv/cohort_fixture.py) are written straight into the relations the
models read; one `dbt build` of the ltv models (with their data tests) runs on them as of
2024-03-31, and the numbers below are worked out by hand from the fixture's table.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.lib.platform.warehouse import connect
from tests.dbt import dbt_ok
from tests.fixtures.ltv.cohort_fixture import AS_OF, write_ltv_inputs


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ltv")
    wh = write_ltv_inputs(tmp / "warehouse.duckdb")
    dbt_ok("build", "--select", "intermediate.ltv", "marts.ltv", warehouse=wh, workdir=tmp,
           dbt_vars={"as_of_date": str(AS_OF)})
    return wh


def _rows(wh: Path, sql: str) -> list[tuple]:
    with connect(wh, read_only=True) as con:
        return con.execute(sql).fetchall()


def _cohorts(wh: Path, channel: str) -> dict:
    rows = _rows(wh, f"""
        select cohort_month, months_since_acquisition, cohort_size, members_active,
               retention_rate, cumulative_net_revenue_per_member,
               cumulative_gross_profit_per_member, is_fully_observed
        from marts.ltv_cohorts where acquisition_channel = '{channel}'""")
    return {(r[0].strftime("%Y-%m"), r[1]): r[2:] for r in rows}


D = Decimal


def test_order_margin_nets_refunds_and_flags_uncosted_skus(warehouse):
    got = {r[0]: r[1:] for r in _rows(warehouse, """
        select order_key, net_revenue, cost_of_goods, gross_profit, has_uncosted_items
        from intermediate.int_ltv__order_margin""")}
    assert got["pos:P1"] == (D("100.00"), D("40.00"), D("60.00"), False)
    # partial refund 50 of 200: cost 80 × 150/200
    assert got["pos:P2"] == (D("150.00"), D("60.00"), D("90.00"), False)
    # full refund: no revenue, no cost
    assert got["tmall:T1"] == (D("0.00"), D("0.00"), D("0.00"), False)
    # SKU C has no cost: counted 0 and flagged
    assert got["miniprogram:W1"] == (D("90.00"), D("20.00"), D("70.00"), True)
    # unpaid order carries no cost
    assert got["pos:P5"][1] == D("0.00")
    assert len(got) == 10


def test_cohort_sizes_and_triangle(warehouse):
    all_ = _cohorts(warehouse, "all")
    assert {k: v[0] for k, v in all_.items()} == {
        ("2024-01", 0): 3, ("2024-01", 1): 3, ("2024-01", 2): 3,
        ("2024-02", 0): 1, ("2024-02", 1): 1, ("2024-02", 2): 1,
        ("2024-03", 0): 1, ("2024-03", 1): 1, ("2024-03", 2): 1,
    }
    pos = _cohorts(warehouse, "pos")
    assert pos[("2024-01", 0)][0] == 2 and pos[("2024-02", 0)][0] == 1
    assert _cohorts(warehouse, "miniprogram")[("2024-01", 0)][0] == 1
    assert _cohorts(warehouse, "tmall")[("2024-03", 0)][0] == 1
    assert _cohorts(warehouse, "wecom") == {}  # M6 never bought


def test_cumulative_revenue_keeps_zero_revenue_member_in_denominator(warehouse):
    pos = _cohorts(warehouse, "pos")
    # M1 100 + M2 0 (fully refunded) over 2 members; then M1's 150 in February
    assert pos[("2024-01", 0)][:5] == (2, 2, 1.0, D("50.00"), D("30.00"))
    assert pos[("2024-01", 1)][:5] == (2, 1, 0.5, D("125.00"), D("75.00"))
    assert pos[("2024-01", 2)][:5] == (2, 0, 0.0, D("125.00"), D("75.00"))
    all_ = _cohorts(warehouse, "all")
    assert [all_[("2024-01", k)][3] for k in range(3)] == [D("63.33"), D("113.33"), D("123.33")]
    assert [all_[("2024-01", k)][1] for k in range(3)] == [3, 1, 1]
    assert all_[("2024-01", 1)][2] == pytest.approx(1 / 3)
    mp = _cohorts(warehouse, "miniprogram")
    # W1 at 23:00 on Jan 31 stays in January; W2 in offset 2
    assert [mp[("2024-01", k)][3] for k in range(3)] == [D("90.00"), D("90.00"), D("120.00")]


def test_unobserved_cells_are_null(warehouse):
    pos = _cohorts(warehouse, "pos")
    assert pos[("2024-02", 0)] == (1, 1, 1.0, D("60.00"), D("40.00"), True)
    assert pos[("2024-02", 1)] == (1, 0, 0.0, D("60.00"), D("40.00"), True)
    # April has not ended by 2024-03-31
    assert pos[("2024-02", 2)] == (1, None, None, None, None, False)
    tmall = _cohorts(warehouse, "tmall")
    # T2 on the as-of day counts (March is complete); T3 on April 1 does not
    assert tmall[("2024-03", 0)] == (1, 1, 1.0, D("80.00"), D("0.00"), True)
    assert tmall[("2024-03", 1)][1:] == (None, None, None, None, False)


def test_member_ltv_history_predictions_and_fallback(warehouse):
    got = {r[0]: r[1:] for r in _rows(warehouse, """
        select member_id, as_of_date, historical_net_revenue, historical_gross_profit,
               first_order_at, last_order_at, orders, tenure_days, p_alive,
               expected_purchases_365d, predicted_clv_365d, prediction_source
        from marts.member_ltv""")}
    assert sorted(got) == ["M1", "M2", "M3", "M4", "M5"]
    as_of = dt.date(2024, 3, 31)
    assert got["M1"] == (as_of, D("250.00"), D("150.00"), dt.datetime(2024, 1, 5, 10),
                         dt.datetime(2024, 2, 10, 12), 2, 86, 0.9, 2.0, 240.0,
                         "bgnbd_gamma_gamma")
    assert got["M2"][1:3] == (D("0.00"), D("0.00"))
    assert got["M3"][1:3] + got["M3"][5:7] == (D("120.00"), D("80.00"), 2, 60)
    # unpaid P5 is not a purchase; no prediction row → historical fallback
    assert got["M4"] == (as_of, D("60.00"), D("40.00"), dt.datetime(2024, 2, 29, 18),
                         dt.datetime(2024, 2, 29, 18), 1, 31, None, None, None,
                         "historical_fallback")
    # the order after the as-of date is ignored
    assert got["M5"][1:3] + got["M5"][5:7] == (D("80.00"), D("0.00"), 1, 0)

"""bi.queries on a tiny hand-written DuckDB file: the numbers the dashboards draw, without a browser.

The fixture's marts.dim_member has no birthday, mobile or name columns at all, so every query
running here proves the dashboards never read them.
"""

from __future__ import annotations

import inspect
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bi import queries as q
from pipelines.lib.warehouse import open_connection

AS_OF = date(2026, 10, 31)


def _build(path: Path) -> None:
    con = open_connection(path)
    con.execute("CREATE SCHEMA marts")
    con.execute("""
        CREATE TABLE marts.dim_member AS SELECT * FROM (VALUES
            ('m1', TIMESTAMP '2026-08-03 10:00', 'pos',         '上海', 'female'),
            ('m2', TIMESTAMP '2026-08-20 10:00', 'pos',         '上海', 'male'),
            ('m3', TIMESTAMP '2026-09-15 10:00', 'tmall',       '北京', 'female'),
            ('m4', TIMESTAMP '2026-10-02 10:00', 'miniprogram', NULL,   'unknown'),
            ('m5', TIMESTAMP '2026-10-31 23:00', 'wecom',       '广州', 'female'),
            ('m6', TIMESTAMP '2026-10-01 23:59', 'tmall',       '深圳', 'male')
        ) AS t(member_id, first_seen_at, acquisition_channel, city, gender)""")
    con.execute(f"""
        CREATE TABLE marts.member_tiers AS SELECT *, DATE '{AS_OF}' AS as_of_date FROM (VALUES
            ('m1', 'gold', '金卡', 3), ('m2', 'regular', '普卡', 1), ('m3', 'silver', '银卡', 2),
            ('m4', 'regular', '普卡', 1), ('m5', 'regular', '普卡', 1), ('m6', 'gold', '金卡', 3)
        ) AS t(member_id, tier_code, tier_name, tier_rank)""")
    # m1: regular -> silver -> gold; m3: regular -> gold -> silver; m6: regular -> gold
    con.execute("""
        CREATE TABLE marts.member_tier_history AS SELECT * FROM (VALUES
            ('m1', 1, 'regular', 1, DATE '2026-08-03', 'enrolment'),
            ('m1', 2, 'silver',  2, DATE '2026-08-10', 'upgrade'),
            ('m1', 3, 'gold',    3, DATE '2026-09-05', 'upgrade'),
            ('m3', 1, 'regular', 1, DATE '2026-09-15', 'enrolment'),
            ('m3', 2, 'gold',    3, DATE '2026-09-20', 'upgrade'),
            ('m3', 3, 'silver',  2, DATE '2026-10-01', 'downgrade'),
            ('m6', 1, 'regular', 1, DATE '2026-10-01', 'enrolment'),
            ('m6', 2, 'gold',    3, DATE '2026-10-05', 'upgrade')
        ) AS t(member_id, spell_number, tier_code, tier_rank, valid_from, change_reason)""")
    con.execute("""
        CREATE TABLE marts.member_rfm AS SELECT * FROM (VALUES
            ('m1', 90,  true,  5, 4, 5, 900.00,  'important_value', '重要价值客户'),
            ('m2', 90,  true,  5, 2, 3, 100.00,  'general_development', '一般发展客户'),
            ('m3', 90,  true,  1, 1, 2, 50.00,   'general_winback', '一般挽留客户'),
            ('m4', 90,  false, NULL, NULL, NULL, NULL, 'no_purchase', '窗口内无购买'),
            ('m1', 365, true,  5, 5, 5, 1500.00, 'important_value', '重要价值客户'),
            ('m2', 365, true,  5, 2, 3, 100.00,  'general_development', '一般发展客户'),
            ('m3', 365, true,  1, 1, 2, 50.00,   'general_winback', '一般挽留客户'),
            ('m4', 365, false, NULL, NULL, NULL, NULL, 'no_purchase', '窗口内无购买')
        ) AS t(member_id, window_days, is_scored, r_score, f_score, m_score, monetary,
               segment_code, segment_name)""")
    con.execute(f"""
        CREATE TABLE marts.member_lifecycle AS SELECT *, DATE '{AS_OF}' AS as_of_date FROM (VALUES
            ('m1', 'maturity',     '成熟期', 'loyalty',   5),
            ('m2', 'growth',       '成长期', 'purchase',  1),
            ('m3', 'decline',      '衰退期', 'loyalty',   2),
            ('m4', 'introduction', '引入期', 'interest',  0),
            ('m5', 'introduction', '引入期', 'awareness', 0),
            ('m6', 'growth',       '成长期', 'purchase',  1)
        ) AS t(member_id, lifecycle_stage, lifecycle_stage_name, aipl_stage, orders_total)""")
    con.execute("""
        CREATE TABLE marts.ltv_cohorts AS SELECT * FROM (VALUES
            (DATE '2026-08-01', 'all', 0, 2, true,  2,    1.0,  300.00, 120.00),
            (DATE '2026-08-01', 'all', 1, 2, true,  1,    0.5,  450.00, 180.00),
            (DATE '2026-09-01', 'all', 0, 1, true,  1,    1.0,  200.00,  80.00),
            (DATE '2026-09-01', 'all', 1, 1, false, NULL, NULL, NULL,    NULL),
            (DATE '2026-08-01', 'pos', 0, 2, true,  2,    1.0,  300.00, 120.00),
            (DATE '2026-08-01', 'pos', 1, 2, true,  1,    0.5,  450.00, 180.00)
        ) AS t(cohort_month, acquisition_channel, months_since_acquisition, cohort_size,
               is_fully_observed, members_active, retention_rate,
               cumulative_net_revenue_per_member, cumulative_gross_profit_per_member)""")
    con.execute("""
        CREATE TABLE marts.gmv_drivers AS SELECT * FROM (VALUES
            (DATE '2026-08-01', 'all', 1000.00, 10, 5, 4, 5, 0.5, 0.8, 1.25, 200.0,
             NULL, NULL, NULL, NULL, NULL, NULL, true),
            (DATE '2026-09-01', 'all', 1500.00, 12, 6, 5, 6, 0.5, 0.8333, 1.2, 250.0,
             500.0, 180.0, 0.0, 40.0, -20.0, 300.0, true),
            (DATE '2026-10-01', 'all', 900.00, 14, 4, 3, 3, 0.2857, 0.75, 1.0, 300.0,
             -600.0, 120.0, -400.0, -50.0, -450.0, 180.0, false),
            (DATE '2026-08-01', 'pos', 600.00, 10, 5, 3, 3, 0.5, 0.6, 1.0, 200.0,
             NULL, NULL, NULL, NULL, NULL, NULL, true)
        ) AS t(month, channel, gmv, members, active_members, buyers, orders, retention_rate,
               conversion_rate, repurchase_count, average_order_value, gmv_change_mom,
               members_contribution_mom, retention_rate_contribution_mom,
               conversion_rate_contribution_mom, repurchase_count_contribution_mom,
               average_order_value_contribution_mom, is_complete_month)""")
    con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bi") / "tiny.duckdb"
    _build(path)
    return path


@pytest.fixture
def con(warehouse: Path):
    with q.open_warehouse(warehouse) as c:
        yield c


def test_member_totals(con):
    row = q.member_totals(con).iloc[0]
    # new in the last 30 days up to 2026-10-31: m4 (10-02), m5 (10-31); m6 (10-01) is day 31
    assert (row["members"], row["buyers"], row["new_members_30d"]) == (6, 4, 2)


def test_members_by_counts_missing_values_as_unknown(con):
    full = q.members_by(con, "city").set_index("city")["members"].to_dict()
    assert full == {"上海": 2, "北京": 1, "广州": 1, "深圳": 1, "unknown": 1}
    assert q.members_by(con, "acquisition_channel")["members"].sum() == 6
    assert q.members_by(con, "gender").iloc[0].to_dict() == {"gender": "female", "members": 3}


def test_members_by_top_folds_the_tail_into_other(con):
    top = q.members_by(con, "city", top=2)
    # ranks: 上海 2, then ties of 1 ordered by value; the rest folds into 'other'
    assert top["members"].sum() == 6
    assert top.iloc[0].to_dict() == {"city": "上海", "members": 2}
    assert top.iloc[-1]["city"] == "other" and top.iloc[-1]["members"] == 3
    assert len(top) == 3


def test_members_by_refuses_other_columns(con):
    with pytest.raises(ValueError, match="dimension"):
        q.members_by(con, "birthday")


def test_member_growth_running_base(con):
    growth = q.member_growth(con)
    base = growth.groupby("month")["member_base"].first()
    assert list(base) == [2, 3, 6]
    assert growth["new_members"].sum() == 6
    oct_ = growth[growth["month"] == pd.Timestamp("2026-10-01")]
    assert oct_.set_index("acquisition_channel")["new_members"].to_dict() == {
        "miniprogram": 1, "tmall": 1, "wecom": 1}


def test_tier_mix_in_rank_order_with_shares(con):
    mix = q.tier_mix(con)
    assert list(mix["tier_code"]) == ["regular", "silver", "gold"]
    assert list(mix["members"]) == [3, 1, 2]
    assert mix["share"].sum() == pytest.approx(1.0)


def test_tier_movements_and_transitions(con):
    moves = q.tier_movements(con)
    got = {(m.strftime("%Y-%m"), r): n for m, r, n in moves.itertuples(index=False)}
    assert got == {("2026-08", "upgrade"): 1, ("2026-09", "upgrade"): 2,
                   ("2026-10", "downgrade"): 1, ("2026-10", "upgrade"): 1}
    tr = q.tier_transitions(con)
    pairs = {(f, t): n for f, t, n in tr[["from_tier", "to_tier", "movements"]].itertuples(index=False)}
    assert pairs == {("regular", "silver"): 1, ("silver", "gold"): 1, ("regular", "gold"): 2,
                     ("gold", "silver"): 1}


def test_rfm_segments_and_grid(con):
    assert q.rfm_windows(con) == [90, 365]
    seg = q.rfm_segments(con)
    assert seg[seg["window_days"] == 90]["members"].sum() == 4
    grid = q.rfm_grid(con, 365)
    # FM = floor((F + M + 1) / 2): (5,5)->5, (2,3)->3, (1,2)->2; unscored m4 left out
    cells = {(r, fm): n for r, fm, n in grid[["r_score", "fm_score", "members"]].itertuples(index=False)}
    assert cells == {(5, 5): 1, (5, 3): 1, (1, 2): 1}
    assert grid.loc[grid["fm_score"] == 5, "avg_monetary"].item() == pytest.approx(1500.0)


def test_lifecycle_and_aipl_in_funnel_order(con):
    stages = q.lifecycle_stages(con)
    assert list(stages["lifecycle_stage"]) == ["introduction", "growth", "maturity", "decline"]
    assert list(stages["members"]) == [2, 2, 1, 1]
    aipl = q.aipl_stages(con)
    assert list(aipl["aipl_stage"]) == ["awareness", "interest", "purchase", "loyalty"]
    assert list(aipl["members"]) == [1, 1, 2, 2]
    both = q.lifecycle_by_aipl(con)
    assert both["members"].sum() == 6
    assert both.iloc[0][["lifecycle_stage", "aipl_stage"]].tolist() == ["introduction", "awareness"]


def test_cohort_ltv_keeps_only_observed_cells(con):
    assert q.cohort_channels(con) == ["all", "pos"]
    cells = q.cohort_ltv(con, "all")
    assert len(cells) == 3  # the unobserved (2026-09, month 1) cell is not drawn as zero
    assert cells["cumulative_net_revenue_per_member"].tolist() == [300.0, 450.0, 200.0]
    sizes = q.cohort_sizes(con, "all")
    assert sizes["cohort_size"].tolist() == [2, 1]
    assert len(q.cohort_ltv(con, "pos")) == 2


def test_gmv_factors_and_contributions(con):
    assert q.gmv_channels(con) == ["all", "pos"]
    factors = q.gmv_factors(con, "all")
    assert factors["gmv"].tolist() == [1000.0, 1500.0, 900.0]
    assert factors["is_complete_month"].tolist() == [True, True, False]
    contrib = q.gmv_contributions(con, "all")
    assert len(contrib) == 2 * len(q.GMV_FACTORS)  # the first month has no change
    assert list(contrib["factor"][:5]) == list(q.GMV_FACTORS)
    sums = contrib.groupby("month").agg(total=("contribution", "sum"),
                                        change=("gmv_change_mom", "first"))
    assert sums["total"].tolist() == pytest.approx(sums["change"].tolist())
    by_channel = q.gmv_by_channel(con)
    assert set(by_channel["channel"]) == {"pos"}


def _query_functions() -> list:
    """Every public query of the module (anything taking the connection first)."""
    out = []
    for name, fn in inspect.getmembers(q, inspect.isfunction):
        params = list(inspect.signature(fn).parameters)
        if fn.__module__ == q.__name__ and params[:1] == ["con"] and not name.startswith("_"):
            out.append(fn)
    return out


def test_every_query_returns_aggregates_only(con):
    """No function hands a member-level row to a page (no member_id column, no PII names)."""
    fns = _query_functions()
    assert len(fns) >= 18
    for fn in fns:
        args = [365] if fn is q.rfm_grid else (["city"] if fn is q.members_by else [])
        result = fn(con, *args)
        if isinstance(result, pd.DataFrame):
            assert not {"member_id", "birthday", "mobile_masked", "name"} & set(result.columns), fn


def test_open_warehouse_is_read_only_and_never_creates(tmp_path, warehouse):
    missing = tmp_path / "nothing.duckdb"
    with pytest.raises(FileNotFoundError, match="make demo"), q.open_warehouse(missing):
        pass
    assert not missing.exists()
    with q.open_warehouse(warehouse) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("CREATE TABLE marts.x (a INT)")

"""Markdown profiles attached to mart materialisations."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.lib.quality.mart_markdown import markdown_table, profile_table


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("CREATE SCHEMA marts")
    yield c
    c.close()


def test_markdown_table_escapes_pipes_and_formats_ints():
    md = markdown_table(["a", "b"], [("x|y", 12345), (None, 1.5)])
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 12,345 |", "|  | 1.5 |"]


def test_tier_mix_uses_the_latest_as_of_date_only(con):
    con.execute("""CREATE TABLE marts.member_tiers AS SELECT * FROM (VALUES
        ('m1', DATE '2026-10-30', 10, 'regular', '普卡'),
        ('m1', DATE '2026-10-31', 900, 'gold', '金卡'),
        ('m2', DATE '2026-10-31', 20, 'regular', '普卡'),
        ('m3', DATE '2026-10-31', 30, 'regular', '普卡'))
        t(member_id, as_of_date, growth_value, tier_code, tier_name)""")
    md = profile_table(con, "marts", "member_tiers")["tier_mix_latest"]
    assert md.splitlines()[2:] == ["| regular | 普卡 | 2 | 25.0 |", "| gold | 金卡 | 1 | 900.0 |"]


def test_cohort_heatmap_is_a_cohort_by_month_grid(con):
    con.execute("""CREATE TABLE marts.ltv_cohorts AS SELECT * FROM (VALUES
        (DATE '2026-01-01', 'pos', 0, 10, 100.0), (DATE '2026-01-01', 'tmall', 0, 30, 200.0),
        (DATE '2026-01-01', 'pos', 1, 10, 150.0), (DATE '2026-02-01', 'pos', 0, 5, 80.0))
        t(cohort_month, acquisition_channel, months_since_acquisition, cohort_size,
          cumulative_net_revenue_per_member)""")
    lines = profile_table(con, "marts", "ltv_cohorts")["cohort_ltv_heatmap"].splitlines()
    assert lines[0] == "| cohort_month | 0 | 1 |"
    assert lines[2] == "| 2026-02-01 | 80.0 |  |"
    assert lines[3] == "| 2026-01-01 | 175.0 | 150.0 |"  # size-weighted across channels


def test_a_mart_without_the_contract_columns_gets_no_profile(con):
    con.execute("CREATE TABLE marts.member_ltv AS SELECT 1 AS other")
    assert profile_table(con, "marts", "member_ltv") == {}
    assert profile_table(con, "marts", "not_profiled") == {}

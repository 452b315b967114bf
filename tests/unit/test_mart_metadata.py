"""Distribution metadata of the member-value marts (what the Dagster asset page shows)."""

from __future__ import annotations

import duckdb

from pipelines.lib.quality.mart_metadata import markdown_table, summarise


def test_markdown_table_adds_shares():
    md = markdown_table(["tier_code", "members"], [("regular", 3), ("gold", 1)])
    assert md.splitlines() == ["| tier_code | members | share |", "|---|---|---|",
                               "| regular | 3 | 75.0% |", "| gold | 1 | 25.0% |"]


def test_summaries_of_tiers_and_rfm():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.member_tiers AS SELECT * FROM (VALUES "
                "('m1', 'gold', '金卡', 3), ('m2', 'regular', '普卡', 1), ('m3', 'regular', '普卡', 1)"
                ") t(member_id, tier_code, tier_name, tier_rank)")
    tiers = summarise(con, "marts", "member_tiers")
    assert tiers["tier_mix_chart"][1]["data"]["values"] == [
        {"tier_code": "regular", "members": 2}, {"tier_code": "gold", "members": 1}]
    con.execute("CREATE TABLE marts.member_rfm AS SELECT * FROM (VALUES "
                "('m1', 30, 'important_value', '重要价值客户', true, 5, 5, 5),"
                "('m2', 30, 'no_purchase', '窗口内无购买', false, NULL, NULL, NULL)"
                ") t(member_id, window_days, segment_code, segment_name, is_scored, r_score, f_score, m_score)")
    rfm = summarise(con, "marts", "member_rfm")
    assert rfm["rfm_grid_30d_chart"][1]["data"]["values"] == [{"r_score": 5, "fm_score": 5, "members": 1}]
    assert summarise(con, "marts", "fct_orders") == {}

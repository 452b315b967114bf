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


def test_summaries_of_groups():
    """Group counts by status, the zombie share of live groups (1 of 3: the dismissed group
    is not live) and the layer mix of live groups' members, as a table and a stacked bar."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.group_chats AS SELECT * FROM (VALUES "
                "('g1', 'active', 10, 2, 3, 5), ('g2', 'active', 4, 1, 0, 3), "
                "('g3', 'zombie', 6, 1, 0, 5), ('g4', 'dismissed', 0, 0, 0, 0)"
                ") t(chat_id, status, current_customers, core_members, influence_members, "
                "periphery_members)")
    md = summarise(con, "marts", "group_chats")
    assert md["group_status"][1].splitlines()[2:] == [
        "| active | 2 | 50.0% |", "| zombie | 1 | 25.0% |", "| dismissed | 1 | 25.0% |"]
    assert md["zombie_share"][1] == "1 of 3 live groups (33.3%) are zombies"
    assert md["layer_mix"][1].splitlines()[2:] == ["| active | 3 | 3 | 8 |", "| zombie | 1 | 0 | 5 |"]
    chart = md["layer_mix_chart"][1]
    assert chart["encoding"]["y"]["stack"] == "zero"
    assert {"status": "zombie", "layer": "外围 periphery", "members": 5} in chart["data"]["values"]
    con.execute("CREATE TABLE marts.group_member_layers AS SELECT * FROM (VALUES "
                "('m1', 'core', '核心', 1), ('m2', 'periphery', '外围', 3), ('m3', 'periphery', '外围', 3)"
                ") t(member_id, layer, layer_name, layer_rank)")
    layers = summarise(con, "marts", "group_member_layers")
    assert layers["layer_mix"][1].splitlines()[2:] == [
        "| core | 核心 | 1 | 33.3% |", "| periphery | 外围 | 2 | 66.7% |"]

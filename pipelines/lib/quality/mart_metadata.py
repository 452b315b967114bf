"""Charts and stage tables for the member-value marts, shown on their Dagster materialisations.

Operators open the asset page and see the tier mix, the RFM segments and the lifecycle stages
of the night without a SQL shell; a Vega-Lite spec draws the tier mix and the RFM grid. Each
entry is one aggregate query over the freshly built table, run in the short read-only
connection the dbt step already opens for row counts. The plain Markdown profiles of every
mart (tier mix, RFM segments, cohorts, ...) are in `mart_profiles`; this module adds the
Vega-Lite charts, the lifecycle/AIPL stages and the audience sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from pipelines.lib.quality.mart_markdown import markdown_table as profile_markdown

VEGA_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    """mart_profiles' Markdown table with a share column added after the trailing count."""
    total = sum(r[-1] for r in rows) or 1
    return profile_markdown([*columns, "share"],
                            [(*r, f"{r[-1] / total:.1%}") for r in rows])


def _bar_chart(title: str, field: str, rows: list[tuple]) -> dict[str, Any]:
    return {
        "$schema": VEGA_SCHEMA, "title": title,
        "data": {"values": [{field: r[0], "members": r[-1]} for r in rows]},
        "mark": "bar",
        "encoding": {"x": {"field": field, "type": "nominal", "sort": None},
                     "y": {"field": "members", "type": "quantitative"}},
    }


def _tiers(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    rows = con.execute(f"""
        SELECT tier_code, tier_name, count(*) FROM {table}
        GROUP BY tier_code, tier_name, tier_rank ORDER BY tier_rank""").fetchall()
    # the Markdown tier mix is mart_profiles' tier_mix_latest
    return {"tier_mix_chart": ("json", _bar_chart("Tier mix", "tier_code", rows))}


def _rfm(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    windows = [w for (w,) in con.execute(
        f"SELECT DISTINCT window_days FROM {table} ORDER BY 1").fetchall()]
    # segment tables per window are mart_profiles' rfm_segments_latest
    if windows:
        w = max(windows)
        grid = con.execute(f"""
            SELECT r_score, cast(floor((f_score + m_score + 1) / 2.0) AS INTEGER) AS fm, count(*)
            FROM {table} WHERE window_days = {int(w)} AND is_scored GROUP BY 1, 2 ORDER BY 1, 2
        """).fetchall()
        out[f"rfm_grid_{w}d_chart"] = ("json", {
            "$schema": VEGA_SCHEMA, "title": f"R score × FM score, {w}-day window",
            "data": {"values": [{"r_score": r, "fm_score": fm, "members": n} for r, fm, n in grid]},
            "mark": "rect",
            "encoding": {"x": {"field": "fm_score", "type": "ordinal"},
                         "y": {"field": "r_score", "type": "ordinal", "sort": "descending"},
                         "color": {"field": "members", "type": "quantitative"}},
        })
    return out


def _lifecycle(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    stages = con.execute(f"""
        SELECT lifecycle_stage, lifecycle_stage_name, count(*) FROM {table}
        GROUP BY 1, 2 ORDER BY CASE lifecycle_stage WHEN 'introduction' THEN 1 WHEN 'growth' THEN 2
        WHEN 'maturity' THEN 3 WHEN 'decline' THEN 4 ELSE 5 END""").fetchall()
    aipl = con.execute(f"""
        SELECT aipl_stage, count(*) FROM {table} GROUP BY 1 ORDER BY CASE aipl_stage
        WHEN 'awareness' THEN 1 WHEN 'interest' THEN 2 WHEN 'purchase' THEN 3 ELSE 4 END""").fetchall()
    return {"lifecycle_stages": ("md", markdown_table(["stage", "name", "members"], stages)),
            "aipl_stages": ("md", markdown_table(["aipl_stage", "members"], aipl)),
            "lifecycle_chart": ("json", _bar_chart("Lifecycle stages", "stage", stages))}


def _audiences(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    rows = con.execute(f"""SELECT audience_code, audience_name, count(*) FROM {table}
                           GROUP BY 1, 2 ORDER BY 1""").fetchall()
    return {"audience_sizes": ("md", markdown_table(["audience_code", "name", "members"], rows))}


def _group_chats(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    """WeCom customer groups: counts by status, the zombie share of live groups, and the
    layer mix (core / influence / periphery) of the live groups' members by status."""
    status = con.execute(f"""
        SELECT status, count(*), sum(current_customers) FROM {table}
        GROUP BY 1 ORDER BY CASE status WHEN 'active' THEN 1 WHEN 'zombie' THEN 2 ELSE 3 END
    """).fetchall()
    counts = {st: n for st, n, _ in status}
    live = counts.get("active", 0) + counts.get("zombie", 0)
    mix = con.execute(f"""
        SELECT status, sum(core_members), sum(influence_members), sum(periphery_members)
        FROM {table} WHERE status <> 'dismissed' GROUP BY 1 ORDER BY 1""").fetchall()
    values = [{"status": st, "layer": layer, "members": int(n or 0)}
              for st, *ns in mix
              for layer, n in zip(("核心 core", "影响 influence", "外围 periphery"), ns, strict=True)]
    return {
        "group_status": ("md", markdown_table(["status", "groups"],
                                              [(st, n) for st, n, _ in status])),
        "zombie_share": ("md", f"{counts.get('zombie', 0)} of {live} live groups "
                               f"({counts.get('zombie', 0) / live:.1%}) are zombies"
                         if live else "no live groups"),
        "layer_mix": ("md", profile_markdown(
            ["status", "core", "influence", "periphery"],
            [(st, *(int(n or 0) for n in ns)) for st, *ns in mix])),
        "layer_mix_chart": ("json", {
            "$schema": VEGA_SCHEMA, "title": "Group members by layer (live groups)",
            "data": {"values": values}, "mark": "bar",
            "encoding": {"x": {"field": "status", "type": "nominal"},
                         "y": {"field": "members", "type": "quantitative", "stack": "zero"},
                         "color": {"field": "layer", "type": "nominal"}},
        }),
    }


def _group_layers(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    rows = con.execute(f"""SELECT layer, layer_name, count(*) FROM {table}
                           GROUP BY layer, layer_name, layer_rank ORDER BY layer_rank""").fetchall()
    return {"layer_mix": ("md", markdown_table(["layer", "name", "members"], rows)),
            "layer_mix_chart": ("json", _bar_chart("Members by layer", "layer", rows))}


SUMMARIES: dict[str, Callable[[duckdb.DuckDBPyConnection, str], dict[str, Any]]] = {
    "member_tiers": _tiers,
    "member_rfm": _rfm,
    "member_lifecycle": _lifecycle,
    "member_audiences": _audiences,
    "group_chats": _group_chats,
    "group_member_layers": _group_layers,
}


def summarise(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, tuple[str, Any]]:
    """("md" | "json", value) pairs describing the mart, or {} for relations without a summary
    (a `bi` relation may share a mart's name, `bi.member_audiences`, not its columns)."""
    fn = SUMMARIES.get(name) if schema == "marts" else None
    return fn(con, f'"{schema}"."{name}"') if fn else {}

"""Small Markdown profiles of the marts, attached to each materialisation in the Dagster UI.

A data engineer opening `marts/member_tiers` should see the tier mix of this night without
writing SQL; these are the distributions that tell at a glance whether a run looks right
(channel mix, order statuses, tier mix, RFM segments, lifecycle stages, cohort LTV grid).
Each profile is one aggregate query over the warehouse contract columns; a mart that does not
(yet) have the columns simply gets no profile. Pure DuckDB, no Dagster imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Profile:
    name: str
    sql: str  # `{t}` is the fully qualified table


#: table name → profiles (contract columns only, see docs/warehouse-contract.md)
PROFILES: dict[str, tuple[Profile, ...]] = {
    "dim_member": (
        Profile("members_by_acquisition_channel",
                "SELECT acquisition_channel, count(*) AS members, "
                "sum(CASE WHEN is_shared_identifier_flagged THEN 1 ELSE 0 END) AS flagged "
                "FROM {t} GROUP BY 1 ORDER BY 2 DESC"),
    ),
    "fct_orders": (
        Profile("orders_by_channel_and_status",
                "SELECT channel, status, count(*) AS orders, "
                "round(sum(net_amount), 2) AS net_amount_yuan, "
                "round(avg(CASE WHEN member_id IS NULL THEN 0 ELSE 1 END), 3) AS member_share "
                "FROM {t} GROUP BY 1, 2 ORDER BY 1, 3 DESC"),
    ),
    "member_tiers": (
        Profile("tier_mix_latest",
                "SELECT tier_code, tier_name, count(*) AS members, "
                "round(avg(growth_value), 1) AS avg_growth_value FROM {t} "
                "WHERE as_of_date = (SELECT max(as_of_date) FROM {t}) GROUP BY 1, 2 ORDER BY 3 DESC"),
    ),
    "member_rfm": (
        Profile("rfm_segments_latest",
                "SELECT window_days, segment_code, segment_name, count(*) AS members, "
                "round(avg(monetary), 2) AS avg_monetary FROM {t} "
                "WHERE as_of_date = (SELECT max(as_of_date) FROM {t}) "
                "GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC"),
        Profile("rfm_grid_r_by_f",
                "SELECT r_score, "
                "count(*) FILTER (WHERE f_score = 1) AS f1, count(*) FILTER (WHERE f_score = 2) AS f2, "
                "count(*) FILTER (WHERE f_score = 3) AS f3, count(*) FILTER (WHERE f_score = 4) AS f4, "
                "count(*) FILTER (WHERE f_score = 5) AS f5 FROM {t} "
                "WHERE as_of_date = (SELECT max(as_of_date) FROM {t}) "
                "AND window_days = (SELECT max(window_days) FROM {t}) GROUP BY 1 ORDER BY 1 DESC"),
    ),
    "member_ltv": (
        Profile("predicted_clv_deciles",
                "SELECT decile, count(*) AS members, round(avg(predicted_clv_365d), 2) AS avg_clv, "
                "round(avg(p_alive), 3) AS avg_p_alive FROM (SELECT *, "
                "ntile(10) OVER (ORDER BY predicted_clv_365d DESC) AS decile FROM {t}) "
                "GROUP BY 1 ORDER BY 1"),
    ),
    "ltv_cohorts": (
        Profile("cohort_ltv_heatmap",
                "PIVOT (SELECT cohort_month, months_since_acquisition AS m, "
                "round(sum(cumulative_net_revenue_per_member * cohort_size) / sum(cohort_size), 1) AS v "
                "FROM {t} WHERE months_since_acquisition <= 6 GROUP BY 1, 2) "
                "ON m USING first(v) GROUP BY cohort_month ORDER BY cohort_month DESC LIMIT 12"),
    ),
    "gmv_drivers": (
        Profile("gmv_by_month_and_channel",
                "SELECT month, channel, round(gmv, 2) AS gmv, members, "
                "round(average_order_value, 2) AS aov FROM {t} ORDER BY month DESC, gmv DESC "
                "LIMIT 24"),
    ),
}


def _cell(v: object) -> str:
    text = "" if v is None else (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (what the Dagster UI renders for md metadata)."""
    head = "| " + " | ".join(_cell(c) for c in columns) + " |"
    sep = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return "\n".join([head, sep, *(body or ["| " + " | ".join("" for _ in columns) + " |"])])


def profile_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Markdown profiles of `schema.table`, by profile name; {} when none apply or fit."""
    out: dict[str, str] = {}
    for p in PROFILES.get(table, ()) if schema == "marts" else ():
        try:
            cur = con.execute(p.sql.format(t=f'"{schema}"."{table}"'))
            rows = cur.fetchall()
            cols = [d[0] for d in cur.description]
        except duckdb.Error:  # columns not there (yet): no profile rather than a failed step
            continue
        out[p.name] = markdown_table(cols, rows)
    return out

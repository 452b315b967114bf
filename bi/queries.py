"""Every query behind the Siyu dashboards: small functions from a DuckDB connection to a DataFrame.

The pages in `bi/views/` only draw what these return, so the numbers can be tested on a tiny
DuckDB file without a browser (tests/unit/test_bi_queries.py). Rules that keep the dashboards
safe to share inside the brand:

* only aggregates leave this module — no `member_id`, no row per member;
* from `marts.dim_member` only `acquisition_channel`, `city`, `gender` and `first_seen_at` are
  read: names, birthdays and (masked) mobiles never reach a dashboard;
* the warehouse is opened read-only and only for the length of one page's queries
  (`open_warehouse`): a read-only DuckDB connection held open would block the nightly writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.lib.warehouse import connect
from pipelines.settings import load_settings

#: dim_member columns the dashboards may read (the rest is personal data).
MEMBER_DIMENSIONS = ("acquisition_channel", "city", "gender")

#: Lifecycle and AIPL stages in funnel order (the marts' codes).
LIFECYCLE_ORDER = ("introduction", "growth", "maturity", "decline", "churned")
AIPL_ORDER = ("awareness", "interest", "purchase", "loyalty")

#: The five GMV factors of marts.gmv_drivers, in the order of the driver tree.
GMV_FACTORS = ("members", "retention_rate", "conversion_rate", "repurchase_count",
               "average_order_value")


def warehouse_path() -> Path:
    """$SIYU_WAREHOUSE, else data/warehouse/siyu.duckdb — the same file `siyu run` writes."""
    return load_settings().warehouse


@contextmanager
def open_warehouse(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short read-only connection; raises FileNotFoundError before DuckDB would create a file."""
    if not path.is_file():
        raise FileNotFoundError(f"no warehouse at {path}: run `make demo` (or `siyu run`) first")
    with connect(path, read_only=True) as con:
        yield con


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def as_of_date(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The day the member-value marts describe (one row, column as_of_date)."""
    return _df(con, "SELECT max(as_of_date) AS as_of_date FROM marts.member_tiers")


# --- member base ---------------------------------------------------------------------------

def member_totals(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Members, buyers (≥ 1 purchase by the as-of day) and members first seen in the last 30 days."""
    return _df(con, """
        WITH as_of AS (SELECT max(as_of_date) AS d FROM marts.member_lifecycle)
        SELECT
            (SELECT count(*) FROM marts.dim_member) AS members,
            (SELECT count(*) FROM marts.member_lifecycle WHERE orders_total > 0) AS buyers,
            (SELECT count(*) FROM marts.dim_member, as_of
              WHERE CAST(first_seen_at AS DATE) > as_of.d - INTERVAL 30 DAY
                AND CAST(first_seen_at AS DATE) <= as_of.d) AS new_members_30d
    """)


def members_by(con: duckdb.DuckDBPyConnection, dimension: str, top: int = 15) -> pd.DataFrame:
    """Members per value of one dim_member dimension, largest first; beyond `top` values the rest
    is one 'other' row and a missing value is 'unknown', so the bars always sum to all members."""
    if dimension not in MEMBER_DIMENSIONS:
        raise ValueError(f"dimension must be one of {MEMBER_DIMENSIONS}, not {dimension!r}")
    return _df(con, f"""
        WITH counted AS (
            SELECT coalesce({dimension}, 'unknown') AS value, count(*) AS members
            FROM marts.dim_member GROUP BY 1
        ), ranked AS (
            SELECT value, members, row_number() OVER (ORDER BY members DESC, value) AS rank
            FROM counted
        )
        SELECT CASE WHEN rank <= ? THEN value ELSE 'other' END AS {dimension},
               sum(members)::BIGINT AS members,
               min(rank) AS rank
        FROM ranked GROUP BY 1 ORDER BY rank
    """, [top]).drop(columns="rank")


def member_growth(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """New members per month (first seen) by acquisition channel, and the running member base."""
    return _df(con, """
        WITH monthly AS (
            SELECT CAST(date_trunc('month', first_seen_at) AS DATE) AS month,
                   coalesce(acquisition_channel, 'unknown') AS acquisition_channel,
                   count(*) AS new_members
            FROM marts.dim_member GROUP BY 1, 2
        )
        SELECT month, acquisition_channel, new_members,
               sum(new_members) OVER (ORDER BY month RANGE BETWEEN UNBOUNDED PRECEDING
                                      AND CURRENT ROW)::BIGINT AS member_base
        FROM monthly ORDER BY month, acquisition_channel
    """)


# --- tiers ---------------------------------------------------------------------------------

def tier_mix(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Members per tier held on the as-of day, lowest tier first, with each tier's share."""
    return _df(con, """
        SELECT tier_code, tier_name, tier_rank, count(*) AS members,
               count(*) / sum(count(*)) OVER () AS share
        FROM marts.member_tiers GROUP BY 1, 2, 3 ORDER BY tier_rank
    """)


def tier_movements(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Upgrades and downgrades per month (the month a new spell starts; enrolments left out)."""
    return _df(con, """
        SELECT CAST(date_trunc('month', valid_from) AS DATE) AS month, change_reason,
               count(*) AS movements
        FROM marts.member_tier_history
        WHERE change_reason IN ('upgrade', 'downgrade')
        GROUP BY 1, 2 ORDER BY 1, 2
    """)


def tier_transitions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Moves from one tier to the next spell's tier (from → to), over the whole history."""
    return _df(con, """
        SELECT prev.tier_code AS from_tier, prev.tier_rank AS from_rank,
               nxt.tier_code AS to_tier, nxt.tier_rank AS to_rank, count(*) AS movements
        FROM marts.member_tier_history AS nxt
        JOIN marts.member_tier_history AS prev
          ON prev.member_id = nxt.member_id AND prev.spell_number = nxt.spell_number - 1
        GROUP BY 1, 2, 3, 4 ORDER BY from_rank, to_rank
    """)


# --- RFM -----------------------------------------------------------------------------------

def rfm_windows(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The look-back windows scored in marts.member_rfm (e.g. 30, 90, 365 days)."""
    return [int(w) for w in _df(con, "SELECT DISTINCT window_days FROM marts.member_rfm "
                                     "ORDER BY 1")["window_days"]]


def rfm_segments(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Members per Chinese eight-segment RFM segment and window (no_purchase included)."""
    return _df(con, """
        SELECT window_days, segment_code, segment_name, count(*) AS members
        FROM marts.member_rfm GROUP BY 1, 2, 3 ORDER BY 1, members DESC, 2
    """)


def rfm_grid(con: duckdb.DuckDBPyConnection, window_days: int) -> pd.DataFrame:
    """Scored members by R score × FM score (mean of F and M, halves rounded up), as the
    member_rfm materialisation's chart in Dagster draws it."""
    return _df(con, """
        SELECT r_score, CAST(floor((f_score + m_score + 1) / 2.0) AS INTEGER) AS fm_score,
               count(*) AS members, avg(monetary)::DOUBLE AS avg_monetary
        FROM marts.member_rfm WHERE window_days = ? AND is_scored
        GROUP BY 1, 2 ORDER BY 1, 2
    """, [window_days])


# --- lifecycle -----------------------------------------------------------------------------

def _order_case(column: str, order: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN '{code}' THEN {i}" for i, code in enumerate(order))
    return f"CASE {column} {whens} ELSE {len(order)} END"


def lifecycle_stages(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Members per lifecycle stage in stage order, with the stage's Chinese name and share."""
    return _df(con, f"""
        SELECT lifecycle_stage, lifecycle_stage_name, count(*) AS members,
               count(*) / sum(count(*)) OVER () AS share
        FROM marts.member_lifecycle GROUP BY 1, 2
        ORDER BY {_order_case("lifecycle_stage", LIFECYCLE_ORDER)}
    """)


def aipl_stages(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Members per AIPL stage (awareness → loyalty) in funnel order, with shares."""
    return _df(con, f"""
        SELECT aipl_stage, count(*) AS members, count(*) / sum(count(*)) OVER () AS share
        FROM marts.member_lifecycle GROUP BY 1
        ORDER BY {_order_case("aipl_stage", AIPL_ORDER)}
    """)


def lifecycle_by_aipl(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Members per (lifecycle stage, AIPL stage): how the two views of the base overlap."""
    return _df(con, f"""
        SELECT lifecycle_stage, aipl_stage, count(*) AS members
        FROM marts.member_lifecycle GROUP BY 1, 2
        ORDER BY {_order_case("lifecycle_stage", LIFECYCLE_ORDER)},
                 {_order_case("aipl_stage", AIPL_ORDER)}
    """)


# --- cohort LTV ----------------------------------------------------------------------------

def cohort_channels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Acquisition channels of ltv_cohorts, 'all' first."""
    rows = _df(con, "SELECT DISTINCT acquisition_channel FROM marts.ltv_cohorts "
                    "ORDER BY acquisition_channel <> 'all', acquisition_channel")
    return list(rows["acquisition_channel"])


def cohort_ltv(con: duckdb.DuckDBPyConnection, channel: str = "all") -> pd.DataFrame:
    """The cohort triangle for one acquisition channel: fully observed cells only (the mart
    keeps unobserved cells null; they are dropped rather than drawn as zero)."""
    return _df(con, """
        SELECT cohort_month, months_since_acquisition, cohort_size, members_active,
               retention_rate,
               cumulative_net_revenue_per_member::DOUBLE AS cumulative_net_revenue_per_member,
               cumulative_gross_profit_per_member::DOUBLE AS cumulative_gross_profit_per_member
        FROM marts.ltv_cohorts
        WHERE acquisition_channel = ? AND is_fully_observed
        ORDER BY cohort_month, months_since_acquisition
    """, [channel])


def cohort_sizes(con: duckdb.DuckDBPyConnection, channel: str = "all") -> pd.DataFrame:
    """Members per acquisition cohort (month of the first paid order) for one channel."""
    return _df(con, """
        SELECT DISTINCT cohort_month, cohort_size FROM marts.ltv_cohorts
        WHERE acquisition_channel = ? ORDER BY cohort_month
    """, [channel])


# --- GMV drivers ---------------------------------------------------------------------------

def gmv_channels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Channels of gmv_drivers, 'all' first."""
    rows = _df(con, "SELECT DISTINCT channel FROM marts.gmv_drivers "
                    "ORDER BY channel <> 'all', channel")
    return list(rows["channel"])


def gmv_factors(con: duckdb.DuckDBPyConnection, channel: str = "all") -> pd.DataFrame:
    """GMV and its five factors per month for one channel (GMV = product of the factors)."""
    cols = ", ".join(GMV_FACTORS)
    return _df(con, f"""
        SELECT month, gmv::DOUBLE AS gmv, {cols}, active_members, buyers, orders,
               is_complete_month
        FROM marts.gmv_drivers WHERE channel = ? ORDER BY month
    """, [channel])


def gmv_contributions(con: duckdb.DuckDBPyConnection, channel: str = "all") -> pd.DataFrame:
    """Month-over-month GMV change split across the factors (LMDI), one row per month × factor;
    per month the contributions sum to gmv_change_mom. The first month has no change."""
    unpivot = " UNION ALL ".join(
        f"SELECT month, '{f}' AS factor, {i} AS factor_order, {f}_contribution_mom AS contribution,"
        f" gmv_change_mom FROM marts.gmv_drivers WHERE channel = ? AND gmv_change_mom IS NOT NULL"
        for i, f in enumerate(GMV_FACTORS))
    return _df(con, f"SELECT month, factor, contribution, gmv_change_mom FROM ({unpivot}) "
                    "ORDER BY month, factor_order", [channel] * len(GMV_FACTORS))


def gmv_by_channel(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """GMV per month and channel (the channels, not 'all'), for the stacked overview."""
    return _df(con, """
        SELECT month, channel, gmv::DOUBLE AS gmv, is_complete_month
        FROM marts.gmv_drivers WHERE channel <> 'all' ORDER BY month, channel
    """)

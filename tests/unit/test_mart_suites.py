"""Mart suites: the distributional checks trip on a partial delivery and a matching collapse."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from pipelines.lib.quality.mart_suites import evaluate, load_mart_suites
from pipelines.settings import EXPECTATIONS_DIR

AS_OF = date(2024, 6, 30)
SUITES = {s.name: s for s in load_mart_suites(EXPECTATIONS_DIR / "marts")}


def _orders(today_orders: int, today_matched: float) -> duckdb.DuckDBPyConnection:
    """28 normal days of 100 orders (60% matched), then `today_orders` on AS_OF."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA m")
    rows = []
    for back in range(1, 29):
        d = AS_OF - timedelta(days=back)
        rows += [(f"{d}:{i}", d, f"M{i}" if i < 60 else None) for i in range(100)]
    rows += [(f"{AS_OF}:{i}", AS_OF, f"M{i}" if i < today_orders * today_matched else None)
             for i in range(today_orders)]
    con.execute("CREATE TABLE m.fct_orders (order_key VARCHAR, ordered_at TIMESTAMP, member_id VARCHAR)")
    con.executemany("INSERT INTO m.fct_orders VALUES (?, ?, ?)", rows)
    return con


@pytest.mark.parametrize(("orders", "matched", "blocking_ok", "watch_ok"), [
    (100, 0.6, True, True),    # an ordinary day
    (60, 0.6, True, True),     # a quiet day inside the warn band
    (40, 0.6, True, False),    # unusual: warn only
    (10, 0.6, False, False),   # partial delivery: blocks the publish
    (500, 0.6, False, False),  # double delivery
    (100, 0.2, False, False),  # matching collapsed by 40 points
    (100, 0.45, True, False),  # matching fell 15 points: warn
])
def test_daily_profile_bands(orders, matched, blocking_ok, watch_ok):
    con = _orders(orders, matched)
    assert evaluate(con, SUITES["fct_orders__daily"], "m", AS_OF).passed is blocking_ok
    watch = evaluate(con, SUITES["fct_orders__daily_watch"], "m", AS_OF)
    assert (not watch.warnings) is watch_ok
    assert SUITES["fct_orders__daily"].blocking and not SUITES["fct_orders__daily_watch"].blocking


def test_short_history_is_not_judged():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA m")
    con.execute("CREATE TABLE m.fct_orders AS SELECT 'k' || i AS order_key, "
                "TIMESTAMP '2024-06-30 10:00' AS ordered_at, NULL::VARCHAR AS member_id "
                "FROM range(3) t(i)")
    out = evaluate(con, SUITES["fct_orders__daily"], "m", AS_OF)
    assert out.passed and len(out.outcomes) == 2



def test_big_mart_frame_keeps_every_new_row_and_samples_the_rest(monkeypatch):
    """A defect in tonight's rows must not hide behind the sample; older rows are sampled."""
    from pipelines.lib.quality import mart_suites

    monkeypatch.setattr(mart_suites, "GX_MAX_ROWS", 1_000)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA m")
    con.execute("CREATE TABLE m.fct_orders AS SELECT 'k' || i AS order_key, "
                "DATE '2024-06-01' + CAST(i // 1000 AS INTEGER) AS last_delivered_dt "
                "FROM range(30000) t(i)")  # 1,000 rows per day, days 06-01 .. 06-30
    suite = SUITES["fct_orders"]
    assert suite.new_rows_column == "last_delivered_dt"
    night = mart_suites.suite_frame(con, suite, "m", AS_OF, since=date(2024, 6, 30))
    assert len(night) == 1_000 and (night["last_delivered_dt"].dt.date == date(2024, 6, 30)).all()
    quiet = mart_suites.suite_frame(con, suite, "m", AS_OF, since=date(2024, 7, 1))
    assert len(quiet) == 1_000 and quiet["last_delivered_dt"].nunique() > 20  # a spread sample
    con.execute("DELETE FROM m.fct_orders WHERE last_delivered_dt = DATE '2024-06-30' "
                "AND order_key NOT IN ('k29000', 'k29001')")  # a small night: 2 new rows
    small = mart_suites.suite_frame(con, suite, "m", AS_OF, since=date(2024, 6, 30))
    assert len(small) == 1_000
    assert {"k29000", "k29001"} <= set(small["order_key"])
    again = mart_suites.suite_frame(con, suite, "m", AS_OF, since=date(2024, 6, 30))
    assert list(again["order_key"]) == list(small["order_key"])  # repeatable

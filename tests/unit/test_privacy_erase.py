"""Regression: `siyu forget` on a warehouse with the member-value marts.

The first rule anonymised every table with `order_key` + `member_id`, which hit the growth
ledger's NOT NULL member_id and aborted the erasure. Order facts (`fct_*`) keep their rows as
guest orders; the ledger — the person's points — is deleted.
"""

from __future__ import annotations

import duckdb

from pipelines.lib.privacy.forget import forget


def test_forget_deletes_ledger_rows_and_keeps_orders_as_guest_orders():
    con = duckdb.connect()
    for schema in ("marts",):
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.fct_orders (order_key VARCHAR, member_id VARCHAR, "
                    "paid_amount DECIMAL(18,2))")
        con.execute(f"INSERT INTO {schema}.fct_orders VALUES ('pos:1', 'M1', 10), ('pos:2', 'M2', 5)")
        con.execute(f"CREATE TABLE {schema}.member_growth_ledger (member_id VARCHAR NOT NULL, "
                    "order_key VARCHAR, points BIGINT NOT NULL)")
        con.execute(f"INSERT INTO {schema}.member_growth_ledger VALUES ('M1', 'pos:1', 100), "
                    "('M2', 'pos:2', 50)")
    con.execute("CREATE SCHEMA intermediate")
    con.execute("CREATE TABLE intermediate.int_member_value__activity AS "
                "SELECT 'M1' AS member_id, 3 AS events UNION ALL SELECT 'M2', 1")
    con.execute("CREATE TABLE marts.dim_member AS SELECT 'M1' AS member_id UNION ALL SELECT 'M2'")
    result = forget(con, member_id="M1")
    assert result.members == 1
    for schema in ("marts",):
        assert con.execute(f"SELECT order_key, member_id FROM {schema}.fct_orders ORDER BY 1"
                           ).fetchall() == [("pos:1", None), ("pos:2", "M2")]
        assert con.execute(f"SELECT member_id FROM {schema}.member_growth_ledger").fetchall() == [("M2",)]
    assert con.execute("SELECT member_id FROM intermediate.int_member_value__activity"
                       ).fetchall() == [("M2",)]
    assert con.execute("SELECT count(*) FROM privacy.erasure_requests").fetchall() == [(1,)]

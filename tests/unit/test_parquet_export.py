"""The Parquet export rewrites only the months a night changed; the result still equals the
warehouse (the slow round trip on a real run is tests/serving/test_export.py)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from pipelines.lib.serving.parquet_export import export_parquet, read_exported


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE SCHEMA bi")
    con.execute("""CREATE TABLE marts.fct_orders AS
        SELECT 'o' || i AS order_key, TIMESTAMP '2026-01-15 10:00' + INTERVAL (i % 3) MONTH
               AS ordered_at, CAST(i AS DECIMAL(18, 2)) AS net_amount
        FROM range(30) t(i)""")  # 10 orders in each of 2026-01, -02, -03
    con.execute("CREATE TABLE marts.dim_member AS SELECT 'M1' AS member_id")
    return con


def _files(folder: Path) -> dict[str, int]:
    """partition folder → inode of its Parquet file (a reused month keeps its inode)."""
    return {p.parent.name: p.stat().st_ino for p in folder.rglob("*.parquet")}


def _equal(con: duckdb.DuckDBPyConnection, out: Path, relation: str) -> bool:
    manifest = {t["path"]: t for t in json.loads((out / "_manifest.json").read_text())["tables"]}
    from pipelines.lib.serving.parquet_export import ExportedTable

    t = manifest[relation]
    back = read_exported(con, out, ExportedTable(t["schema"], t["name"], t["type"], t["rows"],
                                                 tuple(t["columns"]), t["hive_partition"]))
    src = relation.replace("/", ".")
    return all(con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall()[0][0] == 0
               for a, b in ((f"SELECT * FROM {src}", back), (back, f"SELECT * FROM {src}")))


def test_a_night_rewrites_only_the_months_it_changed(tmp_path: Path):
    con, out = _warehouse(), tmp_path / "export"
    first = export_parquet(con, out)
    orders = out / "marts" / "fct_orders"
    before = _files(orders)
    assert sorted(before) == ["order_month=2026-01", "order_month=2026-02", "order_month=2026-03"]
    assert {t.relpath: t.reused_partitions for t in first.tables}["marts/fct_orders"] == 0
    # written out of order for speed; the caller's connection is left as it was
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(True,)]

    # a refund in February and a new order in April
    con.execute("UPDATE marts.fct_orders SET net_amount = 0 WHERE order_key = 'o1'")
    con.execute("INSERT INTO marts.fct_orders VALUES ('o99', TIMESTAMP '2026-04-01 09:00', 5)")
    second = export_parquet(con, out)
    after = _files(orders)
    assert after["order_month=2026-01"] == before["order_month=2026-01"]  # hard-linked
    assert after["order_month=2026-03"] == before["order_month=2026-03"]
    assert after["order_month=2026-02"] != before["order_month=2026-02"]  # rewritten
    assert "order_month=2026-04" in after
    table = {t.relpath: t for t in second.tables}["marts/fct_orders"]
    assert (table.reused_partitions, table.rows) == (2, 31)
    assert _equal(con, out, "marts/fct_orders") and _equal(con, out, "marts/dim_member")

    # a deleted order is a change too; a changed column set rewrites every month
    con.execute("DELETE FROM marts.fct_orders WHERE order_key = 'o0'")  # January
    export_parquet(con, out)
    assert _files(orders)["order_month=2026-01"] != after["order_month=2026-01"]
    assert _equal(con, out, "marts/fct_orders")
    con.execute("ALTER TABLE marts.fct_orders ADD COLUMN note VARCHAR")
    last = {t.relpath: t for t in export_parquet(con, out).tables}["marts/fct_orders"]
    assert last.reused_partitions == 0 and _equal(con, out, "marts/fct_orders")


def test_an_unreadable_previous_manifest_means_a_full_export(tmp_path: Path):
    con, out = _warehouse(), tmp_path / "export"
    export_parquet(con, out)
    (out / "_manifest.json").write_text("{not json", encoding="utf-8")
    again = {t.relpath: t for t in export_parquet(con, out).tables}["marts/fct_orders"]
    assert again.reused_partitions == 0 and _equal(con, out, "marts/fct_orders")

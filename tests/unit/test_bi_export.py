"""The BI export holds the `bi` views only, as tables, in an owner-only file."""

from __future__ import annotations

import stat
from pathlib import Path

import duckdb

from pipelines.lib.bi_export import export_bi
from pipelines.lib.warehouse import connect


def test_export_contains_only_bi_and_is_owner_only(tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    with connect(wh) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE SCHEMA bi")
        con.execute("CREATE TABLE marts.dim_member AS SELECT 'M1' AS member_id, "
                    "DATE '1990-01-02' AS birthday")
        con.execute("CREATE VIEW bi.members AS SELECT member_id FROM marts.dim_member")
    out = tmp_path / "exports" / "bi.duckdb"
    out.parent.mkdir()
    out.write_text("yesterday")  # replaced, not appended to
    assert export_bi(wh, out) == {"members": 1}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with duckdb.connect(str(out), read_only=True) as con:  # the export, not the warehouse
        tables = con.execute("SELECT table_schema, table_name, table_type "
                             "FROM information_schema.tables").fetchall()
        assert tables == [("main", "members", "BASE TABLE")]
        assert con.execute("SELECT * FROM members").fetchall() == [("M1",)]
    assert not list(out.parent.glob(".*tmp"))

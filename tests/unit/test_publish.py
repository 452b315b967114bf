"""Build-then-publish: the swap into `marts` is all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.lib.publish import BUILD_SCHEMA, mart_models, physical_schema, publish
from tests.fixtures.warehouse_state import table_hashes


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    for schema in ("marts", BUILD_SCHEMA):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute("CREATE TABLE marts.a AS SELECT 1 AS x")
    con.execute("CREATE TABLE marts.b AS SELECT 'old' AS y")
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.a AS SELECT 2 AS x")
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.b AS SELECT 'new' AS y, 3 AS z")
    return con


def test_publish_replaces_every_table(tmp_path: Path):
    con = _warehouse(tmp_path / "w.duckdb")
    result = publish(con, ["a", "b"])
    assert result.rows == {"a": 1, "b": 1}
    assert con.execute("SELECT * FROM marts.b").fetchall() == [("new", 3)]
    # the copies may be written out of order; the caller's connection is left as it was
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(True,)]


def test_missing_build_table_leaves_marts_untouched(tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    con = _warehouse(wh)
    con.close()
    before = table_hashes(wh, ("marts",))
    with duckdb.connect(str(wh)) as con, pytest.raises(RuntimeError, match="lacks c"):
        publish(con, ["a", "b", "c"])
    assert table_hashes(wh, ("marts",)) == before


class _FailOn:
    """A connection that raises when it reaches one statement (a crash mid-publish)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, needle: str):
        self.con, self.needle = con, needle

    def execute(self, sql: str, *args):
        if self.needle in sql:
            raise duckdb.IOException("disk full (injected)")
        return self.con.execute(sql, *args)


def test_failure_inside_the_transaction_rolls_back_all_tables(tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    con = _warehouse(wh)
    con.close()
    before = table_hashes(wh, ("marts",))
    with duckdb.connect(str(wh)) as con:
        with pytest.raises(duckdb.IOException, match="injected"):
            publish(_FailOn(con, 'marts."b"'), ["a", "b"])  # a is already replaced by then
        assert con.execute("SELECT * FROM marts.a").fetchall() == [(1,)]
        assert con.execute("SELECT current_setting('preserve_insertion_order')"
                           ).fetchall() == [(True,)]
    assert table_hashes(wh, ("marts",)) == before


def test_mart_models_come_from_the_manifest():
    manifest = {"nodes": {
        "model.siyu.a": {"resource_type": "model", "name": "a", "config": {"schema": "marts"}},
        "model.siyu.s": {"resource_type": "model", "name": "s", "config": {"schema": "staging"}},
        "model.siyu.off": {"resource_type": "model", "name": "off",
                           "config": {"schema": "marts", "enabled": False}},
        "test.siyu.t": {"resource_type": "test", "name": "t", "config": {"schema": "marts"}},
    }}
    assert mart_models(manifest) == ["a"]
    assert physical_schema("marts", "duckdb") == BUILD_SCHEMA
    assert physical_schema("marts", "spark") == "marts"
    assert physical_schema("staging", "duckdb") == "staging"


def test_a_view_mart_is_published_over_the_published_tables(tmp_path: Path):
    """member_tags is a view over member_profile: publishing must not leave `marts` reading
    the build schema (a failed next night would then show its unchecked rows to BI)."""
    con = _warehouse(tmp_path / "w.duckdb")
    con.execute("CREATE TABLE marts.v AS SELECT 'was a table' AS y")  # materialisation changed
    con.execute(f"CREATE VIEW {BUILD_SCHEMA}.v AS SELECT y || '!' AS y FROM {BUILD_SCHEMA}.b")
    con.execute(f'CREATE VIEW {BUILD_SCHEMA}.a_over_v AS SELECT y FROM "{BUILD_SCHEMA}"."v"')
    result = publish(con, ["a", "a_over_v", "b", "v"])
    assert result.rows == {"a": 1, "b": 1}
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema = 'marts'").fetchall())
    assert kinds == {"a": "BASE TABLE", "b": "BASE TABLE", "v": "VIEW", "a_over_v": "VIEW"}
    assert con.execute("SELECT * FROM marts.a_over_v").fetchall() == [("new!",)]
    definitions = " ".join(r[0] for r in con.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = 'marts'").fetchall())
    assert BUILD_SCHEMA not in definitions
    # the next night rebuilds the build schema; the published view keeps yesterday's rows
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.b AS SELECT 'unchecked' AS y, 0 AS z")
    assert con.execute("SELECT * FROM marts.v").fetchall() == [("new!",)]

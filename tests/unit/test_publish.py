"""Build-then-publish: the swap into `marts` is all-or-nothing, moves no rows, and publishes
only what the run built."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.lib.publish import (
    BUILD_SCHEMA,
    incremental_marts,
    live_name,
    mart_models,
    physical_schema,
    publish,
)
from tests.fixtures.warehouse_state import table_hashes


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """Marts published by an older Siyu (copied tables) and tonight's build."""
    con = duckdb.connect(str(path))
    for schema in ("marts", BUILD_SCHEMA):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute("CREATE TABLE marts.a AS SELECT 1 AS x")
    con.execute("CREATE TABLE marts.b AS SELECT 'old' AS y")
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.a AS SELECT 2 AS x")
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.b AS SELECT 'new' AS y, 3 AS z")
    return con


def _kinds(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    return dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_schema = ?", [schema]).fetchall())


def _night(con: duckdb.DuckDBPyConnection, n: int, incremental_base: bool = True) -> None:
    """What dbt does on night `n`: table marts are created anew; the incremental mart `a`
    builds on the rows under its build name (any older state: its increment is a diff)."""
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.b AS SELECT 'night {n}' AS y, {n} AS z")
    if incremental_base:
        con.execute(f"DELETE FROM {BUILD_SCHEMA}.a")
        con.execute(f"INSERT INTO {BUILD_SCHEMA}.a VALUES ({n})")
    else:
        con.execute(f"CREATE TABLE {BUILD_SCHEMA}.a AS SELECT {n} AS x")


def test_publish_swaps_in_every_built_table_without_copying(tmp_path: Path):
    con = _warehouse(tmp_path / "w.duckdb")
    result = publish(con, ["a", "b"], built=["a", "b"])
    assert result.rows == {"a": 1, "b": 1}
    assert con.execute("SELECT * FROM marts.b").fetchall() == [("new", 3)]
    # marts are views over the renamed build tables; the build names are free again
    assert _kinds(con, "marts") == {"a": "VIEW", "b": "VIEW"}
    assert _kinds(con, BUILD_SCHEMA) == {live_name("a"): "BASE TABLE",
                                          live_name("b"): "BASE TABLE"}


def test_incremental_marts_keep_the_previous_rows_as_next_build_base(tmp_path: Path):
    con = _warehouse(tmp_path / "w.duckdb")
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    # first publish: no previous live rows, so the incremental mart builds from scratch once
    _night(con, 1, incremental_base=False)
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    assert con.execute(f"SELECT * FROM {BUILD_SCHEMA}.a").fetchall() == [(2,)]  # the base
    assert BUILD_SCHEMA + ".b" not in {f"{BUILD_SCHEMA}.{t}" for t in _kinds(con, BUILD_SCHEMA)}
    for n in (2, 3):
        _night(con, n)
        publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
        assert con.execute("SELECT * FROM marts.a").fetchall() == [(n,)]
        assert con.execute("SELECT * FROM marts.b").fetchall() == [(f"night {n}", n)]
        assert con.execute(f"SELECT * FROM {BUILD_SCHEMA}.a").fetchall() == [(n - 1,)]


def test_a_mart_the_run_did_not_build_keeps_its_published_rows(tmp_path: Path):
    """A Dagster run that materialised only `b`: the incremental mart `a` holds an older base
    under its build name, which must not be published."""
    con = _warehouse(tmp_path / "w.duckdb")
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    _night(con, 1, incremental_base=False)
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])  # base a = 2, live a = 1
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.b AS SELECT 'only b' AS y, 9 AS z")
    result = publish(con, ["a", "b"], built=["b"], incremental=["a"])
    assert result.tables == ("b",)
    assert con.execute("SELECT * FROM marts.a").fetchall() == [(1,)]
    assert con.execute("SELECT * FROM marts.b").fetchall() == [("only b", 9)]


def test_missing_build_table_leaves_marts_untouched(tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    con = _warehouse(wh)
    con.close()
    before = table_hashes(wh, ("marts", BUILD_SCHEMA))
    with duckdb.connect(str(wh)) as con, pytest.raises(RuntimeError, match="lacks c"):
        publish(con, ["a", "b", "c"], built=["a", "b", "c"])
    # a mart neither built tonight nor ever published is an error too
    with duckdb.connect(str(wh)) as con, pytest.raises(RuntimeError, match="lacks c"):
        publish(con, ["a", "b", "c"], built=["a", "b"])
    assert table_hashes(wh, ("marts", BUILD_SCHEMA)) == before


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
    before = table_hashes(wh, ("marts", BUILD_SCHEMA))
    with duckdb.connect(str(wh)) as con:
        with pytest.raises(duckdb.IOException, match="injected"):
            # a is already swapped in by then
            publish(_FailOn(con, f'RENAME TO "{live_name("b")}"'), ["a", "b"], built=["a", "b"])
        assert con.execute("SELECT * FROM marts.a").fetchall() == [(1,)]
    assert table_hashes(wh, ("marts", BUILD_SCHEMA)) == before


def test_mart_models_come_from_the_manifest():
    manifest = {"nodes": {
        "model.siyu.a": {"resource_type": "model", "name": "a", "config": {"schema": "marts"}},
        "model.siyu.i": {"resource_type": "model", "name": "i",
                         "config": {"schema": "marts", "materialized": "incremental"}},
        "model.siyu.s": {"resource_type": "model", "name": "s",
                         "config": {"schema": "staging", "materialized": "incremental"}},
        "model.siyu.off": {"resource_type": "model", "name": "off",
                           "config": {"schema": "marts", "enabled": False}},
        "test.siyu.t": {"resource_type": "test", "name": "t", "config": {"schema": "marts"}},
    }}
    assert mart_models(manifest) == ["a", "i"]
    assert incremental_marts(manifest) == {"i"}
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
    names = ["a", "a_over_v", "b", "v"]
    result = publish(con, names, built=names)
    assert result.rows == {"a": 1, "b": 1}
    assert _kinds(con, "marts") == {t: "VIEW" for t in names}
    assert con.execute("SELECT * FROM marts.a_over_v").fetchall() == [("new!",)]
    definitions = " ".join(r[0] for r in con.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = 'marts' "
        "AND view_name IN ('v', 'a_over_v')").fetchall())
    assert BUILD_SCHEMA not in definitions
    # the build views are gone: they read build names the swap freed
    assert set(_kinds(con, BUILD_SCHEMA)) == {live_name("a"), live_name("b")}
    # the next night rebuilds the build schema; the published view keeps yesterday's rows
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.b AS SELECT 'unchecked' AS y, 0 AS z")
    assert con.execute("SELECT * FROM marts.v").fetchall() == [("new!",)]


def test_duckdb_views_over_a_renamed_table_keep_working(tmp_path: Path):
    """The swap renames a table that the build view of a view mart reads (DuckDB does not bind
    views to tables, so the rename is allowed); published views read the renamed table."""
    con = _warehouse(tmp_path / "w.duckdb")
    con.execute(f"CREATE VIEW {BUILD_SCHEMA}.v AS SELECT y FROM {BUILD_SCHEMA}.b")
    publish(con, ["a", "b", "v"], built=["a", "b", "v"])
    _night(con, 1, incremental_base=False)
    con.execute(f"CREATE VIEW {BUILD_SCHEMA}.v AS SELECT y FROM {BUILD_SCHEMA}.b")
    publish(con, ["a", "b", "v"], built=["a", "b", "v"])
    assert con.execute("SELECT * FROM marts.v").fetchall() == [("night 1",)]

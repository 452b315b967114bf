"""Build-then-publish: the swap into `marts` is all-or-nothing, moves no rows, and publishes
only what the run built."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.lib.publish import (
    BUILD_SCHEMA,
    base_name,
    builds_by_runs,
    incremental_marts,
    live_name,
    mart_models,
    physical_schema,
    publish,
    record_builds,
    restore_incremental_bases,
    set_aside_unbuilt_bases,
    view_marts,
)
from pipelines.lib.warehouse import connect, open_connection
from tests.fixtures.warehouse_state import table_hashes


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """Marts published by an older Siyu (copied tables) and tonight's build."""
    con = open_connection(path)
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


def _increment(con: duckdb.DuckDBPyConnection, table: str, rows: list[int]) -> None:
    """What dbt's diff-based increment does (macros/incremental.sql): make the stored rows
    equal tonight's by deleting the ones that differ and inserting the new ones; works on
    any base."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE tonight AS SELECT unnest({rows}) AS x")
    con.execute(f"DELETE FROM {table} WHERE x NOT IN (SELECT x FROM tonight)")
    con.execute(f"INSERT INTO {table} SELECT x FROM tonight WHERE x NOT IN "
                f"(SELECT x FROM {table})")


def _night(con: duckdb.DuckDBPyConnection, n: int, expect_base: list[tuple] | None = None
           ) -> None:
    """Night `n` as the nightly job runs it: the incremental mart `a` (rows 1..n) builds on its
    restored base (`expect_base`: the rows it must hold), the table mart `b` is created anew."""
    restored = restore_incremental_bases(con, ["a"])
    if expect_base is not None:
        assert restored == ["a"]
        assert _rows(con, f"{BUILD_SCHEMA}.a") == expect_base
    kinds = _kinds(con, BUILD_SCHEMA)
    if kinds.get("a") != "BASE TABLE":  # no base: dbt builds the incremental mart in full
        con.execute(f"DROP VIEW IF EXISTS {BUILD_SCHEMA}.a")
        con.execute(f"CREATE TABLE {BUILD_SCHEMA}.a (x INTEGER)")
    _increment(con, f"{BUILD_SCHEMA}.a", list(range(1, n + 1)))
    con.execute(f"DROP VIEW IF EXISTS {BUILD_SCHEMA}.b")
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.b AS SELECT 'night {n}' AS y, {n} AS z")


def _rows(con: duckdb.DuckDBPyConnection, rel: str) -> list[tuple]:
    return sorted(con.execute(f"SELECT * FROM {rel}").fetchall())


def test_publish_swaps_in_every_built_table_without_copying(tmp_path: Path):
    con = _warehouse(tmp_path / "w.duckdb")
    result = publish(con, ["a", "b"], built=["a", "b"])
    assert result.rows == {"a": 1, "b": 1}
    assert con.execute("SELECT * FROM marts.b").fetchall() == [("new", 3)]
    # marts are views over the renamed build tables; the build names are views over them too,
    # so a later partial run's models and checks read the published rows
    assert _kinds(con, "marts") == {"a": "VIEW", "b": "VIEW"}
    assert _kinds(con, BUILD_SCHEMA) == {"a": "VIEW", "b": "VIEW", live_name("a"): "BASE TABLE",
                                          live_name("b"): "BASE TABLE"}
    assert con.execute(f"SELECT * FROM {BUILD_SCHEMA}.b").fetchall() == [("new", 3)]
    # published already: the same run's publish again swaps nothing in
    assert publish(con, ["a", "b"], built=["a", "b"]).tables == ()


def test_incremental_marts_build_on_the_previous_rows_and_equal_a_full_build(tmp_path: Path):
    con = _warehouse(tmp_path / "w.duckdb")
    con.execute(f"DELETE FROM {BUILD_SCHEMA}.a")
    _increment(con, f"{BUILD_SCHEMA}.a", [1])
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    # first publish: no previous live rows, so the base is a copy of tonight's (once)
    assert _rows(con, f"{BUILD_SCHEMA}.{base_name('a')}") == [(1,)]
    for n in (2, 3, 4):
        # the base is the night before the last published one (night 1's copy on night 2)
        _night(con, n, expect_base=[(i,) for i in range(1, max(n - 1, 2))])
        assert _rows(con, f"{BUILD_SCHEMA}.a") == [(i,) for i in range(1, n + 1)]
        publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
        assert _rows(con, "marts.a") == [(i,) for i in range(1, n + 1)]
        assert _rows(con, "marts.b") == [(f"night {n}", n)]
        # yesterday's published rows are kept as the next build's base, under another name
        assert _rows(con, f"{BUILD_SCHEMA}.{base_name('a')}") == [(i,) for i in range(1, n)]
        assert _kinds(con, BUILD_SCHEMA)["a"] == "VIEW"


def test_a_base_with_other_columns_is_not_kept(tmp_path: Path):
    """A full refresh after a model change: the previous live rows have the old columns, and
    dbt's on_schema_change='fail' would stop the next increment on them."""
    con = _warehouse(tmp_path / "w.duckdb")
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    restore_incremental_bases(con, ["a"])
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.a AS SELECT 5 AS x, 'new' AS w")
    publish(con, ["a", "b"], built=["a"], incremental=["a"])
    assert _rows(con, f"{BUILD_SCHEMA}.{base_name('a')}") == [(5, "new")]


def test_a_failed_nights_unpublished_build_is_the_newer_base(tmp_path: Path):
    con = _warehouse(tmp_path / "w.duckdb")
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    _night(con, 3)  # built on the restored base, then a check failed: not published
    assert restore_incremental_bases(con, ["a"]) == []  # nothing to restore: the build stays
    assert _rows(con, f"{BUILD_SCHEMA}.a") == [(1,), (2,), (3,)]
    # a base left beside an unpublished build (the build was made without restoring it) is
    # older than the build: dropped, the build stays
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.{base_name('a')} AS SELECT 1 AS x")
    assert restore_incremental_bases(con, ["a"]) == []
    assert base_name("a") not in _kinds(con, BUILD_SCHEMA)
    assert _rows(con, f"{BUILD_SCHEMA}.a") == [(1,), (2,), (3,)]


def test_a_mart_the_run_did_not_build_keeps_its_published_rows(tmp_path: Path):
    """A Dagster run that materialised only `b`: `a` keeps its published rows, and the
    models of that run read the published `a` under its build name."""
    con = _warehouse(tmp_path / "w.duckdb")
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    con.execute(f"DROP VIEW {BUILD_SCHEMA}.b")
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.b AS SELECT 'only b' AS y, 9 AS z")
    assert con.execute(f"SELECT * FROM {BUILD_SCHEMA}.a").fetchall() == [(2,)]
    # the base of `a` was put back for a build that then failed: stale rows under the build
    # name, never to be published by a run that did not build `a`
    restore_incremental_bases(con, ["a"])
    assert _kinds(con, BUILD_SCHEMA)["a"] == "BASE TABLE"
    result = publish(con, ["a", "b"], built=["b"], incremental=["a"])
    assert result.tables == ("b",)
    assert con.execute("SELECT * FROM marts.a").fetchall() == [(2,)]
    assert con.execute("SELECT * FROM marts.b").fetchall() == [("only b", 9)]


def test_missing_build_table_leaves_marts_untouched(tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    con = _warehouse(wh)
    con.close()
    before = table_hashes(wh, ("marts", BUILD_SCHEMA))
    with connect(wh) as con, pytest.raises(RuntimeError, match="c not built"):
        publish(con, ["a", "b", "c"], built=["a", "b", "c"])
    # a mart neither built tonight nor ever published is an error too
    with connect(wh) as con, pytest.raises(RuntimeError, match="c not built"):
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


@pytest.mark.parametrize("needle", [f'RENAME TO "{live_name("b")}"',
                                    f'RENAME TO "{base_name("a")}"'])
def test_failure_inside_the_transaction_rolls_back_all_tables(tmp_path: Path, needle: str):
    wh = tmp_path / "w.duckdb"
    con = _warehouse(wh)
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    _night(con, 2)
    con.close()
    before = table_hashes(wh, ("marts", BUILD_SCHEMA))
    with connect(wh, read_only=True) as ro:
        kinds_before = _kinds(ro, BUILD_SCHEMA)
    with connect(wh) as con:
        with pytest.raises(duckdb.IOException, match="injected"):
            publish(_FailOn(con, needle), ["a", "b"], built=["a", "b"], incremental=["a"])
        assert con.execute("SELECT * FROM marts.b").fetchall() == [("new", 3)]
        assert _kinds(con, BUILD_SCHEMA) == kinds_before
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
    manifest["nodes"]["model.siyu.v"] = {"resource_type": "model", "name": "v",
                                         "config": {"schema": "marts", "materialized": "view"}}
    assert mart_models(manifest) == ["a", "i", "v"]
    assert incremental_marts(manifest) == {"i"}
    assert view_marts(manifest) == {"v"}
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
    result = publish(con, names, built=names, views=["a_over_v", "v"])
    assert result.rows == {"a": 1, "b": 1}
    assert _kinds(con, "marts") == {t: "VIEW" for t in names}
    assert con.execute("SELECT * FROM marts.a_over_v").fetchall() == [("new!",)]
    definitions = " ".join(r[0] for r in con.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = 'marts' "
        "AND view_name IN ('v', 'a_over_v')").fetchall())
    assert BUILD_SCHEMA not in definitions
    # the build views still work: the build names read the published rows now
    assert con.execute(f"SELECT * FROM {BUILD_SCHEMA}.a_over_v").fetchall() == [("new!",)]
    # the next night rebuilds the build schema (dbt replaces the view by a table); the
    # published view keeps yesterday's rows
    con.execute(f"DROP VIEW {BUILD_SCHEMA}.b")
    con.execute(f"CREATE TABLE {BUILD_SCHEMA}.b AS SELECT 'unchecked' AS y, 0 AS z")
    assert con.execute("SELECT * FROM marts.v").fetchall() == [("new!",)]


def test_marts_built_by_the_run_include_the_runs_it_re_executes():
    """Regression: a re-executed publish (after a transient lock error or a fixed check) has
    its own run id; reading only its own builds published nothing."""
    from pipelines.defs.transform.publish import run_lineage

    class Run:
        def __init__(self, parent):
            self.parent_run_id = parent

    class Instance:
        def __init__(self):
            self.runs = {"grandchild": Run("child"), "child": Run("parent"), "parent": Run(None)}

        def get_run_by_id(self, run_id):
            return self.runs.get(run_id)

    lineage = run_lineage(Instance(), "grandchild")
    assert lineage == ["grandchild", "child", "parent"]
    con = duckdb.connect()
    record_builds(con, ["a", "b"], "parent")
    record_builds(con, ["b"], "later night")  # b's build is no longer the parent's
    assert builds_by_runs(con, lineage) == {"a"}
    assert builds_by_runs(con, ["child"]) == set()


def test_a_base_dbt_did_not_build_on_is_set_aside_again(tmp_path: Path):
    """Regression: the base was put back, then dbt failed or skipped the mart; the build name
    held rows older than the published ones, which later partial runs read."""
    con = _warehouse(tmp_path / "w.duckdb")
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])
    _night(con, 2)
    publish(con, ["a", "b"], built=["a", "b"], incremental=["a"])  # live a = 1..2, base = 2
    assert restore_incremental_bases(con, ["a"]) == ["a"]
    assert set_aside_unbuilt_bases(con, ["a"], built=[]) == ["a"]
    assert _kinds(con, BUILD_SCHEMA)["a"] == "VIEW"
    assert _rows(con, f"{BUILD_SCHEMA}.a") == [(1,), (2,)]  # the published rows
    assert _rows(con, f"{BUILD_SCHEMA}.{base_name('a')}") == [(2,)]
    # built after all: left alone
    restore_incremental_bases(con, ["a"])
    assert set_aside_unbuilt_bases(con, ["a"], built=["a"]) == []
    assert _kinds(con, BUILD_SCHEMA)["a"] == "BASE TABLE"


def test_builds_are_recorded_per_run_and_the_last_one_wins():
    con = duckdb.connect()
    assert builds_by_runs(con, ["r1"]) == set()
    record_builds(con, ["a", "b"], "r1", incremental_on_base=["a"])
    record_builds(con, ["b"], "r2")
    assert builds_by_runs(con, ["r1"]) == {"a"}
    assert builds_by_runs(con, ["r2", "r1"]) == {"a", "b"}
    assert con.execute("SELECT mart, built_on_base FROM marts_build._builds ORDER BY 1"
                       ).fetchall() == [("a", True), ("b", False)]

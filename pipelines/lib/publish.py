"""Build, check, then publish: the marts BI reads are swapped in only after every gate passed.

dbt builds the mart models into `marts_build` (the `marts_build_schema` dbt var, passed by the
Dagster dbt assets on DuckDB); dbt tests and the great-expectations mart suites run on those
tables. Only when all blocking checks passed does the publish asset swap them in, inside ONE
DuckDB transaction, so a reader sees either yesterday's marts or today's, never a mix and never
a half-written table. A failed night leaves `marts` untouched.

The swap moves no data. DuckDB cannot move a table between schemas (no `SET SCHEMA`, no schema
rename), so the published rows stay in the build schema under another name and `marts` holds
views over them:

* `marts.<t>` is a view `SELECT * FROM marts_build."<t>__live"`;
* publishing renames tonight's `marts_build.<t>` to `<t>__live` (yesterday's is dropped),
  re-creates the view, and puts a view over the live rows under the build name too, so dbt
  models and checks of a later partial run (a Dagster UI selection) read the published rows;
  dbt replaces that view with a table when it builds the mart again;
* an incremental mart (`fct_orders`, the growth ledger, `member_identities`) needs previous
  rows to build on, so yesterday's live table is kept as `<t>__base` instead of dropped and
  put back under the build name just before dbt builds the mart (`restore_incremental_bases`).
  Their increments compare tonight's rows with the stored ones (macros/incremental.sql), so a
  base one night older gives the same rows as any other base (the full-vs-nightly equality
  test builds on such bases);
* a view mart (a cheap reshaping of another mart, e.g. `member_tags` over `member_profile`) is
  re-created in `marts` with its references to the build schema pointed at `marts`, after the
  marts it reads.

Renaming costs milliseconds where copying cost ≈ 13 s a night at a million members.

Only marts built by the publishing run (or the runs it re-executes) and not published since
are swapped in: a run that materialised a few marts publishes those, the others keep their
published rows.

Which marts exist is read from the dbt manifest (every enabled model whose schema is `marts`),
so a new mart is covered by adding its SQL file and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

#: The schema BI reads (the warehouse contract) and the one dbt builds into before the checks.
PUBLISHED_SCHEMA = "marts"
BUILD_SCHEMA = "marts_build"
#: suffix of the build-schema tables that hold the published rows (`marts.<t>` reads them)
LIVE_SUFFIX = "__live"
#: suffix of an incremental mart's previous rows, kept between nights for its next build
BASE_SUFFIX = "__base"
#: which run built each mart last (written by the dbt step; read by the publish)
BUILDS_NAME = "_builds"
BUILDS_TABLE = f"{BUILD_SCHEMA}.{BUILDS_NAME}"


@dataclass(frozen=True)
class PublishResult:
    tables: tuple[str, ...]
    rows: dict[str, int]  # swapped-in tables only; a published view mart is not counted


def mart_models(manifest: dict) -> list[str]:
    """Names of the enabled dbt models configured into the `marts` schema, sorted."""
    return sorted(
        n["name"] for n in manifest["nodes"].values()
        if n.get("resource_type") == "model"
        and n.get("config", {}).get("schema") == PUBLISHED_SCHEMA
        and n.get("config", {}).get("enabled", True)
    )


def mart_models_from_file(manifest_path: Path) -> list[str]:
    return mart_models(json.loads(manifest_path.read_text()))


def physical_schema(schema: str, dbt_target: str) -> str:
    """Where a model of `schema` is materialised while a run builds it (before publish)."""
    if schema == PUBLISHED_SCHEMA and dbt_target == "duckdb":
        return BUILD_SCHEMA
    return schema


def build_vars(dbt_target: str) -> dict[str, str]:
    """dbt vars that redirect the marts into the build schema (DuckDB only, see module doc)."""
    return {"marts_build_schema": BUILD_SCHEMA} if dbt_target == "duckdb" else {}


def _existing(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    """name → 'BASE TABLE' or 'VIEW' for the relations of `schema`."""
    return {r[0]: r[1] for r in con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ? "
        "AND table_catalog = current_database()", [schema]).fetchall()}


_BUILD_REF = re.compile(rf'(?<![\w"])"?{BUILD_SCHEMA}"?\.')


def published_view_sql(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """`CREATE OR REPLACE VIEW marts.<name>` with the build view's body, every reference to
    the build schema pointed at `marts` (DuckDB keeps a view's SQL as written)."""
    rows = con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = ? AND view_name = ?", [BUILD_SCHEMA, name]).fetchall()
    if not rows:
        raise RuntimeError(f"cannot publish: {BUILD_SCHEMA}.{name} is not a view")
    head, sep, body = rows[0][0].partition(" AS ")
    if not sep or not head.upper().startswith("CREATE VIEW"):
        raise RuntimeError(f"cannot publish {BUILD_SCHEMA}.{name}: unexpected view SQL {head!r}")
    return (f'CREATE OR REPLACE VIEW {PUBLISHED_SCHEMA}."{name}" AS '
            + _BUILD_REF.sub(f"{PUBLISHED_SCHEMA}.", body))


def _views_in_dependency_order(con: duckdb.DuckDBPyConnection, views: list[str]
                               ) -> dict[str, str]:
    """view → its publishing SQL, views that read other published views after them (DuckDB
    binds a view on CREATE)."""
    sql = {v: published_view_sql(con, v) for v in views}
    ordered: dict[str, str] = {}
    pending = sorted(views)
    while pending:
        ready = [v for v in pending
                 if not any(o != v and o in pending and re.search(rf'\b{o}\b', sql[v])
                            for o in pending)]
        if not ready:  # a cycle cannot be built by dbt; keep going in name order
            ready = pending[:1]
        ordered.update((v, sql[v]) for v in ready)
        pending = [v for v in pending if v not in ready]
    return ordered


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One DuckDB transaction: committed when the block ends, rolled back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def live_name(table: str) -> str:
    """The build-schema table that holds the published rows of mart `table`."""
    return f"{table}{LIVE_SUFFIX}"


def base_name(table: str) -> str:
    """The build-schema table an incremental mart's next build starts from."""
    return f"{table}{BASE_SUFFIX}"


def _marts_materialized(manifest: dict, materialized: str) -> set[str]:
    return {n["name"] for n in manifest["nodes"].values()
            if n.get("resource_type") == "model"
            and n.get("config", {}).get("schema") == PUBLISHED_SCHEMA
            and n.get("config", {}).get("materialized") == materialized}


def incremental_marts(manifest: dict) -> set[str]:
    """Marts that dbt builds on their previous rows (materialized incremental)."""
    return _marts_materialized(manifest, "incremental")


def view_marts(manifest: dict) -> set[str]:
    """Marts that dbt materialises as views (re-created over the published marts)."""
    return _marts_materialized(manifest, "view")


def _columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? AND table_catalog = current_database() ORDER BY ordinal_position",
        [schema, name]).fetchall()]


def publish(con: duckdb.DuckDBPyConnection, tables: Iterable[str], built: Iterable[str],
            incremental: Iterable[str] = (), views: Iterable[str] = ()) -> PublishResult:
    """Swap in every mart of `built` (the marts the publishing run built) that has not been
    published since it was built (module doc), all in one transaction. `tables` are all the
    marts, `incremental` and `views` those materialised so; the others keep their published
    version.

    Raises before touching `marts` if a built mart has no build relation, or a mart was never
    published and is not built now (a model that did not build must not be skipped silently).
    """
    names = tuple(sorted(set(tables)))
    tonight, incremental, view_models = set(built), set(incremental), set(views)
    in_build = _existing(con, BUILD_SCHEMA)
    published = _existing(con, PUBLISHED_SCHEMA)
    missing = [t for t in names if (t in tonight and t not in in_build)
               or (t not in tonight and t not in published)]
    if missing:
        raise RuntimeError(
            f"cannot publish: {', '.join(missing)} not built (no {BUILD_SCHEMA} relation, or "
            "never built and not in this run); materialise every mart (the nightly job) first. "
            "marts left unchanged")
    # a table mart's build name is a view over its live rows once published: nothing new
    tables_in = [t for t in names if t in tonight and t not in view_models
                 and in_build[t] == "BASE TABLE"]
    views_in = _views_in_dependency_order(
        con, [t for t in names if t in tonight and t in view_models and in_build[t] == "VIEW"])
    rows: dict[str, int] = {}
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {PUBLISHED_SCHEMA}")
    with _transaction(con):
        for t in tables_in:
            _swap_in(con, t, in_build, published, incremental=t in incremental)
        for t, sql in views_in.items():
            if published.get(t) == "BASE TABLE":  # published by copy before (older Siyu)
                con.execute(f'DROP TABLE {PUBLISHED_SCHEMA}."{t}"')
            con.execute(sql)
            # a mart that was a table before: its published rows are no longer read
            con.execute(f'DROP TABLE IF EXISTS {BUILD_SCHEMA}."{live_name(t)}"')
        for t in tables_in:
            rows[t] = con.execute(
                f'SELECT count(*) FROM {PUBLISHED_SCHEMA}."{t}"').fetchall()[0][0]
    return PublishResult(tuple(tables_in) + tuple(views_in), rows)


def _swap_in(con: duckdb.DuckDBPyConnection, t: str, in_build: dict[str, str],
             published: dict[str, str], incremental: bool) -> None:
    """marts_build.<t> becomes <t>__live, read by the views marts.<t> and marts_build.<t> (so
    models and checks of a later partial run read the published rows). The previous live
    table is dropped, or, for an incremental mart, kept as its next build's base
    (<t>__base; put back under the build name just before the mart is built next,
    `restore_incremental_bases`). A base must have tonight's columns (`on_schema_change`
    would fail on it); without one, the base is a copy of tonight's rows (once, e.g. on the
    first publish)."""
    live, base = live_name(t), base_name(t)
    q = f'{BUILD_SCHEMA}."{{}}"'.format
    keep = (incremental and live in in_build
            and _columns(con, BUILD_SCHEMA, live) == _columns(con, BUILD_SCHEMA, t))
    if base in in_build:
        con.execute(f"DROP TABLE {q(base)}")
    if keep:
        con.execute(f'ALTER TABLE {q(live)} RENAME TO "{base}"')
    elif live in in_build:
        con.execute(f"DROP TABLE {q(live)}")
    con.execute(f'ALTER TABLE {q(t)} RENAME TO "{live}"')
    if incremental and not keep:
        con.execute(f"CREATE TABLE {q(base)} AS SELECT * FROM {q(live)}")
    con.execute(f"CREATE VIEW {q(t)} AS SELECT * FROM {q(live)}")
    if published.get(t) == "BASE TABLE":  # published by copy before (older Siyu)
        con.execute(f'DROP TABLE {PUBLISHED_SCHEMA}."{t}"')
    con.execute(f'CREATE OR REPLACE VIEW {PUBLISHED_SCHEMA}."{t}" AS SELECT * FROM {q(live)}')


def restore_incremental_bases(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> list[str]:
    """Before dbt builds the incremental marts `tables`: put each one's base back under its
    build name (replacing the view over the live rows), so dbt builds on it. A build name that
    is still a table (built, never published: a failed night) is newer than the base and is
    kept. Returns the marts whose base was put back."""
    restored: list[str] = []
    with _transaction(con):
        in_build = _existing(con, BUILD_SCHEMA)
        for t in sorted(set(tables)):
            base = base_name(t)
            if base not in in_build:
                continue
            if in_build.get(t) == "BASE TABLE":
                con.execute(f'DROP TABLE {BUILD_SCHEMA}."{base}"')
                continue
            if in_build.get(t) == "VIEW":
                con.execute(f'DROP VIEW {BUILD_SCHEMA}."{t}"')
            con.execute(f'ALTER TABLE {BUILD_SCHEMA}."{base}" RENAME TO "{t}"')
            restored.append(t)
    return restored


def set_aside_unbuilt_bases(con: duckdb.DuckDBPyConnection, restored: Iterable[str],
                            built: Iterable[str]) -> list[str]:
    """After dbt: a mart whose base was put back but that dbt did not build (it failed, was
    skipped or cancelled) gets its base set aside again and the view over its live rows back,
    so later runs never read (or publish) rows older than the published ones."""
    undone: list[str] = []
    with _transaction(con):
        in_build = _existing(con, BUILD_SCHEMA)
        for t in sorted(set(restored) - set(built)):
            if in_build.get(t) != "BASE TABLE" or live_name(t) not in in_build:
                continue
            con.execute(f'ALTER TABLE {BUILD_SCHEMA}."{t}" RENAME TO "{base_name(t)}"')
            con.execute(f'CREATE VIEW {BUILD_SCHEMA}."{t}" AS '
                        f'SELECT * FROM {BUILD_SCHEMA}."{live_name(t)}"')
            undone.append(t)
    return undone


def replace_log_rows(con: duckdb.DuckDBPyConnection, table: str, columns: str, key: str,
                     keys: list[str], values: str, rows: list[tuple]) -> None:
    """A small log table of the build schema (created with `columns` if missing): the rows of
    `keys` are replaced by `rows` (`INSERT … VALUES (values)`) in one transaction."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {BUILD_SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    with _transaction(con):
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, {key})", [keys])
        if rows:
            con.executemany(f"INSERT INTO {table} VALUES ({values})", rows)


def record_builds(con: duckdb.DuckDBPyConnection, marts: Iterable[str], run_id: str,
                  incremental_on_base: Iterable[str] = ()) -> None:
    """Remember which run built each of `marts` (and whether an incremental mart built on its
    base): the publish swaps in a build only for the run that made it (or a re-execution)."""
    marts = sorted(set(marts))
    if not marts:
        return
    on_base = set(incremental_on_base)
    replace_log_rows(con, BUILDS_TABLE, "mart VARCHAR NOT NULL, run_id VARCHAR NOT NULL, "
                     "built_on_base BOOLEAN NOT NULL, built_at TIMESTAMP NOT NULL", "mart",
                     marts, "?, ?, ?, current_timestamp",
                     [(t, run_id, t in on_base) for t in marts])


def builds_by_runs(con: duckdb.DuckDBPyConnection, run_ids: Iterable[str]) -> set[str]:
    """The marts whose last build was made by one of `run_ids`."""
    if BUILDS_NAME not in _existing(con, BUILD_SCHEMA):
        return set()
    return {r[0] for r in con.execute(
        f"SELECT mart FROM {BUILDS_TABLE} WHERE list_contains(?, run_id)",
        [sorted(set(run_ids))]).fetchall()}

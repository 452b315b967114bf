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
* publishing renames tonight's `marts_build.<t>` to `<t>__live` (yesterday's is dropped) and
  re-creates the view. The build name is then free for the next night's build;
* an incremental mart (`fct_orders`, the growth ledger) needs its previous rows to build on, so
  yesterday's live table is renamed to `marts_build.<t>` instead of dropped. Their increments
  compare tonight's rows with the stored ones (macros/incremental.sql), so a base one night
  older gives the same rows as any other base;
* a view mart (a cheap reshaping of another mart, e.g. `member_tags` over `member_profile`) is
  re-created in `marts` with its references to the build schema pointed at `marts`, after the
  marts it reads, and its build view is dropped (it would read a renamed table).

Renaming costs milliseconds where copying cost ≈ 13 s a night at a million members.

Only the marts built by the run that publishes are swapped in (a Dagster run that materialised
a few marts publishes those; a mart the run did not build keeps its published version, and an
incremental mart's build name then holds an older base, which must never be published).

Which marts exist is read from the dbt manifest (every enabled model whose schema is `marts`),
so a new mart is covered by adding its SQL file and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

#: The schema BI reads (the warehouse contract) and the one dbt builds into before the checks.
PUBLISHED_SCHEMA = "marts"
BUILD_SCHEMA = "marts_build"
#: suffix of the build-schema tables that hold the published rows (`marts.<t>` reads them)
LIVE_SUFFIX = "__live"


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


def live_name(table: str) -> str:
    """The build-schema table that holds the published rows of mart `table`."""
    return f"{table}{LIVE_SUFFIX}"


def incremental_marts(manifest: dict) -> set[str]:
    """Marts that dbt builds on their previous rows (materialized incremental)."""
    return {n["name"] for n in manifest["nodes"].values()
            if n.get("resource_type") == "model"
            and n.get("config", {}).get("schema") == PUBLISHED_SCHEMA
            and n.get("config", {}).get("materialized") == "incremental"}


def publish(con: duckdb.DuckDBPyConnection, tables: Iterable[str], built: Iterable[str],
            incremental: Iterable[str] = ()) -> PublishResult:
    """Swap tonight's build of every mart in `built` into `marts` (module doc), all in one
    transaction. `tables` are all the marts; those not in `built` keep their published version.

    Raises before touching `marts` if a mart in `built` has no build relation, or a mart is
    neither built nor published (a model that did not build must not be skipped silently).
    """
    names = tuple(sorted(set(tables)))
    tonight = set(built)
    incremental = set(incremental)
    in_build = _existing(con, BUILD_SCHEMA)
    published = _existing(con, PUBLISHED_SCHEMA)
    missing = [t for t in names if (t in tonight and t not in in_build)
               or (t not in tonight and t not in published)]
    if missing:
        raise RuntimeError(
            f"cannot publish: {BUILD_SCHEMA} lacks {', '.join(missing)}; marts left unchanged")
    swap = [t for t in names if t in tonight]
    base = [t for t in swap if in_build[t] == "BASE TABLE"]
    views = _views_in_dependency_order(con, [t for t in swap if in_build[t] == "VIEW"])
    rows: dict[str, int] = {}
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {PUBLISHED_SCHEMA}")
    con.execute("BEGIN TRANSACTION")
    try:
        for t in base:
            _swap_in(con, t, in_build, published, keep_base=t in incremental)
        for t, sql in views.items():
            if published.get(t) == "BASE TABLE":  # a mart that changed materialisation
                con.execute(f'DROP TABLE {PUBLISHED_SCHEMA}."{t}"')
            con.execute(sql)
        for t in views:
            con.execute(f'DROP VIEW {BUILD_SCHEMA}."{t}"')
            # a mart that was a table before: its published rows are no longer read
            con.execute(f'DROP TABLE IF EXISTS {BUILD_SCHEMA}."{live_name(t)}"')
        for t in base:
            rows[t] = con.execute(
                f'SELECT count(*) FROM {PUBLISHED_SCHEMA}."{t}"').fetchall()[0][0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return PublishResult(tuple(swap), rows)


def _swap_in(con: duckdb.DuckDBPyConnection, t: str, in_build: dict[str, str],
             published: dict[str, str], keep_base: bool) -> None:
    """marts_build.<t> becomes <t>__live, read by the view marts.<t>; the previous live table
    is dropped, or kept as the next build's base (`keep_base`)."""
    live = live_name(t)
    build, spare = f'{BUILD_SCHEMA}."{t}"', f'{BUILD_SCHEMA}."{t}__previous"'
    if live in in_build:
        con.execute(f'ALTER TABLE {BUILD_SCHEMA}."{live}" RENAME TO "{t}__previous"')
    con.execute(f'ALTER TABLE {build} RENAME TO "{live}"')
    if live in in_build:
        if keep_base:
            con.execute(f'ALTER TABLE {spare} RENAME TO "{t}"')
        else:
            con.execute(f"DROP TABLE {spare}")
    kind = published.get(t)
    if kind == "BASE TABLE":  # published by copy before (older Siyu): becomes a view
        con.execute(f'DROP TABLE {PUBLISHED_SCHEMA}."{t}"')
    con.execute(f'CREATE OR REPLACE VIEW {PUBLISHED_SCHEMA}."{t}" AS '
                f'SELECT * FROM {BUILD_SCHEMA}."{live}"')

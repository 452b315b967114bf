"""Build, check, then publish: the marts BI reads are swapped in only after every gate passed.

dbt builds the mart models into `marts_build` (the `marts_build_schema` dbt var, passed by the
Dagster dbt assets on DuckDB); dbt tests and the great-expectations mart suites run on those
tables. Only when all blocking checks passed does the publish asset copy every mart table into
`marts` inside ONE DuckDB transaction, so a reader sees either yesterday's marts or today's,
never a mix and never a half-written table. A failed night leaves `marts` untouched.

A mart that is a view (a cheap reshaping of another mart, e.g. `member_tags` over
`member_profile`) is not copied: it is re-created in `marts` with its references to the build
schema pointed at `marts`, in the same transaction, after the tables it reads. DuckDB cannot
move a table between schemas (no `SET SCHEMA`, no schema rename), so a table is copied; a view
costs nothing to publish, which is why big derived shapes are views.

Which tables are published is read from the dbt manifest (every enabled model whose schema is
`marts`), so a new mart is covered by adding its SQL file and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.lib.warehouse import unordered_writes

#: The schema BI reads (the warehouse contract) and the one dbt builds into before the checks.
PUBLISHED_SCHEMA = "marts"
BUILD_SCHEMA = "marts_build"


@dataclass(frozen=True)
class PublishResult:
    tables: tuple[str, ...]
    rows: dict[str, int]  # copied tables only; a published view is not counted


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


def publish(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> PublishResult:
    """Replace `marts.<t>` by `marts_build.<t>` for every table, all in one transaction.

    Raises before touching `marts` if any build table is missing (a model that did not build
    must not leave an old copy next to new ones).
    """
    names = tuple(sorted(set(tables)))
    built = _existing(con, BUILD_SCHEMA)
    missing = [t for t in names if t not in built]
    if missing:
        raise RuntimeError(
            f"cannot publish: {BUILD_SCHEMA} lacks {', '.join(missing)}; marts left unchanged")
    base = [t for t in names if built[t] == "BASE TABLE"]
    views = _views_in_dependency_order(con, [t for t in names if built[t] == "VIEW"])
    rows: dict[str, int] = {}
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {PUBLISHED_SCHEMA}")
    published = _existing(con, PUBLISHED_SCHEMA)
    # copies written in parallel, not in scan order: ≈ 20 % of the publish at 1M members
    # (17.5 M rows: 18 → 14.7 s); nothing reads the marts relying on a row order
    with unordered_writes(con):
        con.execute("BEGIN TRANSACTION")
        try:
            for t in base + list(views):
                kind = published.get(t)
                if kind is not None and kind != built[t]:  # a mart that changed materialisation
                    con.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} '
                                f'{PUBLISHED_SCHEMA}."{t}"')
                if t in base:
                    con.execute(f'CREATE OR REPLACE TABLE {PUBLISHED_SCHEMA}."{t}" AS '
                                f'SELECT * FROM {BUILD_SCHEMA}."{t}"')
                    rows[t] = con.execute(
                        f'SELECT count(*) FROM {PUBLISHED_SCHEMA}."{t}"').fetchall()[0][0]
                else:
                    con.execute(views[t])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return PublishResult(names, rows)

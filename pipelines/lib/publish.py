"""Build, check, then publish: the marts BI reads are swapped in only after every gate passed.

dbt builds the mart models into `marts_build` (the `marts_build_schema` dbt var, passed by the
Dagster dbt assets on DuckDB); dbt tests and the great-expectations mart suites run on those
tables. Only when all blocking checks passed does the publish asset copy every mart table into
`marts` inside ONE DuckDB transaction, so a reader sees either yesterday's marts or today's,
never a mix and never a half-written table. A failed night leaves `marts` untouched.

Which tables are published is read from the dbt manifest (every enabled model whose schema is
`marts`), so a new mart is covered by adding its SQL file and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

#: The schema BI reads (the warehouse contract) and the one dbt builds into before the checks.
PUBLISHED_SCHEMA = "marts"
BUILD_SCHEMA = "marts_build"


@dataclass(frozen=True)
class PublishResult:
    tables: tuple[str, ...]
    rows: dict[str, int]


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


def _existing(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND table_type = 'BASE TABLE'", [schema]).fetchall()}


def publish(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> PublishResult:
    """Replace `marts.<t>` by `marts_build.<t>` for every table, all in one transaction.

    Raises before touching `marts` if any build table is missing (a model that did not build
    must not leave an old copy next to new ones).
    """
    names = tuple(sorted(set(tables)))
    missing = [t for t in names if t not in _existing(con, BUILD_SCHEMA)]
    if missing:
        raise RuntimeError(
            f"cannot publish: {BUILD_SCHEMA} lacks {', '.join(missing)}; marts left unchanged")
    rows: dict[str, int] = {}
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {PUBLISHED_SCHEMA}")
    con.execute("BEGIN TRANSACTION")
    try:
        for t in names:
            con.execute(f'CREATE OR REPLACE TABLE {PUBLISHED_SCHEMA}."{t}" AS '
                        f'SELECT * FROM {BUILD_SCHEMA}."{t}"')
            rows[t] = con.execute(
                f'SELECT count(*) FROM {PUBLISHED_SCHEMA}."{t}"').fetchall()[0][0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return PublishResult(names, rows)

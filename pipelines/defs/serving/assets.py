"""Serving: the checked marts and `bi` views published to the serving PostgreSQL, and Parquet.

`serving/postgres` is the one gate between the night and the BI tools. It depends on every
dbt model of `marts` and `bi`, so Dagster runs it last and skips it when a dbt model or an
error-severity test failed or when any blocking check upstream failed (raw quarantine share
and suites, identity sanity, mart suites): the serving database then keeps the last good night,
untouched. When it runs, every table is copied into staging schemas and swapped in with one
transaction (`pipelines/lib/serving/publish.py`), so a BI query sees yesterday's or tonight's
data, never a mix, and is never blocked; `serving.publishes` records what is live.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster import AssetExecutionContext

from pipelines.lib.platform.dbt_manifest import ensure_manifest, models_in_schemas
from pipelines.lib.platform.warehouse import apply_limits
from pipelines.lib.serving import ensure_running, publish, served_from_duckdb
from pipelines.lib.serving.parquet_export import default_export_dir, export_markdown, export_parquet
from pipelines.resources import WarehouseResource
from pipelines.settings import DBT_PROJECT_DIR, load_settings

SERVED_SCHEMAS = ("marts", "bi")
PUBLISH_KEY = dg.AssetKey(["serving", "postgres"])


def served_models() -> list[tuple[str, str]]:
    """(schema, relation) of every dbt model written to `marts` or `bi`."""
    manifest = json.loads(
        ensure_manifest(DBT_PROJECT_DIR, load_settings().dbt_target).read_text())
    return models_in_schemas(manifest, SERVED_SCHEMAS)


def _as_of(duck: duckdb.DuckDBPyConnection) -> date | None:
    """The member-value as-of day of tonight's marts (the day BI numbers describe)."""
    try:
        return duck.execute("SELECT max(as_of_date) FROM marts.member_tiers").fetchall()[0][0]
    except duckdb.Error:
        return None


@contextmanager
def _served_relations(warehouse: WarehouseResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection on which `marts.*` and `bi.*` are tonight's relations.

    DuckDB: the warehouse itself (read-only). Spark: the served tables read through Spark
    Connect as Arrow into an in-memory DuckDB (the publish copies from there) — the marts
    must then fit in this process's memory, which bounds the Spark deployments it serves.
    """
    if warehouse.dbt_target == "duckdb":
        with warehouse.connect(read_only=True) as con:
            yield con
        return
    duck = apply_limits(duckdb.connect())
    try:
        with warehouse.engine() as engine:
            for schema, name in served_models():
                duck.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                duck.register("_served", engine.read_arrow(f"SELECT * FROM {schema}.`{name}`"))
                duck.execute(f'CREATE TABLE "{schema}"."{name}" AS SELECT * FROM _served')
                duck.unregister("_served")
        yield duck
    finally:
        duck.close()


@dg.asset(
    key=PUBLISH_KEY,
    deps=[dg.AssetKey([schema, name]) for schema, name in served_models()],
    group_name="serving",
    owners=["team:data-platform"],
    kinds={"postgres"},
    tags={"layer": "serving"},
    description="Publishes every table and view of `marts` and `bi` to the serving PostgreSQL "
    "after all blocking checks passed: copied into staging schemas, swapped in with one "
    "transaction (readers see last night or tonight, never a mix), logged in "
    "`serving.publishes`. Roles: siyu_bi reads `bi`, siyu_analyst `bi` and `marts`.",
)
def serving_postgres(context: AssetExecutionContext,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    server = ensure_running()
    with _served_relations(warehouse) as duck:
        result = publish(duck, server.url, served_from_duckdb(duck), run_id=context.run_id,
                         as_of=_as_of(duck))
    rows = "\n".join(f"| {t} | {n:,} |" for t, n in sorted(result.row_counts.items()))
    totals = "\n".join(f"| {t}.{c} | {v} |" for t, cols in sorted(result.totals.items())
                       for c, v in cols.items())
    where = (f"{server.host}:{server.port} (embedded, {server.data_dir})" if server.embedded
             else "SIYU_SERVING_URL")
    return dg.MaterializeResult(metadata={
        "publish_id": dg.MetadataValue.int(result.publish_id),
        "as_of": dg.MetadataValue.text(str(result.as_of)),
        "server": dg.MetadataValue.text(where),
        "tables_published": dg.MetadataValue.int(len(result.row_counts)),
        "rows_published": dg.MetadataValue.int(sum(result.row_counts.values())),
        "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
        "rows": dg.MetadataValue.md("| table | rows |\n|---|---|\n" + rows),
        "totals": dg.MetadataValue.md("| total | value |\n|---|---|\n" + (totals or "| none | |")),
        "old_schemas_dropped": dg.MetadataValue.bool(result.old_dropped),
    })


@dg.asset(
    key=["serving", "parquet_export"],
    group_name="serving",
    owners=["team:data-platform"],
    kinds={"parquet", "duckdb"},
    tags={"layer": "serving"},
    code_version="export-v1",
    deps=[PUBLISH_KEY],
    description="Every table and view of the `marts` and `bi` schemas as Parquet "
    "(`<dir>/<schema>/<table>/`, fct_orders Hive-partitioned by `order_month`), with a "
    "`_manifest.json`; owner-only permissions; swapped in atomically. Runs after the serving "
    "publish, so it exports only checked nights. Same as `siyu export`.",
)
def parquet_export(context: AssetExecutionContext, warehouse: WarehouseResource):
    if warehouse.dbt_target != "duckdb":
        context.log.info("dbt targets Spark: the lake is already Parquet; nothing to export")
        return dg.MaterializeResult(metadata={"skipped": "dbt target is not duckdb"})
    out = default_export_dir(Path(warehouse.path))
    with warehouse.connect(read_only=True) as con:
        result = export_parquet(con, out)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)),
        "tables": dg.MetadataValue.int(len(result.tables)),
        "rows": dg.MetadataValue.int(sum(t.rows for t in result.tables)),
        "bytes": dg.MetadataValue.int(result.bytes),
        "exported": dg.MetadataValue.md(export_markdown(result)),
    })

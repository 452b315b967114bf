"""Serving: the marts (and `bi` views) as Parquet for BI tools and lakehouse readers."""

import json
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.defs.transform.translator import PUBLISH_KEY
from pipelines.lib.dbt_manifest import ensure_manifest
from pipelines.lib.export import default_export_dir, export_markdown, export_parquet
from pipelines.resources import WarehouseResource
from pipelines.settings import DBT_PROJECT_DIR, load_settings

SERVED_SCHEMAS = ("marts", "bi")


def served_model_keys() -> list[dg.AssetKey]:
    """Every dbt model written to `marts` or `bi`, and the publish gate: the export runs after
    all of them, so it only ever exports published marts (keys as the translator names them:
    schema and relation name)."""
    manifest = json.loads(
        ensure_manifest(DBT_PROJECT_DIR, load_settings().dbt_target).read_text())
    keys = {dg.AssetKey([n["config"]["schema"], n.get("alias") or n["name"]])
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["config"].get("schema") in SERVED_SCHEMAS}
    return sorted(keys | {PUBLISH_KEY}, key=lambda k: k.to_user_string())


@dg.asset(
    key=["serving", "parquet_export"],
    group_name="serving",
    owners=["team:data-platform"],
    kinds={"parquet", "duckdb"},
    tags={"layer": "serving"},
    code_version="export-v1",
    deps=served_model_keys(),
    description="Every table and view of the `marts` and `bi` schemas as Parquet "
    "(`<dir>/<schema>/<table>/`, fct_orders Hive-partitioned by `order_month`), with a "
    "`_manifest.json`; owner-only permissions; swapped in atomically. Same as `siyu export`.",
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

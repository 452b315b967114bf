"""The publish gate: swap tonight's marts into `marts` after every blocking check passed.

The asset depends on every mart model (read from the dbt manifest), so Dagster runs it last
and skips it when a dbt model or error-severity test failed or when a blocking asset check on
any mart (great-expectations suites, identity sanity) failed: `marts` then keeps the last good
tables. On the Spark target dbt builds the marts in place (no build schema), so publishing is
a no-op there and says so in its metadata.
"""

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.defs.transform.dbt_assets import MANIFEST
from pipelines.defs.transform.translator import PUBLISH_KEY
from pipelines.lib.publish import BUILD_SCHEMA, PUBLISHED_SCHEMA, mart_models_from_file, publish
from pipelines.resources import WarehouseResource

MART_TABLES = mart_models_from_file(MANIFEST)


@dg.asset(
    key=PUBLISH_KEY,
    deps=[dg.AssetKey([PUBLISHED_SCHEMA, t]) for t in MART_TABLES],
    group_name="serving",
    owners=["team:data-platform"],
    kinds={"duckdb"},
    tags={"layer": "publish"},
    description=f"Copies every mart from `{BUILD_SCHEMA}` into `{PUBLISHED_SCHEMA}` in one "
    "transaction, only after all blocking checks passed; a failed night leaves the previous "
    "marts queryable.",
)
def publish_marts(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    if warehouse.dbt_target != "duckdb":
        return dg.MaterializeResult(metadata={
            "published": dg.MetadataValue.text(
                f"no-op on the {warehouse.dbt_target} target: dbt builds marts in place"),
        })
    with warehouse.connect() as con:
        result = publish(con, MART_TABLES)
    table = "\n".join(f"| {t} | {n:,} |" for t, n in result.rows.items())
    return dg.MaterializeResult(metadata={
        "tables_published": dg.MetadataValue.int(len(result.tables)),
        "rows": dg.MetadataValue.md("| table | rows |\n|---|---|\n" + table),
    })

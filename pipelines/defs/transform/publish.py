"""The publish gate: swap tonight's marts into `marts` after every blocking check passed.

The asset depends on every mart model (read from the dbt manifest), so Dagster runs it last
and skips it when a dbt model or error-severity test failed or when a blocking asset check on
any mart (great-expectations suites, identity sanity) failed: `marts` then keeps the last good
tables. On the Spark target dbt builds the marts in place (no build schema), so publishing is
a no-op there and says so in its metadata.
"""

import json

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.defs.transform.dbt_assets import MANIFEST
from pipelines.defs.transform.translator import PUBLISH_KEY
from pipelines.lib.publish import (
    BUILD_SCHEMA,
    PUBLISHED_SCHEMA,
    builds_by_runs,
    incremental_marts,
    mart_models,
    publish,
    view_marts,
)
from pipelines.resources import WarehouseResource

_manifest = json.loads(MANIFEST.read_text())
MART_TABLES = mart_models(_manifest)
INCREMENTAL_MARTS = incremental_marts(_manifest)
VIEW_MARTS = view_marts(_manifest)


def run_lineage(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """`run_id` and the runs it re-executes (its parents, nearest first): a re-execution of a
    failed publish or check has its own run id but publishes its parent's build."""
    chain: list[str] = []
    current: str | None = run_id
    while current and current not in chain:
        chain.append(current)
        run = instance.get_run_by_id(current)
        current = run.parent_run_id if run is not None else None
    return chain


@dg.asset(
    key=PUBLISH_KEY,
    deps=[dg.AssetKey([PUBLISHED_SCHEMA, t]) for t in MART_TABLES],
    group_name="serving",
    owners=["team:data-platform"],
    kinds={"duckdb"},
    tags={"layer": "publish"},
    description=f"Swaps the marts this run built in `{BUILD_SCHEMA}` into `{PUBLISHED_SCHEMA}` "
    "(renames, no copy) in one transaction, only after all blocking checks passed; a failed "
    "night leaves the previous marts queryable.",
)
def publish_marts(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    if warehouse.dbt_target != "duckdb":
        return dg.MaterializeResult(metadata={
            "published": dg.MetadataValue.text(
                f"no-op on the {warehouse.dbt_target} target: dbt builds marts in place"),
        })
    with warehouse.connect() as con:
        # the marts whose build under the build name is this run's (or a run it re-executes):
        # a re-executed old run must not publish a later night's (unchecked) build
        built = builds_by_runs(con, run_lineage(context.instance, context.run_id))
        if not built:
            raise dg.Failure(
                description="nothing to publish: this run (and the runs it re-executes) built "
                "no mart. Materialise the marts with the publish (the nightly job does), or "
                "re-execute the run that built them; marts left unchanged.")
        result = publish(con, MART_TABLES, built=built, incremental=INCREMENTAL_MARTS,
                         views=VIEW_MARTS)
    table = "\n".join(f"| {t} | {n:,} |" for t, n in result.rows.items())
    kept = sorted(set(MART_TABLES) - set(result.tables))
    return dg.MaterializeResult(metadata={
        "tables_published": dg.MetadataValue.int(len(result.tables)),
        "kept_unchanged": dg.MetadataValue.text(", ".join(kept) or "none: every mart was built"),
        "rows": dg.MetadataValue.md("| table | rows |\n|---|---|\n" + table),
    })

"""dbt models as Dagster assets; dbt tests become asset checks (error severity blocks).

The models are split where Python work sits in the middle of the graph (identity resolution
between the intermediate edges and the identity marts, predicted LTV after `fct_orders`), so
each dbt asset group runs as its own step in the right order.
"""


import json
from collections.abc import Iterator

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from pipelines.defs.transform.translator import SiyuDbtTranslator
from pipelines.lib.dbt_manifest import ensure_manifest
from pipelines.resources import WarehouseResource
from pipelines.settings import DBT_PROJECT_DIR, load_settings

_settings = load_settings()
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=_settings.dbt_target
)
MANIFEST = ensure_manifest(DBT_PROJECT_DIR, _settings.dbt_target)
TRANSLATOR = SiyuDbtTranslator()


def run_vars(context: AssetExecutionContext) -> dict[str, str]:
    """Pass the run's business-day range to dbt (incremental models read it)."""
    tags = context.run.tags
    out = {}
    if "dagster/asset_partition_range_start" in tags:
        out = {"min_dt": tags["dagster/asset_partition_range_start"],
               "max_dt": tags["dagster/asset_partition_range_end"]}
    elif "dagster/partition" in tags:
        out = {"min_dt": tags["dagster/partition"], "max_dt": tags["dagster/partition"]}
    return out


def _with_row_counts(events: list, warehouse: WarehouseResource) -> Iterator:
    """Attach row counts read in one short read-only connection after dbt has exited."""
    counts: dict[tuple[str, ...], int] = {}
    keys = [e.asset_key for e in events if isinstance(e, dg.Output | dg.AssetMaterialization)]
    if keys and warehouse.dbt_target == "duckdb":
        with warehouse.connect(read_only=True) as con:
            for k in keys:
                try:
                    counts[k.path] = con.execute(
                        f'SELECT count(*) FROM "{k.path[0]}"."{k.path[-1]}"'
                    ).fetchall()[0][0]
                except Exception:  # a view over a missing source; dbt reported it already
                    continue
    for e in events:
        if isinstance(e, dg.Output | dg.AssetMaterialization) and e.asset_key.path in counts:
            yield e.with_metadata({**e.metadata,
                                   "dagster/row_count": dg.MetadataValue.int(counts[e.asset_key.path])})
        else:
            yield e


def build_dbt_assets(name: str, select: str, exclude: str = "") -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=MANIFEST, project=dbt_project, select=select, exclude=exclude, name=name,
        dagster_dbt_translator=TRANSLATOR,
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource,
                warehouse: WarehouseResource) -> Iterator:
        args = ["build"]
        v = run_vars(context)
        if v:
            args += ["--vars", json.dumps(v)]
        invocation = dbt.cli(args, context=context, raise_on_error=False)
        events = list(invocation.stream())
        yield from _with_row_counts(events, warehouse)
        if not invocation.is_successful():
            raise dg.Failure(
                description="dbt build failed (a model error or an error-severity test); "
                "downstream assets were not built.",
                metadata={"dbt_error": dg.MetadataValue.text(str(invocation.get_error()))},
            )

    return _models


dbt_staging = build_dbt_assets("dbt_staging", select="fqn:siyu.staging")

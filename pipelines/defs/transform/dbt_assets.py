"""dbt models as Dagster assets; dbt tests become asset checks (error severity blocks).

The models are split where Python work sits in the middle of the graph (identity resolution
and predicted LTV between the intermediate models and the marts), so each dbt asset group runs
as its own step in the right order. dbt builds every model in place in the DuckDB workspace
(incremental models the standard dbt way); what BI tools read is published to the serving
PostgreSQL after every blocking check passed (defs/serving/assets.py). Every invocation costs
≈ 5-10 s whatever its size (start-up, manifest, artifacts): keep them few.
"""


import json
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from pipelines.defs.platform.jobs import FULL_REFRESH_TAG
from pipelines.defs.transform.translator import SiyuDbtTranslator
from pipelines.lib.platform import progress
from pipelines.lib.platform.dbt_manifest import ensure_manifest
from pipelines.lib.quality import charts, mart_metadata
from pipelines.lib.quality.mart_markdown import profile_table
from pipelines.resources import WarehouseResource
from pipelines.settings import DBT_PROJECT_DIR, load_settings

_settings = load_settings()
MANIFEST = ensure_manifest(DBT_PROJECT_DIR, _settings.dbt_target)
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=_settings.dbt_target,
    target_path=MANIFEST.parent.relative_to(DBT_PROJECT_DIR),
)
TRANSLATOR = SiyuDbtTranslator()
MANIFEST_JSON = json.loads(MANIFEST.read_text())


def dbt_target_path(warehouse: WarehouseResource) -> Path:
    """One dbt target folder per warehouse, kept between invocations: dbt's partial-parse
    state is only reused for the same profile (warehouse path) and vars."""
    return Path(warehouse.path).parent / ".dbt_target" / _settings.dbt_target


def _event_key(context: AssetExecutionContext, e) -> dg.AssetKey | None:
    if isinstance(e, dg.Output):
        return context.asset_key_for_output(e.output_name)
    if isinstance(e, dg.AssetMaterialization):
        return e.asset_key
    return None


def _with_row_counts(context: AssetExecutionContext, events: list,
                     warehouse: WarehouseResource) -> Iterator:
    """Attach row counts read in one short read-only connection after dbt has exited.

    (dagster-dbt's `fetch_row_counts` opens a second connection while dbt may still hold the
    file; counting afterwards avoids the lock collision.)
    """
    counts: dict[tuple[str, ...], int] = {}
    profiles: dict[tuple[str, ...], dict[str, dg.MetadataValue]] = {}
    keys = [k for e in events if (k := _event_key(context, e)) is not None]
    if keys and warehouse.dbt_target == "duckdb":
        with warehouse.connect(read_only=True) as con:
            for i, k in enumerate(keys):
                progress.report(i, len(keys), "tables counted and profiled")
                try:
                    schema = k.path[0]
                    counts[tuple(k.path)] = con.execute(
                        f'SELECT count(*) FROM "{schema}"."{k.path[-1]}"').fetchall()[0][0]
                except Exception:  # a view over a missing source; dbt reported it already
                    continue
                profiles[tuple(k.path)] = {
                    **{name: dg.MetadataValue.md(md)
                       for name, md in profile_table(con, schema, k.path[-1]).items()},
                    **_summary_metadata(con, schema, k.path[-1])}
    for i, e in enumerate(events):
        # Dagster handles and stores each event as it is yielded: 9.7 s and 11.4 s for the
        # ≈ 325 events of the staging and marts steps (2,000 members, shared 2-core machine,
        # after dbt's 21 s and 15 s) — the view shows that wait too
        progress.report(i, len(events), "events recorded")
        k = _event_key(context, e)
        if k is not None and tuple(k.path) in counts:
            yield e.with_metadata({**e.metadata, **profiles.get(tuple(k.path), {}),
                                   "dagster/row_count": dg.MetadataValue.int(counts[tuple(k.path)])})
        else:
            yield e


def _summary_metadata(con, schema: str, name: str) -> dict[str, dg.MetadataValue]:
    """Distributions (Markdown tables; Vega-Lite charts drawn as pictures) for the marts that
    have one."""
    kinds = {"md": dg.MetadataValue.md, "json": dg.MetadataValue.json}
    out = {}
    for key, (kind, value) in mart_metadata.summarise(con, schema, name).items():
        if kind == "json" and charts.is_vega_lite(value):
            kind, value = charts.drawn(value)
        out[key] = kinds[kind](value)
    return out


def _failed_nodes(invocation) -> str:
    """A Markdown list of the dbt nodes that errored or failed, with dbt's message."""
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except Exception as exc:  # no artifact: dbt failed before running anything
        return f"- dbt did not produce run results ({exc}): {invocation.get_error()}"
    lines = [
        f"- `{r['unique_id']}` {r['status']}: {(r.get('message') or '').strip()[:500]}"
        for r in results if r.get("status") in ("error", "fail", "runtime error")
    ]
    return "\n".join(lines) or f"- {invocation.get_error()}"


def build_dbt_assets(name: str, select: str, exclude: str = "") -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=MANIFEST, project=dbt_project, select=select, exclude=exclude, name=name,
        dagster_dbt_translator=TRANSLATOR,
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource,
                warehouse: WarehouseResource) -> Iterator:
        yield from _build(context, dbt, warehouse)

    return _models


def _build(context: AssetExecutionContext, dbt: DbtCliResource,
           warehouse: WarehouseResource) -> Iterator:
    # unit tests check the SQL of the rules on fixed inputs, not the night's data: they run in
    # the test suite (tests/unit/test_dbt_unit_tests.py), not in every night, as dbt's docs
    # advise; measured ≈ 4 s of a 58 s hand-made `siyu run` (11 unit tests) and ≈ 35 s of a
    # night on the Spark target
    # (a flag on the command line replaces dbt's DBT_EXCLUDE_RESOURCE_TYPES: merge them, so
    # leaving the data tests out by that variable, as the Spark equivalence test does, still works)
    excluded = {"unit_test", *os.environ.get("DBT_EXCLUDE_RESOURCE_TYPES", "").split()}
    args = ["build", "--exclude-resource-type", *sorted(excluded)]
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        args.append("--full-refresh")
    invocation = dbt.cli(args, context=context, raise_on_error=False,
                         target_path=dbt_target_path(warehouse))
    # the events are held until dbt has exited (row counts need the file: _with_row_counts);
    # meanwhile the live view of `siyu run` counts them against what Dagster selected
    total = len(context.selected_asset_keys) + len(context.selected_asset_check_keys)
    events, done = [], 0
    for e in invocation.stream():
        events.append(e)
        if isinstance(e, dg.Output | dg.AssetMaterialization | dg.AssetCheckResult):
            done += 1
            progress.report(min(done, total), total, "models and tests")
    yield from _with_row_counts(context, events, warehouse)
    if not invocation.is_successful():
        raise dg.Failure(
            description="dbt build failed (a model error or an error-severity test); "
            "downstream assets were not built:\n" + _failed_nodes(invocation),
            metadata={"failed_nodes": dg.MetadataValue.md(_failed_nodes(invocation))},
        )


def _has_models(prefix: tuple[str, ...]) -> bool:
    return any(tuple(n.get("fqn", [])[: len(prefix)]) == prefix
               for n in MANIFEST_JSON["nodes"].values() if n.get("resource_type") == "model")


#: staging + the intermediate models the identity asset reads. The `raw` sources' own dbt
#: tests are left out of the nightly run: ingestion is the gate for raw (a row missing a
#: required value is quarantined, never loaded; the GX raw suites run on every loaded day), so
#: they re-checked the whole raw history every night to confirm it — 47 tests, and as tests
#: on sources, which are not Dagster assets here, each logged a warning instead of a check
#: result. `dbt build` by hand still runs them.
dbt_staging_intermediate = build_dbt_assets(
    "dbt_staging_intermediate",
    select="fqn:siyu.staging fqn:siyu.intermediate.identity fqn:siyu.intermediate.orders",
    exclude="source:raw",
)
#: marts built on the identity state (identity, orders, member value) and the LTV marts, which
#: read the predictions the Python CLV asset writes between the identity step and this one
dbt_marts = build_dbt_assets(
    "dbt_marts",
    select="fqn:siyu.marts fqn:siyu.intermediate.member_value fqn:siyu.intermediate.ltv "
    "fqn:siyu.intermediate.groups",
)
#: BI views (schema `bi`, no direct identifiers) over the marts; published with them
dbt_serving = (
    build_dbt_assets("dbt_serving", select="fqn:siyu.serving")
    if _has_models(("siyu", "serving")) else None
)

"""dbt models as Dagster assets; dbt tests become asset checks (error severity blocks).

The models are split where Python work sits in the middle of the graph (identity resolution
and predicted LTV between the intermediate models and the marts) and where the publish gate
sits (BI views after it), so each dbt asset group runs as its own step in the right order.
Every invocation costs ≈ 5-10 s whatever its size (start-up, manifest, artifacts): keep them
few.
"""


import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from pipelines.defs.ops.jobs import FULL_REFRESH_TAG
from pipelines.defs.transform.translator import SiyuDbtTranslator
from pipelines.lib import mart_metadata
from pipelines.lib.dbt_manifest import ensure_manifest
from pipelines.lib.mart_profiles import profile_table
from pipelines.lib.publish import (
    PUBLISHED_SCHEMA,
    build_vars,
    incremental_marts,
    physical_schema,
    record_builds,
    restore_incremental_bases,
    set_aside_unbuilt_bases,
)
from pipelines.lib.serving_views import (
    ViewGroup,
    fingerprint,
    last_build,
    record_build,
    view_group,
)
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
INCREMENTAL_MARTS = incremental_marts(MANIFEST_JSON)


def run_vars() -> dict[str, str]:
    """The dbt vars every invocation passes: on DuckDB, build the marts into the build schema
    (published after the checks, lib/publish.py).

    Deliberately the same every night: dbt re-parses the whole project (≈10 s) when vars
    change, and nothing needs the run's days — incremental models find their work in the data
    (macros/incremental.sql), so a failed night or a re-run partition cannot be missed.
    """
    return build_vars(_settings.dbt_target)


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
            for k in keys:
                try:
                    # tonight's tables: marts sit in the build schema until published
                    schema = physical_schema(k.path[0], warehouse.dbt_target)
                    counts[tuple(k.path)] = con.execute(
                        f'SELECT count(*) FROM "{schema}"."{k.path[-1]}"').fetchall()[0][0]
                except Exception:  # a view over a missing source; dbt reported it already
                    continue
                profiles[tuple(k.path)] = {
                    **{name: dg.MetadataValue.md(md)
                       for name, md in profile_table(con, schema, k.path[-1]).items()},
                    **_summary_metadata(con, schema, k.path[-1])}
    for e in events:
        k = _event_key(context, e)
        if k is not None and tuple(k.path) in counts:
            yield e.with_metadata({**e.metadata, **profiles.get(tuple(k.path), {}),
                                   "dagster/row_count": dg.MetadataValue.int(counts[tuple(k.path)])})
        else:
            yield e


def _summary_metadata(con, schema: str, name: str) -> dict[str, dg.MetadataValue]:
    """Distributions (Markdown tables, Vega-Lite specs) for the marts that have one."""
    kinds = {"md": dg.MetadataValue.md, "json": dg.MetadataValue.json}
    return {key: kinds[kind](value)
            for key, (kind, value) in mart_metadata.summarise(con, schema, name).items()}


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


def _whole_group(context: AssetExecutionContext, views: ViewGroup) -> bool:
    """Whether the run selected every view of the group (keys as the translator names them:
    schema and relation)."""
    return {dg.AssetKey(list(r)) for r in views.models.values()} <= set(
        context.selected_asset_keys)


def _views_unchanged(context: AssetExecutionContext, warehouse: WarehouseResource,
                     views: ViewGroup | None) -> str | None:
    """Why dbt need not run for this group of views; None when it must.

    dbt may be left out only for a group of views on DuckDB, when the whole group is selected,
    no full refresh was asked for, and the views' fingerprint (which covers the views' SQL in
    the warehouse, so a missing or altered view differs) is the one stored after the last
    successful build (lib/serving_views.py)."""
    if (views is None or warehouse.dbt_target != "duckdb"
            or context.run.tags.get(FULL_REFRESH_TAG) == "true"
            or not _whole_group(context, views)):
        return None
    with warehouse.connect(read_only=True) as con:
        fp = fingerprint(MANIFEST_JSON, views, con, DBT_PROJECT_DIR)
        last = last_build(con, views.name)
    if last is None or last[0] != fp:
        return None
    return (f"not invoked: the views, their definitions and the columns they read are "
            f"unchanged since run {last[1]} ({last[2]}), and the views read the published marts")


def _unchanged_view_outputs(context: AssetExecutionContext, warehouse: WarehouseResource,
                            reason: str) -> Iterator:
    """The views are current: re-assert them (with row counts) instead of re-creating them."""
    context.log.info(f"dbt {reason}")
    events = [dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_key(k),
                        metadata={"dbt": dg.MetadataValue.text(reason)})
              for k in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string())]
    yield from _with_row_counts(context, events, warehouse)


def build_dbt_assets(name: str, select: str, exclude: str = "",
                     views: ViewGroup | None = None) -> dg.AssetsDefinition:
    """`views`: the group is all views; dbt runs only when their definitions changed."""

    @dbt_assets(
        manifest=MANIFEST, project=dbt_project, select=select, exclude=exclude, name=name,
        dagster_dbt_translator=TRANSLATOR,
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource,
                warehouse: WarehouseResource) -> Iterator:
        unchanged = _views_unchanged(context, warehouse, views)
        if unchanged:
            yield from _unchanged_view_outputs(context, warehouse, unchanged)
            return
        restored: list[str] = []
        if warehouse.dbt_target == "duckdb":
            selected = {k.path[-1] for k in context.selected_asset_keys
                        if k.path[0] == PUBLISHED_SCHEMA}
            if selected & INCREMENTAL_MARTS:
                # the incremental marts' previous rows, kept aside by the publish
                with warehouse.connect() as con:
                    restored = restore_incremental_bases(con, selected & INCREMENTAL_MARTS)
                if restored:
                    context.log.info(f"incremental bases put back for: {', '.join(restored)}")
        built: set[str] = set()  # marts dbt built (their tests may still fail)
        succeeded = False
        try:
            for event in _build(context, dbt, warehouse):
                key = _event_key(context, event)
                if key is not None and key.path[0] == PUBLISHED_SCHEMA:
                    built.add(key.path[-1])
                yield event
            succeeded = True
        finally:
            try:
                _after_build(context, warehouse, restored, built)
            finally:
                if views is not None and warehouse.dbt_target == "duckdb":
                    _record_views(context, warehouse, views, succeeded)

    return _models


def _after_build(context: AssetExecutionContext, warehouse: WarehouseResource,
                 restored: list[str], built: set[str]) -> None:
    """Record which marts this run built (the publish swaps in only those), and set aside
    again the bases of incremental marts dbt did not build after all."""
    if warehouse.dbt_target != "duckdb" or not (built or restored):
        return
    with warehouse.connect() as con:
        record_builds(con, built, context.run_id, incremental_on_base=set(restored) & built)
        undone = set_aside_unbuilt_bases(con, restored, built)
    if undone:
        context.log.warning(f"not built, bases set aside again: {', '.join(undone)}")


def _record_views(context: AssetExecutionContext, warehouse: WarehouseResource,
                  views: ViewGroup, succeeded: bool) -> None:
    """Store the fingerprint of the views a whole-group build created (computed now, so it
    includes the views' SQL as dbt wrote it); forget it after any failed build, so the next
    run invokes dbt whatever it finds."""
    if succeeded and not _whole_group(context, views):
        return  # the other views were not re-created: what is stored still describes them
    with warehouse.connect() as con:
        fp = fingerprint(MANIFEST_JSON, views, con, DBT_PROJECT_DIR) if succeeded else None
        record_build(con, views.name, fp, context.run_id)


def _build(context: AssetExecutionContext, dbt: DbtCliResource,
           warehouse: WarehouseResource) -> Iterator:
    args = ["build"]
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        args.append("--full-refresh")
    v = run_vars()
    if v:
        args += ["--vars", json.dumps(v)]
    invocation = dbt.cli(args, context=context, raise_on_error=False,
                         target_path=dbt_target_path(warehouse))
    events = list(invocation.stream())
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
    select="fqn:siyu.marts fqn:siyu.intermediate.member_value fqn:siyu.intermediate.ltv",
)
#: BI views (schema `bi`) over the published marts; they run after the publish gate, and dbt
#: runs only when their definitions changed (lib/serving_views.py)
dbt_serving = (
    build_dbt_assets("dbt_serving", select="fqn:siyu.serving",
                     views=view_group(MANIFEST_JSON, "dbt_serving", ("siyu", "serving")))
    if _has_models(("siyu", "serving")) else None
)

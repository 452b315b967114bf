"""OneID: stable member ids from the identity edges (thin over `lib/identity`).

Reads `intermediate.int_identity__nodes/edges` where they are — in DuckDB with integer keys
(`lib/identity/compact.py`), on the Spark cluster as DataFrames (`lib/identity/spark_resolve.py`)
— resolves connected components into stable member ids against the previous night's persisted
state (member ids follow the founding identifier, so a sequence of
nights gives the ids a full build gives: rules in `pipelines/lib/identity/`), and writes the `identity`
schema (one transaction on DuckDB). The dbt identity marts read it as a source.
"""

from datetime import date

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.lib.identity import store as identity_store
from pipelines.lib.identity.compact import resolve_in_warehouse, write_night
from pipelines.lib.platform.engines import Engine
from pipelines.lib.platform.project_vars import var
from pipelines.resources import WarehouseResource
from pipelines.settings import load_settings

OWNERS = ["team:data-platform"]
_settings = load_settings()
STATE_KEYS = {
    "member_id_assignments": "Current member_id of every identifier (not shared ones); "
                             "is_founder marks the identifier each member id is minted from.",
    "members": "One row per current member with first_seen_at and identifier count.",
    "merges": "Cumulative log of retired member ids (two members linked into one).",
    "splits": "Cumulative log of members split because a link disappeared.",
    "shared_hubs": "Hub identifiers the component cap split a component at (flag_kind "
                   "component_cap in marts.shared_identifiers): they belong to no member.",
}
#: Sanity bounds checked on every run (blocking), one documented var set beside
#: shared_identifier_limits in dbt_project.yml: a component above the cap is split at its hub
#: (lib/identity/cap.py), so a member holds at most this many identifiers unless no hub was
#: left to split at; more than this share of identifiers in components above the cap means an
#: unflagged systemic shared identifier (the per-type limits miss it).
MAX_COMPONENT_SIZE = int(var("identity_max_component_size"))
MAX_CAPPED_SHARE = float(var("identity_max_capped_share"))
#: Above this share of identifiers affected tonight the DuckDB night runs in full
#: (lib/identity/compact.py, "Incremental nights").
INCREMENTAL_MAX_SHARE = float(var("identity_incremental_max_share"))
#: Merges in one night above this share of members (and above the floor, so tiny test zones
#: do not trip it) mean an unflagged shared identifier glued many people together.
MAX_MERGE_SHARE_PER_NIGHT = 0.05
MERGE_FLOOR = 20


def merges_within_bounds(merges: int, members: int) -> bool:
    """True when tonight's merge count is plausible for the member base."""
    return merges <= max(MERGE_FLOOR, MAX_MERGE_SHARE_PER_NIGHT * members)


def _as_of(engine: Engine) -> date:
    """The last business day loaded into raw: the state describes everything known by then."""
    rows = engine.read_arrow(
        "SELECT max(d) AS as_of FROM (SELECT max(_dt) AS d FROM raw.pos__members UNION ALL "
        "SELECT max(_dt) AS d FROM raw.pos__orders UNION ALL "
        "SELECT max(_dt) AS d FROM raw.tmall__orders UNION ALL "
        "SELECT max(_dt) AS d FROM raw.miniprogram__users) AS days"
    )
    return rows.column("as_of")[0].as_py() or date(1970, 1, 1)


def capped_share(stats: dict) -> float:
    """Share of identifiers that were in components above the cap."""
    return int(stats.get("identifiers_in_capped_components", 0)) / max(1, int(stats["identifiers"]))


def _components_md(top: list[dict]) -> str:
    lines = ["| identifiers in component | hub flagged | capped |", "|---|---|---|"]
    lines += [f"| {c['size']:,} | {c['hub'] or '—'} | {'yes' if c['capped'] else 'no'} |"
              for c in top]
    return "\n".join(lines)


def _histogram_md(hist: dict) -> str:
    lines = ["| identifiers per member | members |", "|---|---|"]
    lines += [f"| {k} | {v:,} |" for k, v in hist.items()]
    return "\n".join(lines)


@dg.multi_asset(
    name="resolve_member_identities",
    specs=[
        dg.AssetSpec(
            dg.AssetKey(["identity", name]),
            description=desc,
            group_name="identity",
            owners=OWNERS,
            kinds={"python", _settings.dbt_target, "scipy"},
            tags={"layer": "identity"},
            code_version="identity-v2",
            deps=[dg.AssetKey(["intermediate", "int_identity__nodes"]),
                  dg.AssetKey(["intermediate", "int_identity__edges"])],
            metadata={"dagster/table_name": f"identity.{name}"},
        )
        for name, desc in STATE_KEYS.items()
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "identity_sanity", asset=dg.AssetKey(["identity", "member_id_assignments"]),
            blocking=True,
            description=f"largest member ≤ {MAX_COMPONENT_SIZE} identifiers (the component "
            f"cap); identifiers in components above the cap ≤ {MAX_CAPPED_SHARE:.0%}; every "
            "identifier has exactly one member; merges tonight ≤ "
            f"max({MERGE_FLOOR}, {MAX_MERGE_SHARE_PER_NIGHT:.0%} of members) (the share of "
            "members flagged for a shared identifier is checked on dim_member)",
        )
    ],
    can_subset=False,
)
def resolve_member_identities(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.engine() as engine:
        as_of = _as_of(engine)
        if engine.name == "spark":
            stats, written, n_assignments = _resolve_on_spark(engine, as_of)
        else:
            stats, written, n_assignments = _resolve_in_warehouse(engine, as_of)
        dup = engine.read_arrow(
            "SELECT count(*) AS n FROM (SELECT id_type, id_value "
            "FROM identity.member_id_assignments GROUP BY id_type, id_value "
            "HAVING count(*) > 1) AS d").column("n")[0].as_py()
    meta = {
        "as_of": dg.MetadataValue.text(str(as_of)),
        # full (why) or incremental (affected N of M identifiers): lib/identity/compact.py
        "identity_mode": dg.MetadataValue.text(str(stats.get("identity_mode", "full"))),
        "members": dg.MetadataValue.int(int(stats["members"])),
        "identifiers": dg.MetadataValue.int(int(stats["identifiers"])),
        "new_members": dg.MetadataValue.int(int(stats.get("new_members", 0))),
        "merges_this_run": dg.MetadataValue.int(int(stats["merges"])),
        "splits_this_run": dg.MetadataValue.int(int(stats["splits"])),
        # ids a split gave back to the member founded by the same identifier (a rebuild mints
        # them too); members whose founder is no longer an identifier (they keep their id, a
        # rebuild would mint another); founders derived for a state written before them
        "revived_ids": dg.MetadataValue.int(int(stats["revived_ids"])),
        "founders_gone": dg.MetadataValue.int(int(stats["founders_gone"])),
        "founders_derived": dg.MetadataValue.int(int(stats["founders_derived"])),
        "largest_member_size": dg.MetadataValue.int(int(stats["largest_cluster_size"])),
        "cluster_size_histogram": dg.MetadataValue.md(_histogram_md(stats["cluster_size_histogram"])),
        "edges_used": dg.MetadataValue.int(int(stats["edges_used"])),
        # the component cap (lib/identity/cap.py): the largest components before it
        # (not on Spark yet: there a component above the cap stops the night, identity_sanity)
        "largest_components": dg.MetadataValue.md(_components_md(stats.get("largest_components", []))),
        "capped_components": dg.MetadataValue.int(int(stats.get("capped_components", 0))),
        "shared_hubs_flagged": dg.MetadataValue.int(int(stats.get("shared_hubs_flagged", 0))),
        # versions written tonight and identifiers that changed member (identity_store doc)
        **{k: dg.MetadataValue.int(n) for k, n in written.items()},
    }
    yield dg.MaterializeResult(asset_key=dg.AssetKey(["identity", "member_id_assignments"]),
                               metadata={**meta, "dagster/row_count": dg.MetadataValue.int(
                                   n_assignments)})
    yield dg.MaterializeResult(asset_key=dg.AssetKey(["identity", "members"]),
                               metadata={"dagster/row_count": dg.MetadataValue.int(int(stats["members"]))})
    yield dg.MaterializeResult(asset_key=dg.AssetKey(["identity", "merges"]),
                               metadata={"merges_this_run": meta["merges_this_run"]})
    yield dg.MaterializeResult(asset_key=dg.AssetKey(["identity", "splits"]),
                               metadata={"splits_this_run": meta["splits_this_run"]})
    yield dg.MaterializeResult(asset_key=dg.AssetKey(["identity", "shared_hubs"]),
                               metadata={"shared_hubs_flagged": meta["shared_hubs_flagged"]})
    largest = int(stats["largest_cluster_size"])
    merges_ok = merges_within_bounds(int(stats["merges"]), int(stats["members"]))
    share = capped_share(stats)
    yield dg.AssetCheckResult(
        asset_key=dg.AssetKey(["identity", "member_id_assignments"]),
        check_name="identity_sanity",
        passed=(largest <= MAX_COMPONENT_SIZE and share <= MAX_CAPPED_SHARE and dup == 0
                and merges_ok),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"largest_member_size": dg.MetadataValue.int(largest),
                  "identifiers_with_several_members": dg.MetadataValue.int(int(dup)),
                  "merges_this_run": dg.MetadataValue.int(int(stats["merges"])),
                  "merges_within_bounds": dg.MetadataValue.bool(merges_ok),
                  "share_of_identifiers_in_capped_components": dg.MetadataValue.float(share)},
    )


def _resolve_in_warehouse(engine: Engine, as_of: date) -> tuple[dict, dict, int]:
    """DuckDB target, compact: integer keys from identity.identifier_keys, no string per
    identifier in Python (pipelines/lib/identity/compact.py), components capped; incremental
    when the graph persisted with the previous state allows (else full, the reason in
    `identity_mode`)."""
    state_sql, members_sql = identity_store.previous_state_sql(engine, as_of)
    night = resolve_in_warehouse(
        engine.con, as_of=as_of, nodes="intermediate.int_identity__nodes",
        edges="intermediate.int_identity__edges", state=state_sql, members=members_sql,
        retired_ids=identity_store.retired_ids(engine, as_of),
        max_component_size=MAX_COMPONENT_SIZE, incremental_max_share=INCREMENTAL_MAX_SHARE)
    written = write_night(engine, as_of, night)
    n_assignments = engine.read_arrow("SELECT count(*) AS n FROM identity.member_id_assignments"
                                      ).column("n")[0].as_py()
    return {**night.stats, "identity_mode": night.mode}, written, int(n_assignments)


def _resolve_on_spark(engine: Engine, as_of: date) -> tuple[dict, dict, int]:
    """Spark target: the same rules as DataFrame operations on the cluster
    (`lib/identity/spark_resolve.py`); only counts reach this process. Every Spark night
    resolves the whole graph (incremental nights are the DuckDB path's). The component cap is
    not applied there yet: a component above it fails identity_sanity and stops the night."""
    from pipelines.lib.identity import spark_store
    from pipelines.lib.identity.spark_resolve import resolve_spark

    spark = engine.spark
    prev_state, prev_members = spark_store.previous_state(engine, as_of)
    result = resolve_spark(spark.table("intermediate.int_identity__nodes"),
                           spark.table("intermediate.int_identity__edges"), prev_state,
                           prev_members, as_of=as_of,
                           retired_ids=spark_store.retired_ids(engine, as_of))
    written = spark_store.write_state(engine, as_of, result.assignments, result.members,
                                      result.merges, result.splits)
    return result.stats, written, int(result.stats["identifiers"])

"""OneID: stable member ids from the identity edges (thin over `lib/identity`).

Resolves `intermediate.int_identity__nodes/edges` into stable member ids against the previous
night's persisted state (member ids follow the founding identifier, so a sequence of nights
gives the ids a full build gives: rules in `pipelines/lib/identity/`), and writes the
`identity` schema. The dbt identity marts read it as a source. Per target
(`WarehouseResource.engine`):

* DuckDB: the graph is read as Arrow into this process (`resolve`, SciPy components) and the
  state written in one transaction (`store`);
* Spark: the same rules run as DataFrame operations on the cluster (`spark_resolve`,
  large-star/small-star components in `spark_components`) and the state is written by Spark
  (`spark_store`): only counts reach this process.
"""

from datetime import date

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext

from pipelines.lib.identity import resolve
from pipelines.lib.identity import store as identity_store
from pipelines.lib.platform.engines import Engine
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
}
#: Sanity bounds checked on every run (blocking): a member with more identifiers than this is
#: almost certainly glued together by an unflagged shared identifier.
MAX_IDENTIFIERS_PER_MEMBER = 30
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
            description=f"largest member ≤ {MAX_IDENTIFIERS_PER_MEMBER} identifiers; every "
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
            result, written, n_assignments = _resolve_on_spark(engine, as_of)
        else:
            result, written, n_assignments = _resolve_in_process(engine, as_of)
        dup = engine.read_arrow(
            "SELECT count(*) AS n FROM (SELECT id_type, id_value "
            "FROM identity.member_id_assignments GROUP BY id_type, id_value "
            "HAVING count(*) > 1) AS d").column("n")[0].as_py()
    stats = result.stats
    meta = {
        "as_of": dg.MetadataValue.text(str(as_of)),
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
    largest = int(stats["largest_cluster_size"])
    merges_ok = merges_within_bounds(int(stats["merges"]), int(stats["members"]))
    yield dg.AssetCheckResult(
        asset_key=dg.AssetKey(["identity", "member_id_assignments"]),
        check_name="identity_sanity",
        passed=largest <= MAX_IDENTIFIERS_PER_MEMBER and dup == 0 and merges_ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"largest_member_size": dg.MetadataValue.int(largest),
                  "identifiers_with_several_members": dg.MetadataValue.int(int(dup)),
                  "merges_this_run": dg.MetadataValue.int(int(stats["merges"])),
                  "merges_within_bounds": dg.MetadataValue.bool(merges_ok)},
    )


def _resolve_in_process(engine: Engine, as_of: date):
    """DuckDB target: the graph as Arrow in this process, components in SciPy."""
    nodes = engine.read_arrow("SELECT * FROM intermediate.int_identity__nodes")
    edges = engine.read_arrow("SELECT * FROM intermediate.int_identity__edges")
    prev_state, prev_members = identity_store.previous_state(engine, as_of)
    result = resolve(nodes, edges, prev_state, prev_members, as_of=as_of,
                     retired_ids=identity_store.retired_ids(engine, as_of))
    written = identity_store.write_state(engine, as_of, _arrow(result.assignments),
                                         _arrow(result.members), _arrow(result.merges),
                                         _arrow(result.splits))
    return result, written, _arrow(result.assignments).num_rows


def _resolve_on_spark(engine: Engine, as_of: date):
    """Spark target: the same rules as DataFrame operations on the cluster
    (`lib/identity/spark_resolve.py`); only counts reach this process."""
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
    return result, written, int(result.stats["identifiers"])


def _arrow(t) -> pa.Table:
    return t if isinstance(t, pa.Table) else pa.Table.from_pandas(t, preserve_index=False)

"""Persisted OneID state in the warehouse's `identity` schema (DuckDB or Spark).

Each run writes a snapshot keyed by `as_of` (the last business day loaded). The previous state
for a run is the newest snapshot strictly before its `as_of`, so re-running a night reproduces
exactly the same ids, merges and splits (idempotent), and a later night builds on the earlier
one (stable ids). `identity.member_id_assignments` is the current state the marts read.

Written through `pipelines.lib.engines` (one code path for both targets); on DuckDB the whole
write is one transaction, on Spark a failed write is repaired by re-running the step.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from pipelines.lib.engines import Engine

#: Snapshots kept besides the current one; older ones are pruned (merge/split logs are kept).
KEEP_SNAPSHOTS = 14

TS = pa.timestamp("us")
SCHEMAS: dict[str, pa.Schema] = {
    "assignment_snapshots": pa.schema([
        ("as_of", pa.date32()), ("id_type", pa.string()), ("id_value", pa.string()),
        ("member_id", pa.string()), ("first_seen_at", TS), ("last_seen_at", TS)]),
    "member_snapshots": pa.schema([
        ("as_of", pa.date32()), ("member_id", pa.string()), ("first_seen_at", TS),
        ("n_identifiers", pa.int64())]),
    "merges": pa.schema([
        ("as_of", pa.date32()), ("old_member_id", pa.string()), ("member_id", pa.string()),
        ("merged_at", pa.date32()), ("reason", pa.string())]),
    "splits": pa.schema([
        ("as_of", pa.date32()), ("member_id", pa.string()), ("new_member_id", pa.string()),
        ("split_at", pa.date32()), ("reason", pa.string())]),
}


def _lit(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def ensure_schema(engine: Engine) -> None:
    for name, schema in SCHEMAS.items():
        engine.create_table_if_missing(f"identity.{name}", schema)


def previous_state(engine: Engine, as_of: date) -> tuple[pa.Table, pa.Table]:
    ensure_schema(engine)
    prev = engine.read_arrow(
        f"SELECT max(as_of) AS prev FROM identity.assignment_snapshots WHERE as_of < {_lit(as_of)}"
    ).column("prev")[0].as_py()
    where = f"as_of = {_lit(prev)}" if prev is not None else "1 = 0"
    state = engine.read_arrow(
        f"SELECT id_type, id_value, member_id FROM identity.assignment_snapshots WHERE {where}")
    members = engine.read_arrow(
        f"SELECT member_id, first_seen_at FROM identity.member_snapshots WHERE {where}")
    return state, members


def retired_ids(engine: Engine, as_of: date) -> pa.Array:
    """Every member id retired by a merge before `as_of`: never to be minted again.

    A split can found a part on an identifier whose hash once was a member id that later
    merged away; re-minting it would make one id mean two people in BI history.
    """
    ensure_schema(engine)
    rows = engine.read_arrow(
        "SELECT DISTINCT old_member_id FROM identity.merges "
        f"WHERE as_of < {_lit(as_of)} ORDER BY old_member_id")
    return rows.column("old_member_id").combine_chunks().cast(pa.string())


def _with_as_of(table: pa.Table, as_of: date, schema: pa.Schema) -> pa.Table:
    t = table.add_column(0, "as_of", pa.array([as_of] * table.num_rows, pa.date32()))
    return t.select(schema.names).cast(schema)


def write_state(engine: Engine, as_of: date, assignments: pa.Table, members: pa.Table,
                merges: pa.Table, splits: pa.Table) -> None:
    """Replace the snapshot for `as_of` and publish it as current."""
    ensure_schema(engine)
    with engine.transaction():
        for table, data in (("assignment_snapshots", assignments), ("member_snapshots", members),
                            ("merges", merges), ("splits", splits)):
            engine.replace_rows(f"identity.{table}", f"as_of < {_lit(as_of)}",
                                _with_as_of(data, as_of, SCHEMAS[table]))
        engine.create_table_as(
            "identity.member_id_assignments",
            "SELECT id_type, id_value, member_id, first_seen_at, last_seen_at "
            f"FROM identity.assignment_snapshots WHERE as_of = {_lit(as_of)}")
        engine.create_table_as(
            "identity.members",
            "SELECT member_id, first_seen_at, n_identifiers "
            f"FROM identity.member_snapshots WHERE as_of = {_lit(as_of)}")
        kept = engine.read_arrow(
            "SELECT DISTINCT as_of FROM identity.assignment_snapshots").column("as_of").to_pylist()
        if len(kept) > KEEP_SNAPSHOTS:
            oldest = sorted(kept, reverse=True)[KEEP_SNAPSHOTS - 1]
            for table in ("assignment_snapshots", "member_snapshots"):
                engine.replace_rows(f"identity.{table}", f"as_of >= {_lit(oldest)}",
                                    SCHEMAS[table].empty_table())

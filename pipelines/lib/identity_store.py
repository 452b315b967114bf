"""Persisted OneID state in the warehouse's `identity` schema (DuckDB).

Each run writes a snapshot keyed by `as_of` (the last business day loaded). The previous state
for a run is the newest snapshot strictly before its `as_of`, so re-running a night reproduces
exactly the same ids, merges and splits (idempotent), and a later night builds on the earlier
one (stable ids). `identity.member_id_assignments` is the current state the marts read.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

#: Snapshots kept besides the current one; older ones are pruned (merge/split logs are kept).
KEEP_SNAPSHOTS = 14

DDL = (
    "CREATE SCHEMA IF NOT EXISTS identity",
    """CREATE TABLE IF NOT EXISTS identity.assignment_snapshots (
        as_of DATE NOT NULL, id_type VARCHAR NOT NULL, id_value VARCHAR NOT NULL,
        member_id VARCHAR NOT NULL, first_seen_at TIMESTAMP, last_seen_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS identity.member_snapshots (
        as_of DATE NOT NULL, member_id VARCHAR NOT NULL, first_seen_at TIMESTAMP,
        n_identifiers BIGINT)""",
    """CREATE TABLE IF NOT EXISTS identity.merges (
        as_of DATE NOT NULL, old_member_id VARCHAR NOT NULL, member_id VARCHAR NOT NULL,
        merged_at DATE NOT NULL, reason VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS identity.splits (
        as_of DATE NOT NULL, member_id VARCHAR NOT NULL, new_member_id VARCHAR NOT NULL,
        split_at DATE NOT NULL, reason VARCHAR)""",
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)


def previous_state(con: duckdb.DuckDBPyConnection, as_of: date) -> tuple[pa.Table, pa.Table]:
    ensure_schema(con)
    prev = con.execute(
        "SELECT max(as_of) FROM identity.assignment_snapshots WHERE as_of < ?", [as_of]
    ).fetchall()[0][0]
    if prev is None:
        return (
            con.execute("SELECT id_type, id_value, member_id FROM identity.assignment_snapshots "
                        "WHERE false").to_arrow_table(),
            con.execute("SELECT member_id, first_seen_at FROM identity.member_snapshots "
                        "WHERE false").to_arrow_table(),
        )
    state = con.execute(
        "SELECT id_type, id_value, member_id FROM identity.assignment_snapshots WHERE as_of = ?",
        [prev],
    ).to_arrow_table()
    members = con.execute(
        "SELECT member_id, first_seen_at FROM identity.member_snapshots WHERE as_of = ?", [prev]
    ).to_arrow_table()
    return state, members


def retired_ids(con: duckdb.DuckDBPyConnection, as_of: date) -> pa.Array:
    """Every member id retired by a merge before `as_of`: never to be minted again.

    A split can found a part on an identifier whose hash once was a member id that later
    merged away; re-minting it would make one id mean two people in BI history.
    """
    ensure_schema(con)
    rows = con.execute(
        "SELECT DISTINCT old_member_id FROM identity.merges WHERE as_of < ? ORDER BY 1", [as_of]
    ).fetchall()
    return pa.array([r[0] for r in rows], pa.string())


def write_state(con: duckdb.DuckDBPyConnection, as_of: date, assignments: pa.Table,
                members: pa.Table, merges: pa.Table, splits: pa.Table) -> None:
    """Replace the snapshot for `as_of` and publish it as current, in one transaction."""
    ensure_schema(con)
    con.execute("BEGIN TRANSACTION")
    try:
        for table, data in (("assignment_snapshots", assignments), ("member_snapshots", members),
                            ("merges", merges), ("splits", splits)):
            con.execute(f"DELETE FROM identity.{table} WHERE as_of >= ?", [as_of])
            con.register("_incoming", data)
            con.execute(
                f"INSERT INTO identity.{table} BY NAME SELECT ?::DATE AS as_of, * FROM _incoming",
                [as_of],
            )
            con.unregister("_incoming")
        con.execute(
            "CREATE OR REPLACE TABLE identity.member_id_assignments AS "
            "SELECT id_type, id_value, member_id, first_seen_at, last_seen_at "
            "FROM identity.assignment_snapshots WHERE as_of = ?", [as_of])
        con.execute(
            "CREATE OR REPLACE TABLE identity.members AS SELECT member_id, first_seen_at, "
            "n_identifiers FROM identity.member_snapshots WHERE as_of = ?", [as_of])
        keep = con.execute(
            "SELECT DISTINCT as_of FROM identity.assignment_snapshots ORDER BY as_of DESC "
            f"LIMIT {KEEP_SNAPSHOTS}").fetchall()
        if keep:
            oldest = keep[-1][0]
            con.execute("DELETE FROM identity.assignment_snapshots WHERE as_of < ?", [oldest])
            con.execute("DELETE FROM identity.member_snapshots WHERE as_of < ?", [oldest])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise

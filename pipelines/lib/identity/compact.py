"""OneID in the warehouse: identifiers as dense integer keys, no string per identifier in Python.

`resolve` (Arrow in, Arrow out) holds every identifier string of the night in the Python
process: the node and edge tables, the previous state, the output (≈ 1 KB per identifier for
the whole step, measured: 3.25 M identifiers → 3.3 GiB). On DuckDB the identity step runs
here instead:

1. **Dictionary.** ``identity.identifier_keys (id_type, id_value, key BIGINT)`` gives every
   identifier ever seen a key; a night appends the new ones (numbered after the largest key),
   so a key never changes. ``siyu forget`` deletes a person's rows
   from it like from every identity table with an ``id_value`` (pipelines/lib/privacy/).
   Keys are internal: the rules never compare them (ties go by the founding order), so the
   ids do not depend on the order keys were given in.
2. **Integer graph in SQL.** Tonight's identifiers (node rows, plus edge endpoints missing
   from them, folded by (type, value)) are numbered into a temporary table; Python reads
   per node only the founding facts (hub, ``first_dt`` day, type rank, first seen) and per
   edge two node numbers; the previous state arrives as (node, member code, is_founder).
3. **The rules** (`resolve._resolve_core`, shared with `resolve`): SciPy connected
   components, the cap, keep/merge/split, founders, minting. Strings are fetched by key for the
   few rows they need (founding ties, merges and splits, clashes) and SHA-256 runs in DuckDB
   on the founders' dictionary rows.
4. **Output in SQL.** Per node its component and founder flag, per component its member id,
   go back as Arrow integer columns; tonight's assignments and members are temporary tables
   joined from them, which `store.write_state` versions in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.identity.graph import (
    _IDX,
    _NAT,
    _NO_DAY,
    HUB_TYPES,
    _Counting,
    _Graph,
    _sorted_codes,
)
from pipelines.lib.identity.minting import _MINT_COLUMNS, _minted
from pipelines.lib.identity.resolve import SHARED_SCHEMA, _resolve_core, _shared
from pipelines.lib.identity.state import _previous_from_codes

KEYS = "identity.identifier_keys"

#: Temporary tables (this connection only) tonight's state is read from by the store.
ASSIGNMENTS_REL = "_siyu_id_assignments"
MEMBERS_REL = "_siyu_id_members"

_NODES = "_siyu_id_nodes"


@dataclass(frozen=True)
class WarehouseNight:
    """Tonight's resolution: the state is in `ASSIGNMENTS_REL` / `MEMBERS_REL` (temporary
    tables on the connection), the logs and flagged hubs as Arrow."""

    merges: pa.Table
    splits: pa.Table
    shared: pa.Table
    stats: dict[str, Any]
    assignments: int  # rows in ASSIGNMENTS_REL


def ensure_keys(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    con.execute(f"CREATE TABLE IF NOT EXISTS {KEYS} (id_type VARCHAR, id_value VARCHAR, "
                "key BIGINT)")


def _nonempty(t: str, v: str) -> str:
    return f"{t} IS NOT NULL AND {t} <> '' AND {v} IS NOT NULL AND {v} <> ''"


def _columns(con: duckdb.DuckDBPyConnection, rel: str) -> set[str]:
    return {r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {rel}").fetchall()}


def _append(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """Append the (id_type, id_value) rows of `rows` (distinct, none in the dictionary yet)."""
    base = con.sql(f"SELECT coalesce(max(key) + 1, 0) FROM {KEYS}").fetchall()[0][0]
    con.execute(f"INSERT INTO {KEYS} SELECT id_type, id_value, "
                f"{int(base)} + row_number() OVER () - 1 FROM ({rows}) AS new_ids")


class _KeyStrings:
    """`_Strings` by dictionary key (a small join per request)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, node_key: np.ndarray,
                 state_key: np.ndarray) -> None:
        self.con, self.node_key, self.state_key = con, node_key, state_key

    def _by_key(self, keys: np.ndarray) -> tuple[pa.Array, pa.Array]:
        self.con.register("_siyu_wanted", pa.table({"i": np.arange(len(keys)), "key": keys}))
        try:
            t = self.con.sql(f"SELECT w.i, k.id_type, k.id_value FROM _siyu_wanted AS w "
                             f"LEFT JOIN {KEYS} AS k ON k.key = w.key ORDER BY w.i").to_arrow_table()
        finally:
            self.con.unregister("_siyu_wanted")
        return (t["id_type"].combine_chunks().cast(pa.string()),
                t["id_value"].combine_chunks().cast(pa.string()))

    def node_strings(self, nodes: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return self._by_key(self.node_key[nodes])  # tonight's nodes all have keys

    def state_strings(self, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return self._by_key(self.state_key[rows])

    def mint_nodes(self, founding: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
        nodes = np.flatnonzero(founding)
        if not len(nodes):
            return np.zeros(0, dtype=np.int64), pa.array([], pa.string()), np.zeros(0, np.uint64)
        self.con.register("_siyu_founding", pa.table({"i": nodes, "key": self.node_key[nodes]}))
        try:
            out = self.con.sql(
                f"SELECT i, {_MINT_COLUMNS} FROM (SELECT f.i, sha256(k.id_type || chr(31) || "
                f"k.id_value) AS h FROM _siyu_founding AS f JOIN {KEYS} AS k ON k.key = f.key) "
                "ORDER BY i").to_arrow_table()
        finally:
            self.con.unregister("_siyu_founding")
        return _minted(out)


def _np(col: pa.ChunkedArray, dtype, null) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        arr = arr.fill_null(null)
    return arr.to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def resolve_in_warehouse(con: duckdb.DuckDBPyConnection, *, as_of: date, nodes: str, edges: str,
                         state: str, members: str,
                         retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
                         max_component_size: int | None = None) -> WarehouseNight:
    """One night of OneID on the warehouse connection (module docstring).

    `nodes`/`edges` are relations with the columns `resolve` reads (``first_dt`` optional);
    `state` (id_type, id_value, member_id, is_founder) and `members` (member_id) the previous
    state, as SQL relations. Same ids, merges and splits as `resolve` on the same data.
    """
    ensure_keys(con)
    day = "(first_dt - DATE '1970-01-01')" if "first_dt" in _columns(con, nodes) else \
        "(CAST(first_seen_at AS DATE) - DATE '1970-01-01')"
    edge_day = "(first_dt - DATE '1970-01-01')" if "first_dt" in _columns(con, edges) else \
        "(CAST(first_seen_at AS DATE) - DATE '1970-01-01')"
    # tonight's identifiers: node rows folded by (type, value), numbered in any order
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_NODES} AS
        SELECT CAST(row_number() OVER () - 1 AS INTEGER) AS node, f.*, k.key
        FROM (SELECT id_type, id_value, min(first_seen_at) AS first_seen_at,
                     max(last_seen_at) AS last_seen_at, min({day}) AS day
              FROM {nodes} WHERE {_nonempty('id_type', 'id_value')}
              GROUP BY id_type, id_value) AS f
        LEFT JOIN {KEYS} AS k ON k.id_type = f.id_type AND k.id_value = f.id_value
    """)
    edge_sql = f"""
        SELECT a.node AS a, b.node AS b,
               a.node IS NULL AND {_nonempty('e.left_type', 'e.left_value')} AS a_missing,
               b.node IS NULL AND {_nonempty('e.right_type', 'e.right_value')} AS b_missing
        FROM {edges} AS e
        LEFT JOIN {_NODES} AS a ON a.id_type = e.left_type AND a.id_value = e.left_value
        LEFT JOIN {_NODES} AS b ON b.id_type = e.right_type AND b.id_value = e.right_value
    """
    pairs = con.sql(edge_sql).to_arrow_table()
    if pc.any(pc.or_(pairs["a_missing"], pairs["b_missing"])).as_py():
        # edge endpoints missing from the node table (never in the dbt models' graph): they
        # become nodes too, first/last seen and first_dt from their edges
        con.execute(f"""
            INSERT INTO {_NODES}
            SELECT CAST((SELECT count(*) FROM {_NODES}) + row_number() OVER () - 1 AS INTEGER),
                   f.*, k.key
            FROM (SELECT t AS id_type, v AS id_value, min(first_seen_at) AS first_seen_at,
                         max(last_seen_at) AS last_seen_at, min(day) AS day
                  FROM (SELECT left_type AS t, left_value AS v, first_seen_at, last_seen_at,
                               {edge_day} AS day FROM {edges}
                        UNION ALL
                        SELECT right_type, right_value, first_seen_at, last_seen_at, {edge_day}
                        FROM {edges}) AS ends
                  WHERE {_nonempty('t', 'v')} AND NOT EXISTS (
                      SELECT 1 FROM {_NODES} AS n WHERE n.id_type = ends.t AND n.id_value = ends.v)
                  GROUP BY t, v) AS f
            LEFT JOIN {KEYS} AS k ON k.id_type = f.id_type AND k.id_value = f.id_value
        """)
        pairs = con.sql(edge_sql).to_arrow_table()
    # identifiers new to the dictionary get the next keys
    if con.sql(f"SELECT count(*) FROM {_NODES} WHERE key IS NULL").fetchall()[0][0]:
        _append(con, f"SELECT id_type, id_value FROM {_NODES} WHERE key IS NULL")
        con.execute(f"UPDATE {_NODES} AS n SET key = k.key FROM {KEYS} AS k "
                    "WHERE n.key IS NULL AND k.id_type = n.id_type AND k.id_value = n.id_value")
    usable = pc.and_(pc.is_valid(pairs["a"]), pc.is_valid(pairs["b"]))
    edge_a = pairs["a"].filter(usable).to_numpy().astype(_IDX, copy=False)
    edge_b = pairs["b"].filter(usable).to_numpy().astype(_IDX, copy=False)
    del pairs, usable
    types = [r[0] for r in con.sql(f"SELECT DISTINCT id_type FROM {_NODES}").fetchall()]
    ranks = _sorted_codes(pa.array(types, pa.string()))
    con.register("_siyu_types", pa.table({"id_type": pa.array(types, pa.string()),
                                          "type_rank": pa.array(ranks, pa.int16()),
                                          "hub": pa.array([t in HUB_TYPES for t in types])}))
    try:
        facts = con.sql(f"SELECT n.key, n.day, epoch_us(n.first_seen_at) AS first_us, "
                        f"t.hub, t.type_rank FROM {_NODES} AS n "
                        f"JOIN _siyu_types AS t USING (id_type) ORDER BY n.node").to_arrow_table()
    finally:
        con.unregister("_siyu_types")
    node_key = _np(facts["key"], np.int64, -1)
    n = len(node_key)
    node_day = _np(facts["day"], np.int64, _NO_DAY)
    node_first = _np(facts["first_us"], np.int64, _NAT)
    hub = _np(facts["hub"], bool, False)
    type_rank = _np(facts["type_rank"], np.int16, 0)
    del facts
    node_of_key = np.full(int(node_key.max()) + 1 if n else 0, -1, dtype=_IDX)
    node_of_key[node_key] = np.arange(n, dtype=_IDX)
    # previous members numbered in any order (code = row number); a state member id missing
    # from the members table (a contract breach) gets a code of its own
    con.execute(f"CREATE OR REPLACE TEMP TABLE _siyu_id_prev_members AS SELECT "
                f"CAST(row_number() OVER () - 1 AS INTEGER) AS code, member_id "
                f"FROM (SELECT DISTINCT member_id FROM {members} WHERE member_id <> '') AS m")
    prev_sql = f"""
        SELECT k.key, m.code, s.is_founder,
               k.key IS NULL AND {_nonempty('s.id_type', 's.id_value')} AS unknown,
               m.code IS NULL AND s.member_id <> '' AS no_member
        FROM {state} AS s
        LEFT JOIN {KEYS} AS k ON k.id_type = s.id_type AND k.id_value = s.id_value
        LEFT JOIN _siyu_id_prev_members AS m ON m.member_id = s.member_id
    """
    prev = con.sql(prev_sql).to_arrow_table()
    if pc.any(prev["no_member"]).as_py():
        con.execute(f"INSERT INTO _siyu_id_prev_members SELECT CAST((SELECT count(*) FROM "
                    f"_siyu_id_prev_members) + row_number() OVER () - 1 AS INTEGER), member_id "
                    f"FROM (SELECT DISTINCT member_id FROM {state} AS s WHERE member_id <> '' "
                    f"AND NOT EXISTS (SELECT 1 FROM _siyu_id_prev_members AS p "
                    f"WHERE p.member_id = s.member_id)) AS m")
        prev = con.sql(prev_sql).to_arrow_table()
    if pc.any(prev["unknown"]).as_py():
        # a state written before the dictionary: its identifiers gone tonight get keys too
        # (their strings serve founders derived for a migrated state)
        _append(con, f"SELECT DISTINCT id_type, id_value FROM {state} AS s WHERE "
                     f"{_nonempty('s.id_type', 's.id_value')} AND NOT EXISTS (SELECT 1 FROM "
                     f"{KEYS} AS k WHERE k.id_type = s.id_type AND k.id_value = s.id_value)")
        prev = con.sql(prev_sql).to_arrow_table()
    names = con.sql("SELECT member_id FROM _siyu_id_prev_members ORDER BY code"
                    ).to_arrow_table()["member_id"].combine_chunks().cast(pa.string())
    state_key = _np(prev["key"], np.int64, -1)
    code = _np(prev["code"], _IDX, -1)
    flag = prev["is_founder"]
    del prev
    known_key = (state_key >= 0) & (state_key < len(node_of_key))
    state_node = np.full(len(state_key), -1, dtype=_IDX)
    state_node[known_key] = node_of_key[state_key[known_key]]
    if len(edge_a) + len(state_key) >= 2**31:
        raise ValueError("more than 2**31 rows: widen _IDX")
    strings = _KeyStrings(con, node_key, state_key)
    g = _Graph(n, node_first, None, node_day, hub, type_rank, edge_a, edge_b, state_node,
               len(edge_a), strings)
    core = _resolve_core(con, _Counting(), g,
                         lambda g2: _previous_from_codes(con, g2, names, code, flag),
                         as_of=as_of, retired_ids=retired_ids,
                         max_component_size=max_component_size)
    shared = _shared(strings, core.cap, max_component_size)
    kept = core.cap.kept
    con.register("_siyu_id_result", pa.table({
        "node": np.arange(n, dtype=np.int32) if kept is None else kept.astype(np.int32),
        "comp": core.labels.astype(np.int32, copy=False),
        "is_founder": core.is_founder}))
    first = core.comps.first_seen
    con.register("_siyu_id_members_in", pa.table({
        "comp": np.arange(len(core.comps.size), dtype=np.int32),
        "member_id": core.member_ids,
        "first_us": pa.array(first, pa.int64(), mask=first == np.iinfo(np.int64).max),
        "n_identifiers": core.comps.size}))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {MEMBERS_REL} AS SELECT member_id, "
                    "make_timestamp(first_us) AS first_seen_at, n_identifiers, comp "
                    "FROM _siyu_id_members_in")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {ASSIGNMENTS_REL} AS
            SELECT n.id_type, n.id_value, m.member_id, n.first_seen_at, n.last_seen_at,
                   r.is_founder
            FROM _siyu_id_result AS r
            INNER JOIN {_NODES} AS n ON n.node = r.node
            INNER JOIN {MEMBERS_REL} AS m ON m.comp = r.comp
        """)
    finally:
        con.unregister("_siyu_id_result")
        con.unregister("_siyu_id_members_in")
        con.execute(f"DROP TABLE IF EXISTS {_NODES}")
        con.execute("DROP TABLE IF EXISTS _siyu_id_prev_members")
    return WarehouseNight(core.merges, core.splits, shared.cast(SHARED_SCHEMA), core.stats,
                          int(core.g.n))

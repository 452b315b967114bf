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

**Incremental nights** (`incremental_max_share`; the asset passes the dbt var
``identity_incremental_max_share``). `write_night` stores, in the state's transaction, the
graph the state was computed from, before the cap, in dictionary keys: ``identity.graph_nodes``
(key, its component named by its smallest key, ``first_dt`` day, first and last seen as µs),
``identity.graph_edges`` (distinct key pairs a < b), ``identity.graph_capped`` (per component
above the cap, the first hub flagged) and ``identity.graph_state`` (the snapshot day and cap
it describes). The next night, in SQL:

* **Seeds**: identifiers added, gone, or whose ``first_dt`` or first seen changed, and both
  ends of every edge added or withdrawn (tonight's distinct key pairs against the stored ones).
* **Affected** = the seeds and every identifier of the stored components they are in. That is
  the whole closure: the state was computed from the stored graph, so every previous member
  (and every hub the cap flagged) lies inside one stored component — unchanged edges cannot
  reach past it, even through a flagged hub, because the stored components are taken before
  the cap — and an edge of tonight that leaves the affected set would be an added edge (its
  ends are seeds) or a stored one (inside a stored component). So the rest of the graph is
  the same components with the same facts and the same members, and the rules would give
  each of them its member id and founder again: it carries forward.
* **The rules** (`_resolve_core`) run on the affected identifiers, their edges and their
  members' current state rows; a minted id is also checked against every current member id
  (the carried members keep theirs). ``ASSIGNMENTS_REL`` / ``MEMBERS_REL`` then hold the
  affected rows plus the unaffected identifiers seen again (new ``last_seen_at``, same member),
  and `store.write_state` versions just those keys (``scope``). The stats are whole-base
  figures (members, identifiers, edges used, histogram, largest, capped components and the
  largest components before the cap come from the current state and the stored graph in SQL),
  so the metadata and the blocking ``identity_sanity`` check read as on a full night; the
  merge/split logs and revived ids are the affected part's (the rest has none).

A night runs in full, and says why in ``WarehouseNight.mode`` (the asset's ``identity_mode``
metadata), when there is no stored graph (the first night; after ``siyu forget``, which
removes the person's keys from it and clears its day), when it describes another day than the
previous state (a re-run, a back-dated or killed-and-rerun night), when the cap changed, when
the affected identifiers are more than ``incremental_max_share`` of tonight's, or when the
stored graph and the state disagree (a member reaching outside the affected set). Every
incremental night equals a full one — state, versions, logs, shared hubs, stats and the stored
graph: tests/unit/test_identity_incremental.py. Spark nights are always full.

Measured (``benchmarks/bench_identity.py --edges 690000``, 1.0 M identifiers, a second night
with +0.1 % / −0.1 % edges, 5,318 identifiers affected): 3.1 s and 428 bytes per identifier at
peak incrementally against 5.2 s and 633 B in full (the state write 0.4 s against 1.8 s); what
is left is mostly keying tonight's string graph (≈ 1.6 s, the same on both paths). At 20 M
identifiers (a loaded machine): 336 s against 428 s, the state write 9 s against 199 s, peak
104 against 180 B per identifier — but the diff's whole-graph joins made the resolve part
slower than the full one's there (327 s against 229 s; not yet profiled). Figures in
docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.identity.cap import TOP_COMPONENTS
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
from pipelines.lib.identity.resolve import (
    HISTOGRAM_BUCKETS,
    SHARED_SCHEMA,
    _Core,
    _resolve_core,
    _shared,
)
from pipelines.lib.identity.state import _previous_from_codes
from pipelines.lib.platform.engines import DuckDBEngine

KEYS = "identity.identifier_keys"

#: Temporary tables (this connection only) tonight's state is read from by the store.
ASSIGNMENTS_REL = "_siyu_id_assignments"
MEMBERS_REL = "_siyu_id_members"

#: An incremental night's keys that can change (temporary tables): `WarehouseNight.scope`.
SCOPE_IDS = "_siyu_scope_ids"
SCOPE_MEMBERS = "_siyu_scope_members"

#: The graph the current state was computed from (before the cap), in dictionary keys:
#: per identifier its persisted component (named by its smallest key) and the facts the
#: incremental diff compares; distinct edges (a_key < b_key); per component above the cap the
#: first hub flagged in it; the snapshot day and cap it describes (one row).
GRAPH_NODES = "identity.graph_nodes"
GRAPH_EDGES = "identity.graph_edges"
GRAPH_CAPPED = "identity.graph_capped"
GRAPH_STATE = "identity.graph_state"
GRAPH_TABLES = (GRAPH_NODES, GRAPH_EDGES, GRAPH_CAPPED, GRAPH_STATE)

_NODE_ROWS = "_siyu_id_node_rows"
_NODES = "_siyu_id_nodes"  # a view: _NODE_ROWS numbered by row id
_EDGES = "_siyu_id_edges"
_SUB = "_siyu_id_sub"
_X = "_siyu_inc_x"
_G_NODES, _G_EDGES, _G_CAPPED = "_siyu_g_nodes", "_siyu_g_edges", "_siyu_g_capped"
#: the incremental plan's tables the graph write still reads …
_PLAN_TABLES = (_X, "_siyu_inc_touched", "_siyu_inc_added", "_siyu_inc_gone", "_siyu_inc_xcomps")
#: … and the ones it does not
_PLAN_SCRATCH = ("_siyu_inc_tn", "_siyu_inc_te", "_siyu_inc_seeds", "_siyu_inc_xids",
                 "_siyu_inc_state")


@dataclass(frozen=True)
class WarehouseNight:
    """Tonight's resolution: the state is in `ASSIGNMENTS_REL` / `MEMBERS_REL` (temporary
    tables on the connection), the logs and flagged hubs as Arrow. Written by `write_night`."""

    merges: pa.Table
    splits: pa.Table
    shared: pa.Table
    stats: dict[str, Any]
    assignments: int  # rows in ASSIGNMENTS_REL
    #: "full (why)" or "incremental (affected N of M identifiers)"
    mode: str = "full"
    #: incremental: (SCOPE_IDS, SCOPE_MEMBERS), the keys whose rows ASSIGNMENTS_REL /
    #: MEMBERS_REL hold; None: they hold the whole state
    scope: tuple[str, str] | None = None
    as_of: date | None = None
    cap: int | None = None


def ensure_keys(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    con.execute(f"CREATE TABLE IF NOT EXISTS {KEYS} (id_type VARCHAR, id_value VARCHAR, "
                "key BIGINT)")


def ensure_graph(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    con.execute(f"CREATE TABLE IF NOT EXISTS {GRAPH_NODES} (key BIGINT, comp BIGINT, day BIGINT, "
                "first_us BIGINT, last_us BIGINT)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {GRAPH_EDGES} (a_key BIGINT, b_key BIGINT)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {GRAPH_CAPPED} (comp BIGINT, hub_key BIGINT)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {GRAPH_STATE} (as_of DATE, "
                "max_component_size BIGINT)")


def _nonempty(t: str, v: str) -> str:
    return f"{t} IS NOT NULL AND {t} <> '' AND {v} IS NOT NULL AND {v} <> ''"


def _columns(con: duckdb.DuckDBPyConnection, rel: str) -> set[str]:
    return {r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {rel}").fetchall()}


def _append(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """Append the (id_type, id_value) rows of `rows` (distinct, none in the dictionary yet),
    numbered in (id_type, id_value) order: the same landing zone gives the same keys (an
    unordered numbering followed the scan, which threads make vary)."""
    base = con.sql(f"SELECT coalesce(max(key) + 1, 0) FROM {KEYS}").fetchall()[0][0]
    con.execute(f"INSERT INTO {KEYS} SELECT id_type, id_value, {int(base)} + row_number() "
                f"OVER (ORDER BY id_type, id_value) - 1 FROM ({rows}) AS new_ids")


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


def _tonight(con: duckdb.DuckDBPyConnection, nodes: str, edges: str) -> None:
    """Tonight's identifiers keyed (`_NODES`: node, id_type, id_value, first_seen_at,
    last_seen_at, day, key) and its usable edges (`_EDGES`: a, b node numbers; their keys).

    A node's number is its row id in the temporary table (0…n-1: it is only created and
    appended to), which saves a window over every identifier."""
    day = "(first_dt - DATE '1970-01-01')" if "first_dt" in _columns(con, nodes) else \
        "(CAST(first_seen_at AS DATE) - DATE '1970-01-01')"
    edge_day = "(first_dt - DATE '1970-01-01')" if "first_dt" in _columns(con, edges) else \
        "(CAST(first_seen_at AS DATE) - DATE '1970-01-01')"
    # tonight's identifiers: node rows folded by (type, value), numbered in any order
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_NODE_ROWS} AS
        SELECT f.*, k.key
        FROM (SELECT id_type, id_value, min(first_seen_at) AS first_seen_at,
                     max(last_seen_at) AS last_seen_at, min({day}) AS day
              FROM {nodes} WHERE {_nonempty('id_type', 'id_value')}
              GROUP BY id_type, id_value) AS f
        LEFT JOIN {KEYS} AS k ON k.id_type = f.id_type AND k.id_value = f.id_value
    """)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_NODES} AS "
                f"SELECT CAST(rowid AS INTEGER) AS node, * FROM {_NODE_ROWS}")
    edge_sql = f"""
        CREATE OR REPLACE TEMP TABLE {_EDGES} AS
        SELECT a.node AS a, b.node AS b,
               (a.node IS NULL AND {_nonempty('e.left_type', 'e.left_value')})
               OR (b.node IS NULL AND {_nonempty('e.right_type', 'e.right_value')}) AS missing
        FROM {edges} AS e
        LEFT JOIN {_NODES} AS a ON a.id_type = e.left_type AND a.id_value = e.left_value
        LEFT JOIN {_NODES} AS b ON b.id_type = e.right_type AND b.id_value = e.right_value
    """
    con.execute(edge_sql)
    if _one(con, f"SELECT count(*) FROM {_EDGES} WHERE missing"):
        # edge endpoints missing from the node table (never in the dbt models' graph): they
        # become nodes too, first/last seen and first_dt from their edges
        con.execute(f"""
            INSERT INTO {_NODE_ROWS}
            SELECT f.*, k.key
            FROM (SELECT t AS id_type, v AS id_value, min(first_seen_at) AS first_seen_at,
                         max(last_seen_at) AS last_seen_at, min(day) AS day
                  FROM (SELECT left_type AS t, left_value AS v, first_seen_at, last_seen_at,
                               {edge_day} AS day FROM {edges}
                        UNION ALL
                        SELECT right_type, right_value, first_seen_at, last_seen_at, {edge_day}
                        FROM {edges}) AS ends
                  WHERE {_nonempty('t', 'v')} AND NOT EXISTS (
                      SELECT 1 FROM {_NODE_ROWS} AS n
                      WHERE n.id_type = ends.t AND n.id_value = ends.v)
                  GROUP BY t, v) AS f
            LEFT JOIN {KEYS} AS k ON k.id_type = f.id_type AND k.id_value = f.id_value
        """)
        con.execute(edge_sql)
    # identifiers new to the dictionary get the next keys (an update in place: row ids stay)
    if _one(con, f"SELECT count(*) FROM {_NODE_ROWS} WHERE key IS NULL"):
        _append(con, f"SELECT id_type, id_value FROM {_NODE_ROWS} WHERE key IS NULL")
        con.execute(f"UPDATE {_NODE_ROWS} AS n SET key = k.key FROM {KEYS} AS k "
                    "WHERE n.key IS NULL AND k.id_type = n.id_type AND k.id_value = n.id_value")
    n, top = con.sql(f"SELECT count(*), max(node) FROM {_NODES}").fetchall()[0]
    if n and top != n - 1:
        raise RuntimeError(f"{_NODE_ROWS}: row ids are not 0…{n - 1}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_EDGES} AS
        SELECT e.a, e.b, na.key AS a_key, nb.key AS b_key FROM {_EDGES} AS e
        JOIN {_NODES} AS na ON na.node = e.a JOIN {_NODES} AS nb ON nb.node = e.b
    """)


def _run_core(con: duckdb.DuckDBPyConnection, node_rel: str, edge_sql: str, state: str,
              members: str, *, as_of: date,
              retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None,
              max_component_size: int | None,
              taken: Callable[[pa.Array], np.ndarray] | None = None,
              ) -> tuple[_Core, _KeyStrings, np.ndarray]:
    """The rules on the identifiers of `node_rel` (node 0…n-1, id_type, first_seen_at, day,
    key), the edges `edge_sql` yields (a, b node numbers) and the previous state `state`
    (id_type, id_value, member_id, is_founder) / `members` (member_id). Returns the core
    result, the strings source and the key of every node."""
    edge = con.sql(edge_sql).to_arrow_table()
    edge_a = _np(edge["a"], _IDX, -1)
    edge_b = _np(edge["b"], _IDX, -1)
    del edge
    types = [r[0] for r in con.sql(f"SELECT DISTINCT id_type FROM {node_rel}").fetchall()]
    ranks = _sorted_codes(pa.array(types, pa.string()))
    con.register("_siyu_types", pa.table({"id_type": pa.array(types, pa.string()),
                                          "type_rank": pa.array(ranks, pa.int16()),
                                          "hub": pa.array([t in HUB_TYPES for t in types])}))
    try:
        facts = con.sql(f"SELECT n.key, n.day, epoch_us(n.first_seen_at) AS first_us, "
                        f"t.hub, t.type_rank FROM {node_rel} AS n "
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
    con.execute("DROP TABLE IF EXISTS _siyu_id_prev_members")
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
                         max_component_size=max_component_size, taken=taken)
    return core, strings, node_key


def _outputs(con: duckdb.DuckDBPyConnection, node_rel: str, core: _Core) -> None:
    """Tonight's assignments and members of `node_rel`'s identifiers as temporary tables."""
    kept = core.cap.kept
    con.register("_siyu_id_result", pa.table({
        "node": np.arange(core.g.n, dtype=np.int32) if kept is None else kept.astype(np.int32),
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
            INNER JOIN {node_rel} AS n ON n.node = r.node
            INNER JOIN {MEMBERS_REL} AS m ON m.comp = r.comp
        """)
    finally:
        con.unregister("_siyu_id_result")
        con.unregister("_siyu_id_members_in")


def _input_components(core: _Core, node_key: np.ndarray, cap: int | None,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per node its component before the cap, named by its smallest key; per component: that
    name, its size, and the key of the first hub the cap flagged in it (-1: none)."""
    labels = core.input_labels
    n_comp = int(labels.max()) + 1 if len(labels) else 0
    name = np.full(n_comp, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(name, labels, node_key)
    size = np.bincount(labels, minlength=n_comp).astype(np.int64)
    first_hub = np.full(n_comp, -1, dtype=np.int64)
    for h in core.cap.hubs[::-1].tolist():  # the first flagged wins
        first_hub[labels[h]] = node_key[h]
    return name[labels], name, size, first_hub


def _graph_temps(con: duckdb.DuckDBPyConnection, node_rel: str, core: _Core,
                 node_key: np.ndarray, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """`_G_NODES` (key, comp, day, first_us, last_us) for `node_rel`'s identifiers and
    `_G_CAPPED` (comp, hub_key) for its components above the cap that had a hub flagged;
    returns per component before the cap its size and first flagged hub's key (-1: none)."""
    comp_of_node, name, size, first_hub = _input_components(core, node_key, cap)
    con.register("_siyu_g_in", pa.table({"key": node_key, "comp": comp_of_node}))
    big = size > cap if cap is not None else np.zeros(len(size), dtype=bool)
    capped = big & (first_hub >= 0)
    con.register("_siyu_g_capped_in", pa.table({"comp": name[capped],
                                                "hub_key": first_hub[capped]}))
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {_G_NODES} AS
            SELECT n.key, g.comp, n.day, epoch_us(n.first_seen_at) AS first_us,
                   epoch_us(n.last_seen_at) AS last_us
            FROM {node_rel} AS n JOIN _siyu_g_in AS g ON g.key = n.key
        """)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_G_CAPPED} AS SELECT comp, hub_key "
                    "FROM _siyu_g_capped_in")
    finally:
        con.unregister("_siyu_g_in")
        con.unregister("_siyu_g_capped_in")
    return size, first_hub


def resolve_in_warehouse(con: duckdb.DuckDBPyConnection, *, as_of: date, nodes: str, edges: str,
                         state: str, members: str,
                         retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
                         max_component_size: int | None = None,
                         incremental_max_share: float | None = None) -> WarehouseNight:
    """One night of OneID on the warehouse connection (module docstring).

    `nodes`/`edges` are relations with the columns `resolve` reads (``first_dt`` optional);
    `state` (id_type, id_value, member_id, is_founder) and `members` (member_id) the previous
    state, as SQL relations. Same ids, merges and splits as `resolve` on the same data.

    `incremental_max_share` (dbt var ``identity_incremental_max_share``; None: always full):
    when the graph persisted with the previous state (`write_night`) describes the previous
    snapshot day, only the components tonight's changes reach are resolved, unless they hold
    more than this share of tonight's identifiers (module docstring, "Incremental nights").
    """
    ensure_keys(con)
    _tonight(con, nodes, edges)
    try:
        reason = "incremental off" if incremental_max_share is None else \
            _incremental_plan(con, as_of, max_component_size, incremental_max_share)
        if reason is None:
            return _incremental(con, as_of, retired_ids, max_component_size)
        return _full(con, as_of, state, members, retired_ids, max_component_size,
                     f"full ({reason})")
    finally:
        con.execute(f"DROP VIEW IF EXISTS {_NODES}")
        for t in (_NODE_ROWS, _EDGES, _SUB, *_PLAN_SCRATCH):
            con.execute(f"DROP TABLE IF EXISTS {t}")


def _full(con: duckdb.DuckDBPyConnection, as_of: date, state: str, members: str,
          retired_ids, cap: int | None, mode: str) -> WarehouseNight:
    """The whole graph through the rules; the graph to persist is all of it."""
    core, strings, node_key = _run_core(con, _NODES, f"SELECT a, b FROM {_EDGES}", state,
                                        members, as_of=as_of, retired_ids=retired_ids,
                                        max_component_size=cap)
    shared = _shared(strings, core.cap, cap)
    _outputs(con, _NODES, core)
    _graph_temps(con, _NODES, core, node_key, cap)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_G_EDGES} AS SELECT DISTINCT "
                f"least(a_key, b_key) AS a_key, greatest(a_key, b_key) AS b_key FROM {_EDGES} "
                "WHERE a_key <> b_key")
    return WarehouseNight(core.merges, core.splits, shared.cast(SHARED_SCHEMA), core.stats,
                          int(core.g.n), mode, None, as_of, cap)


def _one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.sql(sql).fetchall()[0][0]


def _incremental_plan(con: duckdb.DuckDBPyConnection, as_of: date, cap: int | None,
                      max_share: float) -> str | None:
    """None when tonight can run incrementally (the plan's tables are then filled), else why
    not. Seeds: identifiers added, gone, or whose founding facts (day, first seen) changed,
    and both ends of every edge added or withdrawn; affected (`_X`): the seeds and every
    identifier of the persisted components they are in."""
    ensure_graph(con)
    row = con.sql(f"SELECT as_of, max_component_size FROM {GRAPH_STATE}").fetchall()
    if not row:
        return "no persisted graph"
    graph_day, graph_cap = row[0]
    prev_day = _one(con, "SELECT max(as_of) FROM identity.snapshot_days "
                         f"WHERE as_of < DATE '{as_of.isoformat()}'")
    if graph_day != prev_day:
        return (f"the persisted graph describes {graph_day}, the previous state {prev_day}: "
                "a re-run or back-dated night")
    if graph_cap != cap:
        return f"the component cap changed ({graph_cap} → {cap})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _siyu_inc_tn AS
        SELECT key, day, epoch_us(first_seen_at) AS first_us, epoch_us(last_seen_at) AS last_us
        FROM {_NODES}
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _siyu_inc_te AS
        SELECT DISTINCT least(a_key, b_key) AS a_key, greatest(a_key, b_key) AS b_key
        FROM {_EDGES} WHERE a_key <> b_key
    """)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _siyu_inc_added AS "
                f"SELECT a_key, b_key FROM _siyu_inc_te EXCEPT SELECT a_key, b_key FROM {GRAPH_EDGES}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _siyu_inc_gone AS "
                f"SELECT a_key, b_key FROM {GRAPH_EDGES} EXCEPT SELECT a_key, b_key FROM _siyu_inc_te")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _siyu_inc_seeds AS
        SELECT coalesce(t.key, p.key) AS key
        FROM _siyu_inc_tn AS t FULL JOIN {GRAPH_NODES} AS p ON p.key = t.key
        WHERE t.key IS NULL OR p.key IS NULL OR t.day IS DISTINCT FROM p.day
           OR t.first_us IS DISTINCT FROM p.first_us
        UNION SELECT a_key FROM _siyu_inc_added UNION SELECT b_key FROM _siyu_inc_added
        UNION SELECT a_key FROM _siyu_inc_gone UNION SELECT b_key FROM _siyu_inc_gone
    """)
    # the persisted components the seeds are in: each previous member lies inside one (the
    # graph is stored before the cap), so they hold every identifier of a member they touch
    con.execute(f"CREATE OR REPLACE TEMP TABLE _siyu_inc_xcomps AS SELECT DISTINCT p.comp "
                f"FROM {GRAPH_NODES} AS p SEMI JOIN _siyu_inc_seeds AS s ON s.key = p.key")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_X} AS
        SELECT key FROM _siyu_inc_seeds
        UNION SELECT p.key FROM {GRAPH_NODES} AS p SEMI JOIN _siyu_inc_xcomps AS c
            ON c.comp = p.comp
    """)
    # unaffected identifiers seen again: only their state row's timestamps change
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _siyu_inc_touched AS
        SELECT t.key, p.comp, t.day, t.first_us, t.last_us
        FROM _siyu_inc_tn AS t JOIN {GRAPH_NODES} AS p ON p.key = t.key
        WHERE t.last_us IS DISTINCT FROM p.last_us AND t.key NOT IN (SELECT key FROM {_X})
    """)
    total = _one(con, "SELECT count(*) FROM _siyu_inc_tn")
    affected = _one(con, f"SELECT count(*) FROM _siyu_inc_tn SEMI JOIN {_X} AS x "
                         "ON x.key = _siyu_inc_tn.key")
    if affected > max_share * max(total, 1):
        return (f"affected {affected:,} of {total:,} identifiers, above "
                f"identity_incremental_max_share {max_share}")
    # the current state of the affected identifiers' members (all inside the affected set,
    # else the persisted graph and the state disagree)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _siyu_inc_xids AS
        SELECT k.id_type, k.id_value, k.key FROM {KEYS} AS k SEMI JOIN {_X} AS x ON x.key = k.key
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _siyu_inc_state AS
        WITH hit AS (
            SELECT DISTINCT c.member_id FROM identity.member_id_assignments AS c
            SEMI JOIN _siyu_inc_xids AS x ON x.id_type = c.id_type AND x.id_value = c.id_value)
        SELECT c.id_type, c.id_value, c.member_id, c.is_founder
        FROM identity.member_id_assignments AS c SEMI JOIN hit ON hit.member_id = c.member_id
    """)
    outside = _one(con, "SELECT count(*) FROM _siyu_inc_state AS s ANTI JOIN _siyu_inc_xids "
                        "AS x ON x.id_type = s.id_type AND x.id_value = s.id_value")
    no_founder = _one(con, "SELECT count(*) FROM _siyu_inc_state WHERE is_founder IS NULL")
    if outside or no_founder:
        return "the persisted graph and the state disagree"
    return None


def _incremental(con: duckdb.DuckDBPyConnection, as_of: date, retired_ids,
                 cap: int | None) -> WarehouseNight:
    """The rules on the affected identifiers only; every other assignment carries forward.

    Tonight's assignments / members (`ASSIGNMENTS_REL` / `MEMBERS_REL`) then hold the rows of
    the affected identifiers and their members, plus unaffected identifiers seen again (new
    timestamps, same member); `WarehouseNight.scope` names the keys that can change."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_SUB} AS
        SELECT CAST(row_number() OVER () - 1 AS INTEGER) AS node, n.* EXCLUDE (node)
        FROM {_NODES} AS n SEMI JOIN {_X} AS x ON x.key = n.key
    """)
    sub_edges = (f"SELECT sa.node AS a, sb.node AS b FROM {_EDGES} AS e "
                 f"JOIN {_SUB} AS sa ON sa.key = e.a_key JOIN {_SUB} AS sb ON sb.key = e.b_key")

    def taken(minted: pa.Array) -> np.ndarray:
        """Minted ids held by a current member (an unaffected one keeps it)."""
        con.register("_siyu_minted", pa.table({"i": np.arange(len(minted)), "m": minted}))
        try:
            hit = con.sql("SELECT i FROM _siyu_minted AS t SEMI JOIN identity.members AS m "
                          "ON m.member_id = t.m").fetchnumpy()["i"]
        finally:
            con.unregister("_siyu_minted")
        mask = np.zeros(len(minted), dtype=bool)
        mask[hit] = True
        return mask

    core, strings, node_key = _run_core(
        con, _SUB, sub_edges, "_siyu_inc_state",
        "(SELECT DISTINCT member_id FROM _siyu_inc_state)", as_of=as_of,
        retired_ids=retired_ids, max_component_size=cap, taken=taken)
    _outputs(con, _SUB, core)
    con.execute(f"""
        INSERT INTO {ASSIGNMENTS_REL}
        SELECT c.id_type, c.id_value, c.member_id, n.first_seen_at, n.last_seen_at, c.is_founder
        FROM identity.member_id_assignments AS c
        JOIN (SELECT n.* FROM {_NODES} AS n SEMI JOIN _siyu_inc_touched AS t
              ON t.key = n.key) AS n ON n.id_type = c.id_type AND n.id_value = c.id_value
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {SCOPE_IDS} AS
        SELECT id_type, id_value FROM _siyu_inc_xids
        UNION ALL SELECT n.id_type, n.id_value FROM {_NODES} AS n
            SEMI JOIN _siyu_inc_touched AS t ON t.key = n.key
    """)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SCOPE_MEMBERS} AS SELECT member_id FROM "
                f"_siyu_inc_state UNION SELECT member_id FROM {MEMBERS_REL}")
    # the graph to persist: the affected identifiers' rows and components, the touched ones'
    # timestamps; added and withdrawn edges
    size, first_hub = _graph_temps(con, _SUB, core, node_key, cap)
    con.execute(f"INSERT INTO {_G_NODES} SELECT key, comp, day, first_us, last_us "
                "FROM _siyu_inc_touched")
    shared = _shared(strings, core.cap, cap)
    shared, stats = _whole_base(con, core, node_key, shared, size, first_hub, cap)
    affected = len(node_key)
    total = _one(con, f"SELECT count(*) FROM {_NODES}")
    return WarehouseNight(core.merges, core.splits, shared, stats,
                          _one(con, f"SELECT count(*) FROM {ASSIGNMENTS_REL}"),
                          f"incremental (affected {affected:,} of {total:,} identifiers)",
                          (SCOPE_IDS, SCOPE_MEMBERS), as_of, cap)


def _whole_base(con: duckdb.DuckDBPyConnection, core: _Core, node_key: np.ndarray,
                shared: pa.Table,
                sub_size: np.ndarray, sub_first_hub: np.ndarray,
                cap: int | None) -> tuple[pa.Table, dict[str, Any]]:
    """Tonight's flagged hubs and stats over the whole base: the affected part's from the
    rules, the rest from the current state and the persisted graph (in SQL), so they read as
    a full night's."""
    carried = con.sql(f"""
        SELECT s.id_type, s.id_value, s.flag_kind, s.reason, s.max_accounts_linked, k.key
        FROM identity.shared_hubs AS s
        JOIN {KEYS} AS k ON k.id_type = s.id_type AND k.id_value = s.id_value
        ANTI JOIN {_X} AS x ON x.key = k.key
    """).to_arrow_table()
    hub_keys = np.concatenate([node_key[core.cap.hubs],  # input numbering = _SUB's node
                               carried["key"].to_numpy().astype(np.int64)])
    shared = pa.concat_tables([shared.cast(SHARED_SCHEMA),
                               carried.drop_columns(["key"]).cast(SHARED_SCHEMA)]
                              ).sort_by([("id_type", "ascending"), ("id_value", "ascending")])
    stats = dict(core.stats)
    prev_members = _one(con, "SELECT count(*) FROM identity.members")
    x_members = _one(con, "SELECT count(DISTINCT member_id) FROM _siyu_inc_state")
    carried_members = prev_members - x_members
    con.register("_siyu_flagged", pa.table({"key": hub_keys}))
    try:
        stats["members"] = carried_members + stats["members"]
        stats["kept_members"] = carried_members + stats["kept_members"]
        stats["identifiers"] = _one(con, f"SELECT count(*) FROM {_NODES}") - len(hub_keys)
        stats["edges_used"] = _one(con, f"SELECT count(*) FROM {_EDGES} AS e "
                                        "ANTI JOIN _siyu_flagged AS f ON f.key = e.a_key "
                                        "ANTI JOIN _siyu_flagged AS g ON g.key = e.b_key")
    finally:
        con.unregister("_siyu_flagged")
    sizes = con.sql(f"""
        SELECT n_identifiers AS n, count(*) AS members FROM (
            SELECT n_identifiers FROM identity.members AS m
            ANTI JOIN (SELECT DISTINCT member_id FROM _siyu_inc_state) AS x
                ON x.member_id = m.member_id
            UNION ALL SELECT n_identifiers FROM {MEMBERS_REL}) AS s GROUP BY n_identifiers
    """).fetchnumpy()
    n, k = sizes["n"].astype(np.int64), sizes["members"].astype(np.int64)
    stats["largest_cluster_size"] = int(n.max()) if len(n) else 0
    stats["cluster_size_histogram"] = {label: int(k[(n >= lo) & (n <= hi)].sum())
                                       for lo, hi, label in HISTOGRAM_BUCKETS}
    # components before the cap: the unaffected ones from the persisted graph, the affected
    # ones from tonight's rules
    con.register("_siyu_sub_comps", pa.table({
        "size": sub_size, "hub_key": pa.array(sub_first_hub, pa.int64(),
                                              mask=sub_first_hub < 0)}))
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _siyu_inc_comps AS
            SELECT y.size, c.hub_key FROM (
                SELECT p.comp, count(*) AS size FROM {GRAPH_NODES} AS p
                ANTI JOIN {_X} AS x ON x.key = p.key GROUP BY p.comp) AS y
            LEFT JOIN {GRAPH_CAPPED} AS c ON c.comp = y.comp
            UNION ALL SELECT size, hub_key FROM _siyu_sub_comps
        """)
    finally:
        con.unregister("_siyu_sub_comps")
    big = "size > " + (str(int(cap)) if cap is not None else "NULL")
    n_capped, in_capped = con.sql(f"SELECT count(*), coalesce(sum(size), 0) FROM "
                                  f"_siyu_inc_comps WHERE {big}").fetchall()[0]
    stats["capped_components"] = int(n_capped)
    stats["identifiers_in_capped_components"] = int(in_capped)
    stats["shared_hubs_flagged"] = len(hub_keys)
    top = con.sql(f"""
        SELECT c.size, CASE WHEN {big} THEN k.id_type || ':' || k.id_value END AS hub,
               coalesce({big}, false) AS capped
        FROM _siyu_inc_comps AS c LEFT JOIN {KEYS} AS k ON k.key = c.hub_key
        ORDER BY c.size DESC, capped DESC, coalesce(hub, '') LIMIT {TOP_COMPONENTS}
    """).fetchall()
    stats["largest_components"] = [{"size": int(s), "hub": h, "capped": bool(c)}
                                   for s, h, c in top]
    con.execute("DROP TABLE IF EXISTS _siyu_inc_comps")
    return shared, stats


def write_night(engine: DuckDBEngine, as_of: date, night: WarehouseNight) -> dict[str, int]:
    """Write tonight's state (`store.write_state`: a full night's diff, or an incremental
    night's scoped one) and, in the same transaction, the graph it was computed from."""
    from pipelines.lib.identity import store

    con = engine.con
    try:
        return store.write_state(engine, as_of, ASSIGNMENTS_REL, MEMBERS_REL, night.merges,
                                 night.splits, night.shared, scope=night.scope,
                                 also=lambda: _persist_graph(con, night))
    finally:
        for t in (_G_NODES, _G_EDGES, _G_CAPPED, SCOPE_IDS, SCOPE_MEMBERS, *_PLAN_TABLES):
            con.execute(f"DROP TABLE IF EXISTS {t}")


def _persist_graph(con: duckdb.DuckDBPyConnection, night: WarehouseNight) -> None:
    """The graph tonight's state was computed from, keyed, before the cap (inside the state's
    transaction): replaced on a full night, changed where it changed on an incremental one."""
    ensure_graph(con)
    if night.scope is None:
        con.execute(f"CREATE OR REPLACE TABLE {GRAPH_NODES} AS SELECT * FROM {_G_NODES}")
        con.execute(f"CREATE OR REPLACE TABLE {GRAPH_EDGES} AS SELECT * FROM {_G_EDGES}")
        con.execute(f"CREATE OR REPLACE TABLE {GRAPH_CAPPED} AS SELECT * FROM {_G_CAPPED}")
    else:
        con.execute(f"DELETE FROM {GRAPH_NODES} WHERE key IN (SELECT key FROM {_X} "
                    "UNION ALL SELECT key FROM _siyu_inc_touched)")
        con.execute(f"INSERT INTO {GRAPH_NODES} SELECT * FROM {_G_NODES}")
        con.execute(f"DELETE FROM {GRAPH_EDGES} AS e USING _siyu_inc_gone AS g "
                    "WHERE e.a_key = g.a_key AND e.b_key = g.b_key")
        con.execute(f"INSERT INTO {GRAPH_EDGES} SELECT a_key, b_key FROM _siyu_inc_added")
        con.execute(f"DELETE FROM {GRAPH_CAPPED} WHERE comp IN "
                    "(SELECT comp FROM _siyu_inc_xcomps)")
        con.execute(f"INSERT INTO {GRAPH_CAPPED} SELECT * FROM {_G_CAPPED}")
    con.execute(f"DELETE FROM {GRAPH_STATE}")
    con.execute(f"INSERT INTO {GRAPH_STATE} VALUES (DATE '{night.as_of.isoformat()}', "
                f"{'NULL' if night.cap is None else int(night.cap)})")

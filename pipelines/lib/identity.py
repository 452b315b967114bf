"""OneID: stable member ids from identity edges (pure Python: pandas, NumPy, SciPy).

Connected components over the edges decide *who is one person*; the previous night's state
decides *which id they keep*. A member id is never a component label:

* a component holding no previous member mints an id from its founding identifier (the
  earliest first seen, ties by type and value): ``M`` + 15 hex of SHA-256 — so the same
  input always gives the same ids, and a full rebuild mints what a sequence of nights would;
* a component holding one previous member keeps that member's id;
* a component holding several previous members keeps the one first seen (ties: smallest id)
  and logs the others in ``merges``;
* a previous member whose identifiers now fall into several components (a link disappeared)
  keeps its id in the part holding most of its identifiers (ties: the earliest founding
  identifier); every other part gets a new id and the split is logged.

Precedence: splits are decided first (each previous member picks the one component it keeps),
then merges among the previous members that kept the same component.

The string work (deduplicating identifiers, joining edges and previous state, picking founders,
minting ids) runs set-based in an in-memory DuckDB over Arrow; only the integer graph goes to
`scipy.sparse.csgraph.connected_components`. Nothing depends on the dbt target: on Spark the
edges arrive as Arrow just the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SEP = "\x1f"
HISTOGRAM_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 4, "4"), (5, 9, "5-9"),
                     (10, 19, "10-19"), (20, 10**12, "20+"))


@dataclass(frozen=True)
class IdentityResult:
    assignments: pa.Table  # id_type, id_value, member_id, first_seen_at, last_seen_at
    members: pa.Table  # member_id, first_seen_at, n_identifiers
    merges: pa.Table  # old_member_id, member_id, merged_at, reason
    splits: pa.Table  # member_id, new_member_id, split_at, reason
    stats: dict[str, Any] = field(default_factory=dict)


NODE_COLUMNS = ["id_type", "id_value", "first_seen_at", "last_seen_at"]
EDGE_COLUMNS = ["left_type", "left_value", "right_type", "right_value"]


def mint_id(founding_key: str, salt: str = "") -> str:
    """`M` + 15 upper-case hex of SHA-256(salt + "type\\x1fvalue"); mirrors `_MINT_SQL`."""
    return "M" + hashlib.sha256((salt + founding_key).encode("utf-8")).hexdigest()[:15].upper()


def _mint_sql(key: str, salt: str = "") -> str:
    salted = f"'{salt}' || {key}" if salt else key
    return f"'M' || upper(left(sha256({salted}), 15))"


def _arrow(t, columns: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    if t is None:
        return pa.table({c: pa.array([], types.get(c, pa.string())) for c in columns})
    if isinstance(t, pd.DataFrame):
        t = pa.Table.from_pandas(t, preserve_index=False)
    if t.num_rows == 0:
        return pa.table({c: pa.array([], types.get(c, pa.string())) for c in columns})
    return t.select(columns)


TS = pa.timestamp("us")


def resolve(nodes, edges, previous_state=None, previous_members=None, *,
            as_of: date) -> IdentityResult:
    """Assign a stable member id to every identifier (see the module docstring)."""
    con = duckdb.connect()
    try:
        return _resolve(con, nodes, edges, previous_state, previous_members, as_of)
    finally:
        con.close()


def _resolve(con, nodes, edges, previous_state, previous_members, as_of: date) -> IdentityResult:
    ts_types = {"first_seen_at": TS, "last_seen_at": TS}
    con.register("nodes_in", _arrow(nodes, NODE_COLUMNS, ts_types))
    con.register("edges_in", _arrow(edges, [*EDGE_COLUMNS, "first_seen_at", "last_seen_at"],
                                    ts_types))
    con.register("prev_state", _arrow(previous_state, ["id_type", "id_value", "member_id"], {}))
    con.register("prev_members", _arrow(previous_members, ["member_id", "first_seen_at"],
                                        {"first_seen_at": TS}))
    con.execute("""
        CREATE TEMP TABLE n AS
        WITH seen AS (
            SELECT id_type, id_value, first_seen_at, last_seen_at FROM nodes_in
            UNION ALL SELECT left_type, left_value, first_seen_at, last_seen_at FROM edges_in
            UNION ALL SELECT right_type, right_value, first_seen_at, last_seen_at FROM edges_in)
        SELECT row_number() OVER (ORDER BY id_type, id_value) - 1 AS nid, id_type, id_value,
               id_type || chr(31) || id_value AS key,
               min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at
        FROM seen WHERE id_value IS NOT NULL AND id_value <> ''
        GROUP BY id_type, id_value""")
    n = con.execute("SELECT count(*) FROM n").fetchall()[0][0]
    pairs = con.sql("""
        SELECT l.nid AS a, r.nid AS b FROM edges_in e
        JOIN n l ON l.id_type = e.left_type AND l.id_value = e.left_value
        JOIN n r ON r.id_type = e.right_type AND r.id_value = e.right_value""").fetchnumpy()
    labels = _components(n, pairs["a"], pairs["b"])
    con.register("labels", pa.table({"nid": pa.array(np.arange(n, dtype=np.int64)),
                                     "comp": pa.array(labels.astype(np.int64))}))
    con.execute("""
        CREATE TEMP TABLE a AS
        SELECT n.*, labels.comp, p.member_id AS prev_id
        FROM n JOIN labels USING (nid)
        LEFT JOIN prev_state p ON p.id_type = n.id_type AND p.id_value = n.id_value""")
    # founding identifier: earliest first seen, then type, then value
    con.execute("""
        CREATE TEMP TABLE comps AS
        SELECT comp, key AS founding_key, first_seen_at AS comp_first_seen, size FROM (
            SELECT comp, key, first_seen_at, count(*) OVER (PARTITION BY comp) AS size,
                   row_number() OVER (PARTITION BY comp
                                      ORDER BY first_seen_at NULLS LAST, key) AS r
            FROM a) WHERE r = 1""")
    # splits first: each previous member keeps the component holding most of its identifiers
    con.execute("""
        CREATE TEMP TABLE prev_parts AS
        SELECT p.prev_id, p.comp, p.k,
               row_number() OVER (PARTITION BY p.prev_id ORDER BY p.k DESC,
                                  c.comp_first_seen NULLS LAST, c.founding_key) AS part_rank
        FROM (SELECT prev_id, comp, count(*) AS k FROM a WHERE prev_id IS NOT NULL
              GROUP BY prev_id, comp) p JOIN comps c USING (comp)""")
    # then merges: among members keeping one component the first seen survives
    con.execute("""
        CREATE TEMP TABLE keepers AS
        SELECT k.prev_id, k.comp,
               row_number() OVER (PARTITION BY k.comp ORDER BY m.first_seen_at NULLS LAST,
                                  k.prev_id) AS survivor_rank
        FROM prev_parts k LEFT JOIN prev_members m ON m.member_id = k.prev_id
        WHERE k.part_rank = 1""")
    con.execute(f"""
        CREATE TEMP TABLE comp_ids AS
        SELECT c.comp, c.founding_key, k.prev_id IS NULL AS fresh,
               coalesce(k.prev_id, {_mint_sql('c.founding_key')}) AS member_id
        FROM comps c LEFT JOIN keepers k ON k.comp = c.comp AND k.survivor_rank = 1""")
    _resolve_collisions(con)
    assignments = con.sql("""
        SELECT a.id_type, a.id_value, i.member_id, a.first_seen_at, a.last_seen_at
        FROM a JOIN comp_ids i USING (comp) ORDER BY a.id_type, a.id_value""").to_arrow_table()
    members = con.sql("""
        SELECT i.member_id, min(a.first_seen_at) AS first_seen_at, count(*) AS n_identifiers
        FROM a JOIN comp_ids i USING (comp) GROUP BY i.member_id ORDER BY i.member_id
        """).to_arrow_table()
    merges = con.sql("""
        SELECT k.prev_id AS old_member_id, i.member_id, ?::DATE AS merged_at,
               'linked_to_older_member' AS reason
        FROM keepers k JOIN comp_ids i USING (comp) WHERE k.survivor_rank > 1
        ORDER BY old_member_id""", params=[as_of]).to_arrow_table()
    splits = con.sql("""
        SELECT p.prev_id AS member_id, i.member_id AS new_member_id, ?::DATE AS split_at,
               'link_removed' AS reason
        FROM prev_parts p JOIN comp_ids i USING (comp) WHERE p.part_rank > 1
        ORDER BY member_id, new_member_id""", params=[as_of]).to_arrow_table()
    sizes = members.column("n_identifiers").to_numpy() if members.num_rows else np.zeros(0)
    fresh, kept = con.execute("""
        SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh)
        FROM comp_ids""").fetchall()[0]
    stats = {
        "members": int(members.num_rows),
        "identifiers": int(n),
        "new_members": int(fresh - splits.num_rows),
        "merges": int(merges.num_rows),
        "splits": int(splits.num_rows),
        "kept_members": int(kept),
        "largest_cluster_size": int(sizes.max()) if len(sizes) else 0,
        "cluster_size_histogram": _histogram(sizes),
    }
    return IdentityResult(assignments, members, _cast(merges, "merged_at"),
                          _cast(splits, "split_at"), stats)


def _cast(t: pa.Table, date_col: str) -> pa.Table:
    return t.cast(pa.schema([(c, pa.date32() if c == date_col else pa.string())
                             for c in t.column_names]))


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="weak")
    return labels


def _resolve_collisions(con) -> None:
    """Re-mint fresh ids that collide with a kept id or with each other (bounded, rare).

    A collision needs a 60-bit hash collision, or a split-off part founded by the identifier
    that once founded its old member (whose id the larger part keeps).
    """
    for attempt in range(1, 8):
        clashes = con.execute("""
            SELECT count(*) FROM (SELECT member_id FROM comp_ids GROUP BY member_id
                                  HAVING count(*) > 1)""").fetchall()[0][0]
        if clashes == 0:
            return
        con.execute(f"""
            UPDATE comp_ids SET member_id = {_mint_sql('founding_key', f'{attempt}:')}
            WHERE fresh AND member_id IN (
                SELECT member_id FROM comp_ids GROUP BY member_id HAVING count(*) > 1)""")
    raise RuntimeError("could not mint unique member ids")


def _histogram(sizes: np.ndarray) -> dict[str, int]:
    return {label: int(((sizes >= lo) & (sizes <= hi)).sum()) for lo, hi, label in HISTOGRAM_BUCKETS}

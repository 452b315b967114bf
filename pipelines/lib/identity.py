"""OneID: stable member ids from identity edges (pure Python: DuckDB, pyarrow, NumPy, SciPy).

Connected components over the edges decide *who is one person*; the previous night's state
decides *which id they keep*. A member id is never a component label:

* a component holding no previous member mints an id from its founding identifier — the
  earliest ``first_seen_at`` (NULL last), ties by ``id_type`` then ``id_value`` — as ``M`` + 15
  upper-case hex of SHA-256(``id_type`` + ``"\\x1f"`` + ``id_value``) (`mint_id`). The same
  input always gives the same ids, and a full rebuild mints what a sequence of nights would;
* a component holding one previous member keeps that member's id;
* a component holding several previous members keeps the one first seen (previous
  ``members.first_seen_at``, NULL or unknown last; ties: smallest member id) and logs the
  others in ``merges``;
* a previous member whose identifiers now fall into several components (a link disappeared)
  keeps its id in the part holding most of its identifiers (ties: the part whose component's
  founding identifier comes first); every other part is logged in ``splits``.

Precedence (one component can see a merge and a split at once): splits are decided first —
every previous member picks the one component it keeps — then merges among the members that
picked the same component. A member's other parts never carry its id: they go to whichever
member keeps their component, or mint. So every previous id ends in exactly one place: kept by
one component, retired into a survivor (logged once, pointing at a live id, so no chain forms
within a night), or gone with all its identifiers (``stats["vanished_members"]``). A minted id
never equals a previous id or one of ``retired_ids``; on a clash (a split-off part founded by
the identifier that founded its old member, or a 60-bit hash collision) it is re-minted with
the salt ``"<attempt>:"``.

Inputs and outputs: pyarrow Tables or pandas DataFrames in, pyarrow Tables out (schemas below).
Identifiers are the node rows plus any edge endpoint missing from them; ``first_seen_at`` and
``last_seen_at`` come from the node row (an edge-only identifier takes its earliest / latest
edge). ``assignments`` follows the node table's row order, then edge-only identifiers by
(type, value): its content, not its order, is independent of the input order.

Why the code is shaped like this: at 10M edges nearly all the time goes into mapping identifier
strings to integers, so each string is hashed once, in one parallel DuckDB hash join of every
edge endpoint and previous-state row against the node table on (id_value, id_type) — exact, no
hash-only identity — whose row number *is* the node number, so the node table passes through to
the output untouched; plus one join of the previous state's member ids against the previous
members. Everything after that is integer NumPy work — scatters and gathers over the component
labels, no sort of the identifiers. Merges and splits, which are rare, are decided in pandas on
just the components they touch. SHA-256 for minting runs in DuckDB straight off the node
columns. Nothing depends on the dbt target: on Spark the tables arrive as Arrow just the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

Tabular = pa.Table | pd.DataFrame

#: Identifier types the dbt identity models emit (any other string is accepted just the same).
ID_TYPES = ("pos_card", "tmall_ouid", "mp_openid", "wechat_unionid", "wecom_external_userid",
            "mobile_sha256")
SEP = "\x1f"
MERGE_REASON = "linked_to_older_member"
SPLIT_REASON = "link_removed"
TS = pa.timestamp("us")
HISTOGRAM_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 4, "4"), (5, 9, "5-9"),
                     (10, 19, "10-19"), (20, 2**62, "20+"))

ASSIGNMENTS_SCHEMA = pa.schema([("id_type", pa.string()), ("id_value", pa.string()),
                                ("member_id", pa.string()), ("first_seen_at", TS),
                                ("last_seen_at", TS)])
MEMBERS_SCHEMA = pa.schema([("member_id", pa.string()), ("first_seen_at", TS),
                            ("n_identifiers", pa.int64())])
MERGES_SCHEMA = pa.schema([("old_member_id", pa.string()), ("member_id", pa.string()),
                           ("merged_at", pa.date32()), ("reason", pa.string())])
SPLITS_SCHEMA = pa.schema([("member_id", pa.string()), ("new_member_id", pa.string()),
                           ("split_at", pa.date32()), ("reason", pa.string())])

_NODE_COLUMNS = {"id_type": pa.string(), "id_value": pa.string(), "first_seen_at": TS,
                 "last_seen_at": TS}
_EDGE_COLUMNS = {"left_type": pa.string(), "left_value": pa.string(), "right_type": pa.string(),
                 "right_value": pa.string(), "first_seen_at": TS, "last_seen_at": TS}
_STATE_COLUMNS = {"id_type": pa.string(), "id_value": pa.string(), "member_id": pa.string()}
_MEMBER_COLUMNS = {"member_id": pa.string(), "first_seen_at": TS}
_PAIR_JOIN = "SELECT p.row, b.id FROM probe p JOIN build b ON b.v = p.v AND b.t = p.t"
_MEMBER_JOIN = "SELECT p.row, b.id FROM probe p JOIN build b ON b.v = p.v"
_MINT_COLUMNS = "'M' || upper(left(h, 15)) AS m, ('0x' || left(h, 15))::UBIGINT AS u"
_IDX = np.int32  # node, component and member numbers (< 2**31, checked)
_NAT = np.iinfo(np.int64).min  # NULL timestamp as int64 (NumPy's NaT)
_LAST = np.iinfo(np.int64).max  # NULL first_seen_at sorts last
_MAX_REMINTS = 8


@dataclass(frozen=True)
class IdentityResult:
    """What one night of OneID resolution produced (pyarrow tables, schemas above)."""

    assignments: pa.Table  # id_type, id_value, member_id, first_seen_at, last_seen_at
    members: pa.Table  # member_id, first_seen_at, n_identifiers
    merges: pa.Table  # old_member_id, member_id, merged_at, reason
    splits: pa.Table  # member_id, new_member_id, split_at, reason
    stats: dict[str, Any] = field(default_factory=dict)


def mint_id(founding_key: str, salt: str = "") -> str:
    """`M` + 15 upper-case hex of SHA-256(salt + "id_type\\x1fid_value") — the scalar reference.

    `mint_ids` is the vectorised twin `resolve` uses; both must agree byte for byte.
    """
    return "M" + hashlib.sha256((salt + founding_key).encode("utf-8")).hexdigest()[:15].upper()


def mint_ids(keys: pa.Array, salt: str = "",
             con: duckdb.DuckDBPyConnection | None = None) -> pa.Array:
    """`mint_id` over an Arrow string array, in DuckDB's vectorised SHA-256 (order preserved).

    A first night mints one id per member — millions — too many for a Python loop.
    """
    return _mint(keys, salt, con)[0]


def resolve(nodes: Tabular | None, edges: Tabular | None, previous_state: Tabular | None = None,
            previous_members: Tabular | None = None, *, as_of: date,
            retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
            ) -> IdentityResult:
    """Assign a stable member id to every identifier (rules in the module docstring).

    Accepts pyarrow Tables or pandas DataFrames (extra columns ignored; ``None`` = empty) and
    returns pyarrow Tables. Identifiers are the node rows plus any edge endpoint missing from
    them; NULL or empty types/values are ignored; previous-state identifiers seen in neither
    are dropped. ``first_seen_at``/``last_seen_at`` come from the node row, or for an
    edge-only identifier from its earliest/latest edge. ``retired_ids`` (every
    ``old_member_id`` ever logged) are never minted again. ``assignments`` rows follow the
    node table's order (then edge-only identifiers); ``members`` rows follow no meaningful
    order; ``merges``/``splits`` are sorted.
    """
    node_t = _table(nodes, _NODE_COLUMNS)
    edge_t = _table(edges, _EDGE_COLUMNS)
    state_t = _table(previous_state, _STATE_COLUMNS)
    members_t = _table(previous_members, _MEMBER_COLUMNS)
    if max(node_t.num_rows + 2 * edge_t.num_rows + state_t.num_rows, members_t.num_rows) >= 2**31:
        raise ValueError("more than 2**31 rows: widen _IDX")
    con, count = duckdb.connect(), _Counting()
    try:
        g = _encode(con, count, node_t, edge_t, state_t)
        labels, n_comp = _components(g.n, g.edge_a, g.edge_b)
        comps = _component_facts(g, labels, n_comp)
        prev = _previous(con, count, state_t, members_t, g.state_node)
        plan = _plan(g, labels, comps, prev)
        founders = _founders(g, labels, comps, plan.keeper < 0)
        final, minted = _final_ids(con, count, g, labels, founders, plan, prev.names,
                                   retired_ids)
    finally:
        con.close()
    member_ids = pa.concat_arrays([prev.names, minted]).take(pa.array(final))
    assignments = _assignments(g, member_ids.take(pa.array(labels)))
    members = pa.table([member_ids, _timestamps(comps.first_seen), pa.array(comps.size)],
                       schema=MEMBERS_SCHEMA)
    merges, splits = _logs(plan, prev.names, member_ids, as_of)
    stats = _stats(g, comps, plan, prev, merges, splits)
    return IdentityResult(assignments, members, merges, splits, stats)


# --- inputs -------------------------------------------------------------------------------------


def _table(obj: Tabular | None, columns: dict[str, pa.DataType]) -> pa.Table:
    """Select the needed columns; strings stay string or large_string, the rest is cast."""
    if obj is None:
        return pa.table({c: pa.array([], t) for c, t in columns.items()})
    if isinstance(obj, pd.DataFrame):
        obj = pa.Table.from_pandas(obj, preserve_index=False)
    if not isinstance(obj, pa.Table):
        raise TypeError(f"expected a pyarrow Table or pandas DataFrame, got {type(obj)!r}")
    missing = [c for c in columns if c not in obj.column_names]
    if missing:
        raise ValueError(f"missing columns {missing}; have {obj.column_names}")
    out = {}
    for c, t in columns.items():
        col = obj.column(c)
        if pa.types.is_dictionary(col.type):
            col = pc.dictionary_decode(col) if len(col) else col.cast(col.type.value_type)
        stringy = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        out[c] = col if col.type == t or (stringy and pa.types.is_string(t)) else \
            col.cast(t, safe=False)
    return pa.table(out)


def _concat(cols: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    """One chunked column; string if every part is (DuckDB's default), else large_string."""
    kind = pa.string() if all(c.type == pa.string() for c in cols) else pa.large_string()
    return pa.chunked_array(
        [ch for c in cols for ch in (c if c.type == kind else c.cast(kind)).chunks], type=kind)


def _int_ts(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as int64 microseconds, NULL → `_NAT`."""
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(col.to_numpy()).astype("datetime64[us]", copy=False).view(np.int64)


def _timestamps(values: np.ndarray) -> pa.Array:
    """int64 µs → timestamp array; both sentinels (`_NAT`, `_LAST`) become NULL."""
    mask = (values == _NAT) | (values == _LAST)
    return pa.array(values.view("datetime64[us]"), TS, mask=mask if mask.any() else None)


def _nonempty(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Not NULL and not the empty string."""
    return pc.fill_null(pc.greater(pc.binary_length(values), 0), False).to_numpy(
        zero_copy_only=False)


def _all_nonempty(values: pa.ChunkedArray) -> bool:
    """The cheap check that saves `_nonempty`'s mask in the normal case."""
    if len(values) == 0:
        return True
    return values.null_count == 0 and pc.min(pc.binary_length(values)).as_py() > 0


def _take(col: pa.Array | pa.ChunkedArray, idx: np.ndarray) -> pa.Array:
    out = col.take(pa.array(idx))
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _chunked(col: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])


class _Counting:
    """0, 1, 2, … as zero-copy Arrow columns: one arange per run, sliced (fresh pages are slow).

    The row-number columns the joins need would otherwise be allocated afresh each time.
    """

    def __init__(self) -> None:
        self._ints = np.zeros(0, dtype=_IDX)

    def __call__(self, n: int) -> pa.Array:
        if n > len(self._ints):
            self._ints = np.arange(max(n, 2 * len(self._ints)), dtype=_IDX)
        return pa.array(self._ints[:n])



def _sorted_codes(strings: pa.Array) -> np.ndarray:
    """Codes of a (small) string array whose order is the strings' order."""
    encoded = pc.dictionary_encode(strings)
    rank = pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="dense").to_numpy()
    return rank[pc.fill_null(encoded.indices, 0).to_numpy()].astype(np.int64)


# --- encoding: strings → node numbers -----------------------------------------------------------


@dataclass(frozen=True)
class _Graph:
    """Integer view of the input: node numbers, timestamps, edges."""

    n: int  # identifiers
    node_first: np.ndarray  # per node: first_seen_at as int64 µs, NULL → _NAT
    node_last: np.ndarray
    id_type: pa.ChunkedArray  # per node
    id_value: pa.ChunkedArray
    edge_a: np.ndarray  # per usable edge: node numbers
    edge_b: np.ndarray
    state_node: np.ndarray  # per previous-state row: node number or -1
    edges_used: int
    passthrough: pa.Table | None  # the node table itself when node i is its row i


def _encode(con: duckdb.DuckDBPyConnection, count: _Counting, nodes: pa.Table,
            edges: pa.Table, state: pa.Table) -> _Graph:
    """Node number for every row of nodes | left endpoints | right endpoints | previous state.

    Node row i is node i; edge endpoints and state rows find theirs in one hash join on
    (id_value, id_type) against the node table. A probe matching two node rows means a
    duplicated node row (a contract breach): then node rows probe too and copies are folded
    into the first. Endpoints missing from the node table become extra nodes.
    """
    n_rows, n_edges = nodes.num_rows, edges.num_rows
    n_current = n_rows + 2 * n_edges
    types = _concat([nodes["id_type"], edges["left_type"], edges["right_type"], state["id_type"]])
    values = _concat([nodes["id_value"], edges["left_value"], edges["right_value"],
                      state["id_value"]])
    node_types, node_values = types.slice(0, n_rows), values.slice(0, n_rows)
    ok = None if _all_nonempty(node_types) and _all_nonempty(node_values) else \
        _nonempty(node_types) & _nonempty(node_values)
    build = pa.table({"v": node_values, "t": node_types, "id": count(n_rows)})
    if ok is not None:
        build = build.filter(pa.array(ok))
    probe = pa.table({"v": values.slice(n_rows), "t": types.slice(n_rows),
                      "row": count(len(values) - n_rows)})
    node_of_row = np.empty(len(values), dtype=_IDX)
    node_of_row[:n_rows] = np.arange(n_rows) if ok is None else np.where(ok, np.arange(n_rows), -1)
    several = _join_rows(con, build, probe, _PAIR_JOIN, node_of_row[n_rows:])
    first, last = _int_ts(nodes["first_seen_at"]), _int_ts(nodes["last_seen_at"])
    id_type, id_value, passthrough = node_types, node_values, nodes
    if several or ok is not None:
        if several:
            own = pa.table({"v": node_values, "t": node_types, "row": count(n_rows)})
            _join_rows(con, build, own, _PAIR_JOIN, node_of_row[:n_rows])
        node_of_row, first, last, keep = _fold_node_rows(node_of_row, n_rows, first, last)
        id_type, id_value = id_type.filter(pa.array(keep)), id_value.filter(pa.array(keep))
        passthrough = None
    extra = np.flatnonzero(node_of_row[n_rows:n_current] < 0) + n_rows
    if len(extra):
        extra = extra[_nonempty(_take(types, extra)) & _nonempty(_take(values, extra))]
    if len(extra):
        node_of_row, first, last, rep = _add_edge_only_nodes(
            node_of_row, extra, len(id_value), n_rows, types, values, edges, first, last)
        id_type = pa.chunked_array([*id_type.chunks, _take(types, rep)], type=types.type)
        id_value = pa.chunked_array([*id_value.chunks, _take(values, rep)], type=values.type)
        passthrough = None
    a = node_of_row[n_rows:n_rows + n_edges]
    b = node_of_row[n_rows + n_edges:n_current]
    usable = (a >= 0) & (b >= 0)
    if not usable.all():
        a, b = a[usable], b[usable]
    return _Graph(len(id_value), first, last, id_type, id_value, a, b, node_of_row[n_current:],
                  len(a), passthrough)


def _join_rows(con: duckdb.DuckDBPyConnection, build: pa.Table, probe: pa.Table, sql: str,
               out: np.ndarray) -> bool:
    """Run a (row, id) hash join in DuckDB (parallel, cache-friendly partitioning).

    Fills `out` (one slot per probe row) with the id matched — the smallest if several — or
    -1, and returns whether any row matched several build rows (a duplicated key).
    """
    out.fill(-1)
    if probe.num_rows == 0 or build.num_rows == 0:
        return False
    con.execute("SET preserve_insertion_order = false")  # rows come back by number: any order
    con.register("build", build)
    con.register("probe", probe)
    try:
        res = con.sql(sql).to_arrow_table()
    finally:
        con.unregister("build")
        con.unregister("probe")
    rows, ids = res.column(0).to_numpy(), res.column(1).to_numpy()
    out[rows] = ids
    several = int(np.count_nonzero(out >= 0)) != len(rows)
    if several:
        out[rows] = np.iinfo(out.dtype).max
        np.minimum.at(out, rows, ids)
    return several


def _fold_node_rows(node_of_row: np.ndarray, n_rows: int, first: np.ndarray,
                    last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop unusable node rows and fold duplicated ones into their first copy.

    `node_of_row[:n_rows]` holds each node row's first copy (-1: unusable). Returns the
    renumbered rows, first/last seen per node (earliest/latest over copies) and the kept mask.
    """
    canon = node_of_row[:n_rows]
    keep = canon == np.arange(n_rows)
    renumber = np.full(n_rows + 1, -1, dtype=_IDX)  # index -1 (unmatched) → -1
    renumber[:n_rows][keep] = np.arange(int(keep.sum()))
    mapped = renumber[node_of_row]
    ok = canon >= 0
    f = np.full(int(keep.sum()), _LAST, dtype=np.int64)
    la = np.full(int(keep.sum()), _NAT, dtype=np.int64)
    _group_min_max(f, la, mapped[:n_rows][ok], first[ok], last[ok])
    f[f == _LAST] = _NAT
    return mapped, f, la, keep


def _add_edge_only_nodes(
        node_of_row: np.ndarray, extra: np.ndarray, n: int, n_rows: int,
        types: pa.ChunkedArray, values: pa.ChunkedArray, edges: pa.Table, first: np.ndarray,
        last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Number the endpoints missing from the node table (rare): n, n+1, … in (type, value) order.

    Their first/last seen are the earliest/latest of their edges; previous-state rows for them
    are matched too. Returns rows, first, last and a representative row per new node.
    """
    n_current = n_rows + 2 * edges.num_rows
    sep = pa.scalar(SEP, values.type)
    encoded = pc.dictionary_encode(pc.binary_join_element_wise(
        _take(types, extra), _take(values, extra), sep))
    order = pc.sort_indices(encoded.dictionary).to_numpy()  # numbered in (type, value) order
    rank = np.empty(len(order), dtype=_IDX)
    rank[order] = np.arange(len(order))
    code = rank[encoded.indices.to_numpy()]
    keys = encoded.dictionary.take(pa.array(order))
    n_extra = len(keys)
    node_of_row = node_of_row.copy()
    node_of_row[extra] = n + code
    rep = np.empty(n_extra, dtype=_IDX)
    rep[code] = extra
    pending = np.flatnonzero(node_of_row[n_current:] < 0) + n_current
    if len(pending):
        state_keys = pc.binary_join_element_wise(_take(types, pending), _take(values, pending),
                                                 sep)
        hit = pc.fill_null(pc.index_in(state_keys, value_set=keys), -1).to_numpy()
        node_of_row[pending[hit >= 0]] = n + hit[hit >= 0]
    e_first = np.tile(_int_ts(edges["first_seen_at"]), 2)
    e_last = np.tile(_int_ts(edges["last_seen_at"]), 2)
    f = np.full(n_extra, _LAST, dtype=np.int64)
    la = np.full(n_extra, _NAT, dtype=np.int64)
    _group_min_max(f, la, code, e_first[extra - n_rows], e_last[extra - n_rows])
    f[f == _LAST] = _NAT
    return node_of_row, np.concatenate([first, f]), np.concatenate([last, la]), rep


def _group_min_max(first: np.ndarray, last: np.ndarray, ids: np.ndarray, f: np.ndarray,
                   la: np.ndarray) -> None:
    np.minimum.at(first, ids, np.where(f == _NAT, _LAST, f))
    np.maximum.at(last, ids, la)


# --- components ---------------------------------------------------------------------------------


def _components(n: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Weakly connected components of the directed edge list (no symmetrised copy needed)."""
    if n == 0:
        return np.zeros(0, dtype=np.int32), 0
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(graph, directed=True, connection="weak")
    return labels, int(n_comp)


@dataclass(frozen=True)
class _Components:
    """Per component: size and first seen (int64, all NULL → _LAST); per node: sort time."""

    size: np.ndarray
    first_seen: np.ndarray
    node_ts: np.ndarray  # per node: first_seen_at with NULL → _LAST


def _component_facts(g: _Graph, labels: np.ndarray, n_comp: int) -> _Components:
    """Sizes and first seen per component (scatter-min, no sort)."""
    size = np.bincount(labels, minlength=n_comp).astype(np.int64, copy=False)
    ts = np.where(g.node_first == _NAT, _LAST, g.node_first)
    first = np.full(n_comp, _LAST, dtype=np.int64)
    np.minimum.at(first, labels, ts)
    return _Components(size, first, ts)


def _founders(g: _Graph, labels: np.ndarray, comps: _Components,
              wanted: np.ndarray) -> np.ndarray:
    """Founding node of each wanted component (-1 elsewhere).

    Founder = min over the component of (first_seen_at NULL last, id_type, id_value). The
    timestamp settles almost all; only components tied on it look at type strings, and only
    those tied on the type too compare values — on those rows alone.
    """
    n_comp = len(comps.size)
    founder = np.full(n_comp, -1, dtype=_IDX)
    if not wanted.any():
        return founder
    if wanted.all():
        cand = np.flatnonzero(comps.node_ts == comps.first_seen[labels]).astype(_IDX)
    else:
        rows = np.flatnonzero(wanted[labels]).astype(_IDX)
        cand = rows[comps.node_ts[rows] == comps.first_seen[labels[rows]]]
    lab = labels[cand]
    founder[lab] = cand
    tied = cand[np.bincount(lab, minlength=n_comp)[lab] > 1]
    if len(tied):
        code = _sorted_codes(_take(g.id_type, tied))
        best = np.full(n_comp, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, labels[tied], code)
        tied = tied[code == best[labels[tied]]]
        founder[labels[tied]] = tied
        tied = tied[np.bincount(labels[tied], minlength=n_comp)[labels[tied]] > 1]
    if len(tied):
        t = pa.table({"comp": labels[tied], "value": _take(g.id_value, tied), "node": tied})
        t = t.sort_by([("comp", "ascending"), ("value", "ascending")])
        comp, node = t["comp"].to_numpy(), t["node"].to_numpy()
        head = np.r_[True, comp[1:] != comp[:-1]]
        founder[comp[head]] = node[head]
    return founder


# --- previous state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    """Previous members (code = position in `names`) and, per state row, node and member."""

    names: pa.Array  # member_id strings
    first_seen: np.ndarray  # per member: previous first_seen_at, NULL/unknown → _LAST
    node: np.ndarray  # per usable state row: node number
    member: np.ndarray  # per usable state row: member code


def _previous(con: duckdb.DuckDBPyConnection, count: _Counting, state: pa.Table,
              members: pa.Table, state_node: np.ndarray) -> _Previous:
    """Member code per state row by a join on the previous members (row number = code).

    A member listed twice is folded (earliest first_seen_at); a state member id missing from
    the members table gets a code with unknown first_seen_at. State rows whose identifier is
    gone are dropped. An identifier listed under two members (a contract breach) simply links
    them: they merge.
    """
    names = members["member_id"].combine_chunks()
    first = _int_ts(members["first_seen_at"])
    code = np.full(state.num_rows, -1, dtype=_IDX)
    if state.num_rows:
        probe = pa.table({"v": state["member_id"], "row": count(state.num_rows)})
        build = pa.table({"v": names, "id": count(len(names))})
        if _join_rows(con, build, probe, _MEMBER_JOIN, code):
            names, first = _dedupe_members(names, first)
            build = pa.table({"v": names, "id": count(len(names))})
            _join_rows(con, build, probe, _MEMBER_JOIN, code)
        missing = np.flatnonzero(code < 0)
        if len(missing):
            ids = _take(state["member_id"], missing)
            ok = _nonempty(ids)
            encoded = pc.dictionary_encode(ids.filter(pa.array(ok)))
            code[missing[ok]] = len(names) + encoded.indices.to_numpy()
            names = pa.concat_arrays([names, encoded.dictionary.cast(names.type)])
            first = np.concatenate([first, np.full(len(encoded.dictionary), _NAT, np.int64)])
    usable = (state_node >= 0) & (code >= 0)
    node, code = (state_node, code) if usable.all() else (state_node[usable], code[usable])
    return _Previous(names.cast(pa.string()), np.where(first == _NAT, _LAST, first), node, code)


def _dedupe_members(names: pa.Array, first: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    encoded = pc.dictionary_encode(names)
    code = encoded.indices.to_numpy()
    f = np.full(len(encoded.dictionary), _LAST, dtype=np.int64)
    np.minimum.at(f, code, np.where(first == _NAT, _LAST, first))
    return encoded.dictionary, np.where(f == _LAST, _NAT, f)


# --- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Which previous member each component keeps (-1: mint), and the rare-case logs."""

    keeper: np.ndarray  # per component: previous member code or -1
    merges: pd.DataFrame  # old, survivor (member codes)
    splits: pd.DataFrame  # member (code), comp (a component holding a part it did not keep)


def _plan(g: _Graph, labels: np.ndarray, comps: _Components, prev: _Previous) -> _Plan:
    """Vectorised common case (one member ↔ one component); merges/splits on their rows only.

    A component is *affected* when it holds several previous members or any part of a member
    found in several components; the rules then run in pandas on those components' rows.
    """
    n_comp, n_members = len(comps.size), len(prev.names)
    pm, pcomp = prev.member, labels[prev.node]
    keeper = np.full(n_comp, -1, dtype=_IDX)
    keeper[pcomp] = pm
    member_comp = np.full(n_members, -1, dtype=_IDX)
    member_comp[pm] = pcomp
    several_members = keeper[pcomp] != pm
    split = member_comp[pm] != pcomp
    no_logs = (pd.DataFrame({"old": [], "survivor": []}, dtype=np.int64),
               pd.DataFrame({"member": [], "comp": []}, dtype=np.int64))
    if not (several_members.any() or split.any()):
        return _Plan(keeper, *no_logs)
    split_member = np.zeros(n_members, dtype=bool)
    split_member[pm[split]] = True
    affected = np.zeros(n_comp, dtype=bool)
    affected[pcomp[several_members | split_member[pm]]] = True
    rows = affected[pcomp]
    parts = (pd.DataFrame({"member": pm[rows], "comp": pcomp[rows]})
             .groupby(["member", "comp"], sort=False).size().rename("k").reset_index())
    parts = _with_founder_keys(parts, g, labels, comps, affected)
    parts = parts.sort_values(["member", "k", "first", "ftype", "fvalue"],
                              ascending=[True, False, True, True, True], kind="stable")
    kept = parts.drop_duplicates("member")
    lost = parts[parts.duplicated("member")]
    code = kept["member"].to_numpy()
    kept = kept.assign(mfirst=prev.first_seen[code],
                       mid=_take(prev.names, code).to_numpy(zero_copy_only=False))
    kept = kept.sort_values(["comp", "mfirst", "mid"], kind="stable")
    survivors = kept.drop_duplicates("comp")
    retired = kept[kept.duplicated("comp")]
    keeper[affected] = -1
    keeper[survivors["comp"].to_numpy()] = survivors["member"].to_numpy()
    merges = pd.DataFrame({"old": retired["member"].to_numpy(),
                           "survivor": keeper[retired["comp"].to_numpy()]})
    return _Plan(keeper, merges, lost[["member", "comp"]].reset_index(drop=True))


def _with_founder_keys(parts: pd.DataFrame, g: _Graph, labels: np.ndarray,
                       comps: _Components, affected: np.ndarray) -> pd.DataFrame:
    """Attach each component's founding (first_seen, type, value) for deterministic ties."""
    comp = parts["comp"].to_numpy()
    founder = _founders(g, labels, comps, affected)[comp]
    return parts.assign(first=comps.first_seen[comp],
                        ftype=_take(g.id_type, founder).to_numpy(zero_copy_only=False),
                        fvalue=_take(g.id_value, founder).to_numpy(zero_copy_only=False))


# --- ids ----------------------------------------------------------------------------------------


def _final_ids(con: duckdb.DuckDBPyConnection, count: _Counting, g: _Graph, labels: np.ndarray,
               founders: np.ndarray, plan: _Plan, names: pa.Array,
               retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None,
               ) -> tuple[np.ndarray, pa.Array]:
    """Per component an index into names ++ minted; minted ids are unique and never used.

    DuckDB hashes the founding rows straight from the node columns (filtered by a mask, in
    node order), so no founder strings are gathered in Python.
    """
    founding = np.zeros(g.n, dtype=bool)
    founding[founders[plan.keeper < 0]] = True
    node, minted, bits = _mint_founders(con, count, g, founding)
    taken = names
    if retired_ids is not None:
        retired = retired_ids if isinstance(retired_ids, pa.Array | pa.ChunkedArray) else \
            pa.array(list(retired_ids), pa.string())
        taken = pa.concat_arrays([names, _chunked(retired).combine_chunks().cast(pa.string())])
    for attempt in range(1, _MAX_REMINTS + 1):
        clash = _clashes(minted, bits, taken)
        if not clash.any():
            break
        if attempt == _MAX_REMINTS:
            raise RuntimeError("could not mint unique member ids")
        idx = np.flatnonzero(clash)
        values = _take(g.id_value, node[idx])
        keys = pc.binary_join_element_wise(_take(g.id_type, node[idx]).cast(values.type),
                                           values, pa.scalar(SEP, values.type))
        again, again_bits = _mint(keys, f"{attempt}:", con)
        m = minted.to_numpy(zero_copy_only=False).copy()
        m[idx] = again.to_numpy(zero_copy_only=False)
        minted = pa.array(m, pa.string())
        bits = bits.copy()
        bits[idx] = again_bits
    final = plan.keeper.copy()
    final[labels[node]] = len(names) + np.arange(len(node))
    return final, minted


def _mint_founders(con: duckdb.DuckDBPyConnection, count: _Counting, g: _Graph,
                   founding: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Mint for the masked nodes: (node numbers ascending, ids, their 60 bits)."""
    if not founding.any():
        return np.zeros(0, dtype=np.int64), pa.array([], pa.string()), np.zeros(0, np.uint64)
    con.execute("SET preserve_insertion_order = true")
    con.register("founding", pa.table({"t": g.id_type, "v": g.id_value, "f": founding,
                                       "i": count(g.n)}))
    try:
        out = con.sql(f"SELECT i, {_MINT_COLUMNS} FROM (SELECT i, sha256(t || chr(31) || v) AS h "
                      "FROM founding WHERE f)").to_arrow_table()
    finally:
        con.unregister("founding")
    node = out.column("i").to_numpy()
    minted = out.column("m").combine_chunks().cast(pa.string())
    bits = out.column("u").to_numpy().astype(np.uint64, copy=False)
    if not np.all(node[1:] > node[:-1]):  # order is promised, but cheap to make sure
        order = np.argsort(node)
        node, minted, bits = node[order], minted.take(pa.array(order)), bits[order]
    return node, minted, bits


def _mint(keys: pa.Array, salt: str,
          con: duckdb.DuckDBPyConnection | None) -> tuple[pa.Array, np.ndarray]:
    """Minted ids plus their 60 hash bits as uint64 (an exact, cheap duplicate test)."""
    if len(keys) == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.uint64)
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("mint_keys", pa.table({"k": keys}))
        out = con.sql(f"SELECT {_MINT_COLUMNS} FROM (SELECT sha256($salt || k) AS h "
                      "FROM mint_keys)", params={"salt": salt}).to_arrow_table()
        con.unregister("mint_keys")
    finally:
        if own:
            con.close()
    return (out.column("m").combine_chunks().cast(pa.string()),
            out.column("u").to_numpy().astype(np.uint64, copy=False))


def _clashes(minted: pa.Array, bits: np.ndarray, taken: pa.Array) -> np.ndarray:
    """Minted ids equal to a taken id, or to another minted id (every copy)."""
    clash = np.zeros(len(minted), dtype=bool)
    if len(minted) == 0:
        return clash
    if len(taken):
        if len(taken) < len(minted):
            clash |= pc.is_in(minted, value_set=taken).to_numpy(zero_copy_only=False)
        else:  # probe the big side against the small one
            hit = pc.is_in(taken, value_set=minted).to_numpy(zero_copy_only=False)
            if hit.any():
                clash |= pc.is_in(minted, value_set=taken.filter(pa.array(hit))).to_numpy(
                    zero_copy_only=False)
    if not (np.diff(np.sort(bits)) == 0).any():
        return clash
    order = np.argsort(bits)
    same = bits[order][1:] == bits[order][:-1]
    if same.any():
        clash[order[1:][same]] = True
        clash[order[:-1][same]] = True
    return clash


# --- outputs ------------------------------------------------------------------------------------


def _assignments(g: _Graph, member_id: pa.Array) -> pa.Table:
    """Rows in node order: the node table's rows, then edge-only identifiers by (type, value).

    When nothing was folded or added, the node table's own columns are reused (no copy).
    """
    if g.passthrough is not None:
        t = g.passthrough
        columns = [t["id_type"], t["id_value"], member_id, t["first_seen_at"], t["last_seen_at"]]
    else:
        columns = [g.id_type, g.id_value, member_id, _timestamps(g.node_first),
                   _timestamps(g.node_last)]
    return pa.table([c.cast(f.type) for c, f in zip(columns, ASSIGNMENTS_SCHEMA, strict=True)],
                    schema=ASSIGNMENTS_SCHEMA)


def _logs(plan: _Plan, names: pa.Array, member_ids: pa.Array,
          as_of: date) -> tuple[pa.Table, pa.Table]:
    """Merge and split logs, sorted by the retired / split member id."""
    merges = pd.DataFrame({
        "old_member_id": _take(names, plan.merges["old"].to_numpy()).to_pylist(),
        "member_id": _take(names, plan.merges["survivor"].to_numpy()).to_pylist()})
    splits = pd.DataFrame({
        "member_id": _take(names, plan.splits["member"].to_numpy()).to_pylist(),
        "new_member_id": _take(member_ids, plan.splits["comp"].to_numpy()).to_pylist()})
    merges = merges.sort_values(["old_member_id"], kind="stable").assign(
        merged_at=as_of, reason=MERGE_REASON)
    splits = splits.sort_values(["member_id", "new_member_id"], kind="stable").assign(
        split_at=as_of, reason=SPLIT_REASON)
    return (pa.Table.from_pandas(merges, schema=MERGES_SCHEMA, preserve_index=False),
            pa.Table.from_pandas(splits, schema=SPLITS_SCHEMA, preserve_index=False))


def _stats(g: _Graph, comps: _Components, plan: _Plan, prev: _Previous, merges: pa.Table,
           splits: pa.Table) -> dict[str, Any]:
    """Run summary; `new_members` counts components holding no previous identifier at all."""
    kept = plan.keeper >= 0
    split_comp = np.zeros(len(kept), dtype=bool)
    split_comp[plan.splits["comp"].to_numpy()] = True
    seen = np.zeros(len(prev.names), dtype=bool)
    seen[prev.member] = True
    size = comps.size
    return {
        "members": len(size),
        "identifiers": g.n,
        "edges_used": g.edges_used,
        "new_members": int((~kept & ~split_comp).sum()),
        "kept_members": int(kept.sum()),
        "merges": merges.num_rows,
        "splits": splits.num_rows,
        "split_off_members": int((~kept & split_comp).sum()),
        "vanished_members": int((~seen).sum()),
        "largest_cluster_size": int(size.max()) if len(size) else 0,
        "cluster_size_histogram": {label: int(((size >= lo) & (size <= hi)).sum())
                                   for lo, hi, label in HISTOGRAM_BUCKETS},
    }

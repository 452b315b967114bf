"""OneID: stable member ids from identity edges (pure Python: DuckDB, pyarrow, NumPy, SciPy).

Connected components over the edges decide *who is one person*; the previous night's state
decides *which id they keep* — and the rules below make that the id a build of the whole
history at once would mint: member ids are a function of the data, not of the nights it came in.

**Founding order.** Identifiers are ordered by the key (account before hub, ``first_dt`` NULL
last, ``id_type``, ``id_value``). Hubs (`HUB_TYPES`: ``mobile_sha256``, ``wechat_unionid``) are
what accounts point at, and they change hands (a new phone, a number flagged as shared); every
other type is an account. ``first_dt`` is the business day of the identifier's first delivery
(the smallest landing ``_dt`` of any raw row naming it): later rows cannot revise it, unlike
``first_seen_at``, which a member row delivered later can move back. A component's *founder*
is its smallest identifier; a new member's id is minted from it: ``M`` + 15 upper-case hex of
SHA-256(``id_type`` + ``"\\x1f"`` + ``id_value``) (`mint_id`). The state records each member's
founder: ``assignments.is_founder`` is true on exactly one identifier per member.

**Which id a component gets.** A previous member's identifiers that fall into a component are
its *part* there. The part holding the member's recorded founder is its *founding part* (when
the founder is no longer an identifier: the part holding most of its identifiers, ties by the
smaller part key); its other parts are *split off*. Of the parts in a component, the one holding
the smallest identifier decides (identifiers new tonight do not compete):

* a founding part: the component keeps that member's id, and the members whose founding parts
  are there too are retired into it (``merges``, reason ``linked_to_older_member``);
* a split-off part, or no part at all: the component mints from its founder, and the members
  whose founding parts are there are retired into the new id.

Every split-off part is logged in ``splits`` (member → the id its part went to). So a member
keeps its id as long as it holds its founder; a member that splits keeps it in the part holding
its founder, and every other part gets the id its own founder mints; of members that merge, the
one founded first survives — which can be a part split off another member the same night.

**Why a full build agrees.** Invariant: a member's id is mint(its founder), and its founder is
the smallest identifier of its component. A ``first_dt`` never changes once delivered, a new
identifier is delivered after every older one, and every member holds an account (every link
has one), so no identifier new tonight comes before a founder: the deciding part holds the
component's founder and the id it gets is mint(founder), what a build of all the days mints. The nightly
path keeps an id a rebuild would not mint only where the data forgot or rewrote the past:

* a member's founder is no longer an identifier (a deleted WeCom contact, erased or withdrawn
  rows): it keeps its id in the fallback part and is re-founded on that component's founder;
  a rebuild mints from that founder;
* an identifier older than a member's founder appears in it (a late file for an old day, an
  account that comes back): the member keeps its id and its founder; a rebuild mints from the
  older identifier (its merges and splits are logged as usual);
* a clash (below), and members written before founders were recorded: their founder is
  derived as the identifier whose `mint_id` (unsalted, then salts ``"1:"``…) is the member id,
  else their smallest identifier.

**Minting.** A minted id never equals an id of the previous state or another id minted the
same night; such a clash (a 60-bit hash collision, or a founder that vanished and came back)
is re-minted with the salt ``"<attempt>:"``. A minted id may equal a *retired* id: the founder
of the retired member founds a component again (a split undoing a merge), and the id comes
back — a full build mints the same, the split log records it, ``stats["revived_ids"]`` counts it.

Inputs and outputs: pyarrow Tables or pandas DataFrames in, pyarrow Tables out (schemas below).
Identifiers are the node rows plus any edge endpoint missing from them; ``first_seen_at``,
``last_seen_at`` and ``first_dt`` come from the node row (an edge-only identifier takes its
earliest / latest edge; the production graph has none: every edge endpoint is a node). A node or
edge table without a ``first_dt`` column (tests, benchmarks) uses the day of ``first_seen_at``.
``assignments`` follows the node table's row order, then edge-only identifiers by (type,
value): its content, not its order, is independent of the input order.

Why the code is shaped like this: at 10M edges nearly all the time goes into mapping identifier
strings to integers, so each string is hashed once, in one parallel DuckDB hash join of every
edge endpoint and previous-state row against the node table on (id_value, id_type) — exact, no
hash-only identity — whose row number *is* the node number, so the node table passes through to
the output untouched; plus one join of the previous state's member ids against the previous
members. Everything after that is integer NumPy work — scatters and gathers over the component
labels, no sort of the identifiers. A kept member's founder is read off the previous state's
``is_founder`` flag (no string compared), founding keys are computed only for the components
that mint, and merges and splits, which are rare, are decided in pandas on just the components
they touch. SHA-256 for minting runs in DuckDB straight off the node columns. Nothing depends on the dbt target: on Spark the tables arrive as Arrow just the same.
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
#: Identifier types that several accounts can point at: they found a member only when it holds
#: no account (never, in the links the dbt models emit).
HUB_TYPES = ("mobile_sha256", "wechat_unionid")
SEP = "\x1f"
MERGE_REASON = "linked_to_older_member"
SPLIT_REASON = "link_removed"
TS = pa.timestamp("us")
HISTOGRAM_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 4, "4"), (5, 9, "5-9"),
                     (10, 19, "10-19"), (20, 2**62, "20+"))

ASSIGNMENTS_SCHEMA = pa.schema([("id_type", pa.string()), ("id_value", pa.string()),
                                ("member_id", pa.string()), ("first_seen_at", TS),
                                ("last_seen_at", TS), ("is_founder", pa.bool_())])
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
_DAY_COLUMN = {"first_dt": pa.date32()}  # optional on nodes and edges
_STATE_COLUMNS = {"id_type": pa.string(), "id_value": pa.string(), "member_id": pa.string()}
_FOUNDER_COLUMN = {"is_founder": pa.bool_()}  # optional on the previous state
_MEMBER_COLUMNS = {"member_id": pa.string()}
_PAIR_JOIN = "SELECT p.row, b.id FROM probe p JOIN build b ON b.v = p.v AND b.t = p.t"
_MEMBER_JOIN = "SELECT p.row, b.id FROM probe p JOIN build b ON b.v = p.v"
_MINT_COLUMNS = "'M' || upper(left(h, 15)) AS m, ('0x' || left(h, 15))::UBIGINT AS u"
_IDX = np.int32  # node, component and member numbers (< 2**31, checked)
_NAT = np.iinfo(np.int64).min  # NULL timestamp as int64 (NumPy's NaT)
_LAST = np.iinfo(np.int64).max  # NULL first_seen_at sorts last
_US_PER_DAY = 86_400_000_000
_NO_DAY = np.int64(2**40)  # NULL first_dt (days since 1970): after every real day
_HUB_KEY = np.int64(2**42)  # founding key = hub * _HUB_KEY + day: accounts first, then day
_MAX_REMINTS = 8


@dataclass(frozen=True)
class IdentityResult:
    """What one night of OneID resolution produced (pyarrow tables, schemas above)."""

    assignments: pa.Table  # id_type, id_value, member_id, first_seen_at, last_seen_at, is_founder
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
    are dropped. ``previous_state.is_founder`` (a previous night's ``assignments``) marks each
    member's founder; without the column, or NULL on every row of a member, the founder is
    derived (module docstring). ``previous_members`` (``member_id``) is optional. ``retired_ids``
    (every ``old_member_id`` logged before tonight) only serve ``stats["revived_ids"]``.
    ``assignments`` rows follow the node table's order (then edge-only identifiers);
    ``members`` rows follow no meaningful order; ``merges``/``splits`` are sorted.
    """
    node_t = _table(nodes, _NODE_COLUMNS, _DAY_COLUMN)
    edge_t = _table(edges, _EDGE_COLUMNS, _DAY_COLUMN)
    state_t = _table(previous_state, _STATE_COLUMNS, _FOUNDER_COLUMN)
    members_t = _table(previous_members, _MEMBER_COLUMNS)
    if max(node_t.num_rows + 2 * edge_t.num_rows + state_t.num_rows, members_t.num_rows) >= 2**31:
        raise ValueError("more than 2**31 rows: widen _IDX")
    con, count = duckdb.connect(), _Counting()
    try:
        g = _encode(con, count, node_t, edge_t, state_t)
        labels, n_comp = _components(g.n, g.edge_a, g.edge_b)
        comps = _component_facts(g, labels, n_comp)
        prev = _previous(con, count, g, state_t, members_t)
        plan = _plan(g, labels, comps, prev)
        founders = _member_founders(g, labels, comps, plan, prev)
        final, minted, revived = _final_ids(con, count, g, labels, founders, plan, prev.names,
                                            retired_ids)
    finally:
        con.close()
    member_ids = pa.concat_arrays([prev.names, minted]).take(pa.array(final))
    is_founder = np.zeros(g.n, dtype=bool)
    is_founder[founders] = True
    assignments = _assignments(g, member_ids.take(pa.array(labels)), is_founder)
    members = pa.table([member_ids, _timestamps(comps.first_seen), pa.array(comps.size)],
                       schema=MEMBERS_SCHEMA)
    merges, splits = _logs(plan, prev.names, member_ids, as_of)
    stats = _stats(g, comps, plan, prev, merges, splits, revived)
    return IdentityResult(assignments, members, merges, splits, stats)


# --- inputs -------------------------------------------------------------------------------------


def _table(obj: Tabular | None, columns: dict[str, pa.DataType],
           optional: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Select the needed columns (and the optional ones present); strings stay string or
    large_string, the rest is cast."""
    if obj is None:
        return pa.table({c: pa.array([], t) for c, t in columns.items()})
    if isinstance(obj, pd.DataFrame):
        obj = pa.Table.from_pandas(obj, preserve_index=False)
    if not isinstance(obj, pa.Table):
        raise TypeError(f"expected a pyarrow Table or pandas DataFrame, got {type(obj)!r}")
    missing = [c for c in columns if c not in obj.column_names]
    if missing:
        raise ValueError(f"missing columns {missing}; have {obj.column_names}")
    wanted = {**columns, **{c: t for c, t in (optional or {}).items() if c in obj.column_names}}
    out = {}
    for c, t in wanted.items():
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


def _days(table: pa.Table, first: np.ndarray) -> np.ndarray:
    """``first_dt`` as int64 days since 1970 (NULL → `_NO_DAY`); without the column, the day
    of ``first_seen_at`` (`first`, int64 µs)."""
    if "first_dt" not in table.column_names:
        return np.where(first == _NAT, _NO_DAY, np.floor_divide(first, _US_PER_DAY))
    col = table["first_dt"]
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    days = pc.fill_null(col.cast(pa.int32()), 0).to_numpy().astype(np.int64)
    if col.null_count:
        days[pc.is_null(col).to_numpy(zero_copy_only=False)] = _NO_DAY
    return days


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
    node_day: np.ndarray  # per node: first_dt as int64 days since 1970, NULL → _NO_DAY
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
    day = _days(nodes, first)
    id_type, id_value, passthrough = node_types, node_values, nodes
    if several or ok is not None:
        if several:
            own = pa.table({"v": node_values, "t": node_types, "row": count(n_rows)})
            _join_rows(con, build, own, _PAIR_JOIN, node_of_row[:n_rows])
        node_of_row, first, last, day, keep = _fold_node_rows(node_of_row, n_rows, first,
                                                              last, day)
        id_type, id_value = id_type.filter(pa.array(keep)), id_value.filter(pa.array(keep))
        passthrough = None
    extra = np.flatnonzero(node_of_row[n_rows:n_current] < 0) + n_rows
    if len(extra):
        extra = extra[_nonempty(_take(types, extra)) & _nonempty(_take(values, extra))]
    if len(extra):
        node_of_row, first, last, day, rep = _add_edge_only_nodes(
            node_of_row, extra, len(id_value), n_rows, types, values, edges, first, last, day)
        id_type = pa.chunked_array([*id_type.chunks, _take(types, rep)], type=types.type)
        id_value = pa.chunked_array([*id_value.chunks, _take(values, rep)], type=values.type)
        passthrough = None
    a = node_of_row[n_rows:n_rows + n_edges]
    b = node_of_row[n_rows + n_edges:n_current]
    usable = (a >= 0) & (b >= 0)
    if not usable.all():
        a, b = a[usable], b[usable]
    return _Graph(len(id_value), first, last, day, id_type, id_value, a, b,
                  node_of_row[n_current:], len(a), passthrough)


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
                    last: np.ndarray, day: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop unusable node rows and fold duplicated ones into their first copy.

    `node_of_row[:n_rows]` holds each node row's first copy (-1: unusable). Returns the
    renumbered rows, first/last seen and first_dt per node (earliest/latest/earliest over
    copies) and the kept mask.
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
    d = np.full(int(keep.sum()), _NO_DAY, dtype=np.int64)
    np.minimum.at(d, mapped[:n_rows][ok], day[ok])
    return mapped, f, la, d, keep


def _add_edge_only_nodes(
        node_of_row: np.ndarray, extra: np.ndarray, n: int, n_rows: int,
        types: pa.ChunkedArray, values: pa.ChunkedArray, edges: pa.Table, first: np.ndarray,
        last: np.ndarray, day: np.ndarray,
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Number the endpoints missing from the node table (rare): n, n+1, … in (type, value) order.

    Their first/last seen and first_dt are the earliest/latest/earliest of their edges;
    previous-state rows for them are matched too. Returns rows, first, last, first_dt and a
    representative row per new node.
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
    edge_first = _int_ts(edges["first_seen_at"])
    e_first = np.tile(edge_first, 2)
    e_last = np.tile(_int_ts(edges["last_seen_at"]), 2)
    e_day = np.tile(_days(edges, edge_first), 2)
    f = np.full(n_extra, _LAST, dtype=np.int64)
    la = np.full(n_extra, _NAT, dtype=np.int64)
    _group_min_max(f, la, code, e_first[extra - n_rows], e_last[extra - n_rows])
    f[f == _LAST] = _NAT
    d = np.full(n_extra, _NO_DAY, dtype=np.int64)
    np.minimum.at(d, code, e_day[extra - n_rows])
    return (node_of_row, np.concatenate([first, f]), np.concatenate([last, la]),
            np.concatenate([day, d]), rep)


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
    """Per component: size and first seen (int64, all NULL → _LAST)."""

    size: np.ndarray
    first_seen: np.ndarray


def _component_facts(g: _Graph, labels: np.ndarray, n_comp: int) -> _Components:
    """Sizes and first seen per component (scatter-min, no sort)."""
    size = np.bincount(labels, minlength=n_comp).astype(np.int64, copy=False)
    ts = np.where(g.node_first == _NAT, _LAST, g.node_first)
    first = np.full(n_comp, _LAST, dtype=np.int64)
    np.minimum.at(first, labels, ts)
    return _Components(size, first)


def _node_keys(g: _Graph, nodes: np.ndarray | None = None) -> np.ndarray:
    """Founding key (hub, first_dt) as one int64 for the given nodes (None: all). Computed
    where needed: a night that mints few members looks at few types."""
    types = g.id_type if nodes is None else _take(g.id_type, nodes)
    day = g.node_day if nodes is None else g.node_day[nodes]
    if not len(day):
        return day.copy()
    hub = None
    for t in HUB_TYPES:  # string equality: cheaper than a hash lookup (is_in)
        same = pc.equal(types, pa.scalar(t, types.type))
        hub = same if hub is None else pc.or_(hub, same)
    hub = pc.fill_null(hub, False).to_numpy(zero_copy_only=False)
    return np.where(hub, day + _HUB_KEY, day)


def _founders(g: _Graph, labels: np.ndarray, comps: _Components,
              wanted: np.ndarray) -> np.ndarray:
    """Founding node of each wanted component (-1 elsewhere).

    Founder = min over the component of (hub, first_dt NULL last, id_type, id_value). The
    integer key settles most; only components tied on it look at type strings, and only
    those tied on the type too compare values — on those rows alone.
    """
    n_comp = len(comps.size)
    founder = np.full(n_comp, -1, dtype=_IDX)
    if not wanted.any():
        return founder
    key_min = np.full(n_comp, _LAST, dtype=np.int64)
    if wanted.all():
        key = _node_keys(g)
        np.minimum.at(key_min, labels, key)
        cand = np.flatnonzero(key == key_min[labels]).astype(_IDX)
    else:
        rows = np.flatnonzero(wanted[labels]).astype(_IDX)
        key = _node_keys(g, rows)
        np.minimum.at(key_min, labels[rows], key)
        cand = rows[key == key_min[labels[rows]]]
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


def _key_rank(g: _Graph, nodes: np.ndarray) -> np.ndarray:
    """Rank of each given node in the founding order (hub, first_dt, id_type, id_value); equal
    ranks only for the same node. For a few nodes (merges, splits, migrations)."""
    uniq, inverse = np.unique(nodes, return_inverse=True)
    t = pa.table({"k": _node_keys(g, uniq), "t": _take(g.id_type, uniq),
                  "v": _take(g.id_value, uniq)})
    order = pc.sort_indices(t, sort_keys=[("k", "ascending"), ("t", "ascending"),
                                          ("v", "ascending")]).to_numpy()
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[inverse]


# --- previous state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    """Previous members (code = position in `names`) and their founders, per usable state row
    its node and member, and per state row (all of them) its member code."""

    names: pa.Array  # member_id strings
    node: np.ndarray  # per usable state row: node number
    member: np.ndarray  # per usable state row: member code
    code: np.ndarray  # per state row: member code (-1: none)
    founder: np.ndarray  # per member: founder node, -1: gone (or none recorded nor derived)
    known: np.ndarray  # per member: its founder was recorded or found by its mint
    derived: int  # members present tonight whose founder was not recorded


def _previous(con: duckdb.DuckDBPyConnection, count: _Counting, g: _Graph,
              state: pa.Table, members: pa.Table) -> _Previous:
    """Member code per state row by a join on the previous members (row number = code).

    A member listed twice is folded; a state member id missing from the members table gets a
    code of its own. State rows whose identifier is gone are dropped. An identifier listed
    under two members (a contract breach) simply links them: they merge. The state row flagged
    ``is_founder`` gives its member's founder (gone when its identifier is); a member none of
    whose rows carries the flag (a state written before it) gets one derived.
    """
    names = members["member_id"].combine_chunks()
    code = np.full(state.num_rows, -1, dtype=_IDX)
    if state.num_rows:
        probe = pa.table({"v": state["member_id"], "row": count(state.num_rows)})
        build = pa.table({"v": names, "id": count(len(names))})
        if _join_rows(con, build, probe, _MEMBER_JOIN, code):
            names = pc.unique(names)
            build = pa.table({"v": names, "id": count(len(names))})
            _join_rows(con, build, probe, _MEMBER_JOIN, code)
        missing = np.flatnonzero(code < 0)
        if len(missing):
            ids = _take(state["member_id"], missing)
            ok = _nonempty(ids)
            encoded = pc.dictionary_encode(ids.filter(pa.array(ok)))
            code[missing[ok]] = len(names) + encoded.indices.to_numpy()
            names = pa.concat_arrays([names, encoded.dictionary.cast(names.type)])
    state_node = g.state_node
    founder = np.full(len(names), -1, dtype=_IDX)
    recorded = np.zeros(len(names), dtype=bool)
    if "is_founder" in state.column_names and state.num_rows:
        flag = state["is_founder"]
        valid = np.flatnonzero(pc.is_valid(flag).to_numpy(zero_copy_only=False) & (code >= 0))
        recorded[code[valid]] = True
        rows = valid[pc.fill_null(flag, False).to_numpy(zero_copy_only=False)[valid]]
        founder[code[rows]] = state_node[rows]  # -1 where the founder is no longer there
    usable = (state_node >= 0) & (code >= 0)
    present = np.zeros(len(names), dtype=bool)
    present[code[usable]] = True
    derive = present & ~recorded
    names = names.cast(pa.string())
    known = recorded
    if derive.any():
        known = recorded | _derive_founders(con, g, state, code, names, founder, derive)
    node, member = (state_node, code) if usable.all() else (state_node[usable], code[usable])
    return _Previous(names, node, member, code, founder, known, int(derive.sum()))


def _derive_founders(con: duckdb.DuckDBPyConnection, g: _Graph, state: pa.Table,
                     code: np.ndarray, names: pa.Array, founder: np.ndarray,
                     derive: np.ndarray) -> np.ndarray:
    """Founders of members written before founders were recorded (a migrated state).

    The founder is the identifier whose `mint_id` — unsalted, then with the salts a clash
    used — is the member id (when that identifier is gone, the founder is gone); a member
    none of whose identifiers minted its id is founded by its smallest identifier tonight.
    Fills `founder` and returns the members whose founder was found by its mint.
    """
    rows = np.flatnonzero((code >= 0) & derive[np.maximum(code, 0)])
    matched = np.zeros(len(names), dtype=bool)
    for salt in ["", *(f"{attempt}:" for attempt in range(1, _MAX_REMINTS))]:
        rows = rows[~matched[code[rows]]]
        if not len(rows):
            break
        values = _take(state["id_value"], rows)
        keys = pc.binary_join_element_wise(_take(state["id_type"], rows).cast(values.type),
                                           values, pa.scalar(SEP, values.type))
        hit = pc.equal(_mint(keys, salt, con)[0], names.take(pa.array(code[rows]))
                       ).to_numpy(zero_copy_only=False)
        hit_rows = rows[hit]
        founder[code[hit_rows]] = g.state_node[hit_rows]
        matched[code[hit_rows]] = True
    rows = rows[~matched[code[rows]]]
    rows = rows[g.state_node[rows] >= 0]
    if len(rows):
        rank = _key_rank(g, g.state_node[rows])
        order = np.lexsort((rank, code[rows]))
        first = np.r_[True, code[rows][order][1:] != code[rows][order][:-1]]
        best = rows[order][first]
        founder[code[best]] = g.state_node[best]
    return matched


# --- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Which previous member each component keeps (-1: mint), and the rare-case logs."""

    keeper: np.ndarray  # per component: previous member code or -1
    had: np.ndarray  # per component: holds a previous identifier
    merges: pd.DataFrame  # old (member code), comp (the component it was retired into)
    splits: pd.DataFrame  # member (code), comp (a component holding a part split off it)


def _plan(g: _Graph, labels: np.ndarray, comps: _Components, prev: _Previous) -> _Plan:
    """Vectorised common case (one member ↔ one component); merges/splits on their rows only.

    A component is *affected* when it holds several previous members or any part of a member
    found in several components; the rules (module docstring) then run in pandas on those
    components' rows: founding parts, the part holding the smallest identifier, its verdict.
    """
    n_comp, n_members = len(comps.size), len(prev.names)
    pm, pcomp = prev.member, labels[prev.node]
    keeper = np.full(n_comp, -1, dtype=_IDX)
    keeper[pcomp] = pm
    member_comp = np.full(n_members, -1, dtype=_IDX)
    member_comp[pm] = pcomp
    several_members = keeper[pcomp] != pm
    split = member_comp[pm] != pcomp
    no_logs = (pd.DataFrame({"old": [], "comp": []}, dtype=np.int64),
               pd.DataFrame({"member": [], "comp": []}, dtype=np.int64))
    had = keeper >= 0
    if not (several_members.any() or split.any()):
        return _Plan(keeper, had, *no_logs)
    split_member = np.zeros(n_members, dtype=bool)
    split_member[pm[split]] = True
    affected = np.zeros(n_comp, dtype=bool)
    affected[pcomp[several_members | split_member[pm]]] = True
    rows = np.flatnonzero(affected[pcomp])
    parts = (pd.DataFrame({"member": pm[rows], "comp": pcomp[rows],
                           "rank": _key_rank(g, prev.node[rows])})
             .groupby(["member", "comp"], sort=False)
             .agg(k=("rank", "size"), first=("rank", "min")).reset_index())
    member, comp = parts["member"].to_numpy(), parts["comp"].to_numpy()
    fnode = prev.founder[member]
    founding = (fnode >= 0) & (labels[np.maximum(fnode, 0)] == comp)
    # a member whose founder is gone: the part holding most of its identifiers (ties: the
    # part with the smaller key)
    without = ~np.isin(member, member[founding])
    if without.any():
        fallback = (parts[without].sort_values(["member", "k", "first"],
                                                ascending=[True, False, True], kind="stable")
                    .drop_duplicates("member").index.to_numpy())
        founding[fallback] = True
    parts["founding"] = founding
    deciding = parts.sort_values(["comp", "first"], kind="stable").drop_duplicates("comp")
    keeper[affected] = -1
    kept = deciding[deciding["founding"]]
    keeper[kept["comp"].to_numpy()] = kept["member"].to_numpy()
    retired = parts[founding & (keeper[comp] != member)]
    split_off = parts[~founding]
    return _Plan(keeper, had,
                 pd.DataFrame({"old": retired["member"].to_numpy(),
                               "comp": retired["comp"].to_numpy()}),
                 split_off[["member", "comp"]].reset_index(drop=True))


def _member_founders(g: _Graph, labels: np.ndarray, comps: _Components, plan: _Plan,
                     prev: _Previous) -> np.ndarray:
    """Founder node per component: a kept member's founder while it is in the component,
    otherwise (minted; kept by a member whose founder is gone) the component's founder."""
    founder = np.full(len(comps.size), -1, dtype=_IDX)
    kept = np.flatnonzero(plan.keeper >= 0)
    f = prev.founder[plan.keeper[kept]]
    stays = f >= 0
    stays[stays] = labels[f[stays]] == kept[stays]
    founder[kept[stays]] = f[stays]
    need = founder < 0
    if need.any():
        founder[need] = _founders(g, labels, comps, need)[need]
    return founder


# --- ids ----------------------------------------------------------------------------------------


def _final_ids(con: duckdb.DuckDBPyConnection, count: _Counting, g: _Graph, labels: np.ndarray,
               founders: np.ndarray, plan: _Plan, names: pa.Array,
               retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None,
               ) -> tuple[np.ndarray, pa.Array, int]:
    """Per component an index into names ++ minted, and how many minted ids were retired ids.

    Minted ids are unique and no previous id; a retired id may come back (module docstring).
    DuckDB hashes the founding rows straight from the node columns (filtered by a mask, in
    node order), so no founder strings are gathered in Python.
    """
    founding = np.zeros(g.n, dtype=bool)
    founding[founders[plan.keeper < 0]] = True
    node, minted, bits = _mint_founders(con, count, g, founding)
    taken = names
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
    revived = 0
    if retired_ids is not None and len(minted):
        retired = retired_ids if isinstance(retired_ids, pa.Array | pa.ChunkedArray) else \
            pa.array(list(retired_ids), pa.string())
        retired = _chunked(retired).combine_chunks().cast(pa.string())
        if len(retired):
            revived = int(pc.sum(pc.is_in(minted, value_set=retired)).as_py() or 0)
    return final, minted, revived


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


def _assignments(g: _Graph, member_id: pa.Array, is_founder: np.ndarray) -> pa.Table:
    """Rows in node order: the node table's rows, then edge-only identifiers by (type, value).

    When nothing was folded or added, the node table's own columns are reused (no copy).
    """
    if g.passthrough is not None:
        t = g.passthrough
        columns = [t["id_type"], t["id_value"], member_id, t["first_seen_at"], t["last_seen_at"]]
    else:
        columns = [g.id_type, g.id_value, member_id, _timestamps(g.node_first),
                   _timestamps(g.node_last)]
    columns.append(pa.array(is_founder))
    return pa.table([c.cast(f.type) for c, f in zip(columns, ASSIGNMENTS_SCHEMA, strict=True)],
                    schema=ASSIGNMENTS_SCHEMA)


def _logs(plan: _Plan, names: pa.Array, member_ids: pa.Array,
          as_of: date) -> tuple[pa.Table, pa.Table]:
    """Merge and split logs, sorted by the retired / split member id."""
    merges = pd.DataFrame({
        "old_member_id": _take(names, plan.merges["old"].to_numpy()).to_pylist(),
        "member_id": _take(member_ids, plan.merges["comp"].to_numpy()).to_pylist()})
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
           splits: pa.Table, revived: int) -> dict[str, Any]:
    """Run summary; `new_members` counts components holding no previous identifier at all."""
    kept, had = plan.keeper >= 0, plan.had
    seen = np.zeros(len(prev.names), dtype=bool)
    seen[prev.member] = True
    size = comps.size
    return {
        "members": len(size),
        "identifiers": g.n,
        "edges_used": g.edges_used,
        "new_members": int((~kept & ~had).sum()),
        "kept_members": int(kept.sum()),
        "merges": merges.num_rows,
        "splits": splits.num_rows,
        "split_off_members": int((~kept & had).sum()),
        "vanished_members": int((~seen).sum()),
        "revived_ids": revived,
        "founders_gone": int((seen & prev.known & (prev.founder == -1)).sum()),
        "founders_derived": prev.derived,
        "largest_cluster_size": int(size.max()) if len(size) else 0,
        "cluster_size_histogram": {label: int(((size >= lo) & (size <= hi)).sum())
                                   for lo, hi, label in HISTOGRAM_BUCKETS},
    }

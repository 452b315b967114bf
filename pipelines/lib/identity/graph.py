"""OneID, step 1: identifiers and links as an integer graph, and its connected components.

Each identifier string is hashed once (a DuckDB hash join against the node table, whose row
number is the node number); everything after is integer NumPy/SciPy work. Rules: the package
docstring (`pipelines.lib.identity`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


TS = pa.timestamp("us")


_NODE_COLUMNS = {"id_type": pa.string(), "id_value": pa.string(), "first_seen_at": TS,
                 "last_seen_at": TS}


_EDGE_COLUMNS = {"left_type": pa.string(), "left_value": pa.string(), "right_type": pa.string(),
                 "right_value": pa.string(), "first_seen_at": TS, "last_seen_at": TS}


_DAY_COLUMN = {"first_dt": pa.date32()}  # optional on nodes and edges


_PAIR_JOIN = "SELECT p.row, b.id FROM probe p JOIN build b ON b.v = p.v AND b.t = p.t"


_IDX = np.int32  # node, component and member numbers (< 2**31, checked)


_NAT = np.iinfo(np.int64).min  # NULL timestamp as int64 (NumPy's NaT)


_LAST = np.iinfo(np.int64).max  # NULL first_seen_at sorts last


_US_PER_DAY = 86_400_000_000


_NO_DAY = np.int64(2**40)  # NULL first_dt (days since 1970): after every real day


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
    if not len(strings):
        return np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(strings)
    rank = pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="dense").to_numpy()
    return rank[pc.fill_null(encoded.indices, 0).to_numpy()].astype(np.int64)


class _Strings(Protocol):
    """Where the identifier strings live: the few rows the integer work needs them for
    (founding ties, merges/splits, clashes, migrations) and the founders to mint."""

    def node_strings(self, nodes: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """(id_type, id_value) of the given node numbers, in their order."""

    def state_strings(self, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """(id_type, id_value) of the given previous-state rows, in their order."""

    def mint_nodes(self, founding: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
        """Mint for the masked nodes: (node numbers ascending, ids, their 60 bits)."""


@dataclass(frozen=True)
class _Graph:
    """Integer view of the input: node numbers, founding keys, timestamps, edges.

    No string per identifier: `strings` fetches the few the rules compare (Arrow columns in
    `resolve`, the warehouse's identifier dictionary in `pipelines.lib.identity.compact`)."""

    n: int  # identifiers
    node_first: np.ndarray  # per node: first_seen_at as int64 µs, NULL → _NAT
    node_last: np.ndarray | None  # per node (None: the output is built elsewhere, in SQL)
    node_day: np.ndarray  # per node: first_dt as int64 days since 1970, NULL → _NO_DAY
    hub: np.ndarray  # per node: bool, a HUB_TYPES identifier
    type_rank: np.ndarray  # per node: int16, order = order of the id_type strings
    edge_a: np.ndarray  # per usable edge: node numbers
    edge_b: np.ndarray
    state_node: np.ndarray  # per previous-state row: node number or -1
    edges_used: int
    strings: _Strings
    id_type: pa.ChunkedArray | None = None  # per node (the Arrow front end only)
    id_value: pa.ChunkedArray | None = None
    passthrough: pa.Table | None = None  # the node table itself when node i is its row i


def _hub_mask(types: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per identifier: one of HUB_TYPES (string equality: cheaper than a hash lookup)."""
    if not len(types):
        return np.zeros(0, dtype=bool)
    hub = None
    for t in HUB_TYPES:
        same = pc.equal(types, pa.scalar(t, types.type))
        hub = same if hub is None else pc.or_(hub, same)
    return pc.fill_null(hub, False).to_numpy(zero_copy_only=False)


class _ArrowStrings:
    """`_Strings` over Arrow columns held by the caller (`resolve`'s inputs)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, count: _Counting, id_type: pa.ChunkedArray,
                 id_value: pa.ChunkedArray, state: pa.Table) -> None:
        self.con, self.count, self.id_type, self.id_value = con, count, id_type, id_value
        self.state = state

    def node_strings(self, nodes: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return _take(self.id_type, nodes), _take(self.id_value, nodes)

    def state_strings(self, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return _take(self.state["id_type"], rows), _take(self.state["id_value"], rows)

    def mint_nodes(self, founding: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
        from pipelines.lib.identity.minting import _mint_table
        return _mint_table(self.con, pa.table({"t": self.id_type, "v": self.id_value,
                                                "f": founding, "i": self.count(len(founding))}))


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
    return _Graph(len(id_value), first, last, day, _hub_mask(id_type),
                  _sorted_codes(id_type.combine_chunks()).astype(np.int16), a, b,
                  node_of_row[n_current:], len(a),
                  _ArrowStrings(con, count, id_type, id_value, state), id_type, id_value,
                  passthrough)


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

"""OneID, step 3: founders and ids — a member id is mint(its founder).

Founding order (account before hub, first_dt, type, value), the scalar `mint_id` and its
vectorised twin in DuckDB, and the clash re-mint. Rules: the package docstring."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.identity.graph import (
    _IDX,
    _LAST,
    SEP,
    _chunked,
    _Components,
    _Counting,
    _Graph,
)

if TYPE_CHECKING:
    from pipelines.lib.identity.state import _Plan

_MINT_COLUMNS = "'M' || upper(left(h, 15)) AS m, ('0x' || left(h, 15))::UBIGINT AS u"


_HUB_KEY = np.int64(2**42)  # founding key = hub * _HUB_KEY + day: accounts first, then day


_MAX_REMINTS = 8


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


def _node_keys(g: _Graph, nodes: np.ndarray | None = None) -> np.ndarray:
    """Founding key (hub, first_dt) as one int64 for the given nodes (None: all)."""
    day = g.node_day if nodes is None else g.node_day[nodes]
    hub = g.hub if nodes is None else g.hub[nodes]
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
        code = g.type_rank[tied].astype(np.int64)
        best = np.full(n_comp, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, labels[tied], code)
        tied = tied[code == best[labels[tied]]]
        founder[labels[tied]] = tied
        tied = tied[np.bincount(labels[tied], minlength=n_comp)[labels[tied]] > 1]
    if len(tied):
        t = pa.table({"comp": labels[tied], "value": g.strings.node_strings(tied)[1],
                      "node": tied})
        t = t.sort_by([("comp", "ascending"), ("value", "ascending")])
        comp, node = t["comp"].to_numpy(), t["node"].to_numpy()
        head = np.r_[True, comp[1:] != comp[:-1]]
        founder[comp[head]] = node[head]
    return founder


def _key_rank(g: _Graph, nodes: np.ndarray) -> np.ndarray:
    """Rank of each given node in the founding order (hub, first_dt, id_type, id_value); equal
    ranks only for the same node. For a few nodes (merges, splits, migrations)."""
    uniq, inverse = np.unique(nodes, return_inverse=True)
    t = pa.table({"k": _node_keys(g, uniq), "t": g.type_rank[uniq],
                  "v": g.strings.node_strings(uniq)[1]})
    order = pc.sort_indices(t, sort_keys=[("k", "ascending"), ("t", "ascending"),
                                          ("v", "ascending")]).to_numpy()
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[inverse]


def _final_ids(con: duckdb.DuckDBPyConnection, count: _Counting, g: _Graph, labels: np.ndarray,
               founders: np.ndarray, plan: _Plan, names: pa.Array,
               retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None,
               taken_elsewhere: Callable[[pa.Array], np.ndarray] | None = None,
               ) -> tuple[np.ndarray, pa.Array, int]:
    """Per component an index into names ++ minted, and how many minted ids were retired ids.

    Minted ids are unique and no previous id; a retired id may come back (module docstring).
    `taken_elsewhere` flags minted ids held by previous members not in `names` (an incremental
    night resolves only the affected part: the others still hold their ids).
    DuckDB hashes the founding rows straight from the node columns (filtered by a mask, in
    node order), so no founder strings are gathered in Python.
    """
    founding = np.zeros(g.n, dtype=bool)
    founding[founders[plan.keeper < 0]] = True
    node, minted, bits = g.strings.mint_nodes(founding)
    taken = names
    for attempt in range(1, _MAX_REMINTS + 1):
        clash = _clashes(minted, bits, taken)
        if taken_elsewhere is not None and len(minted):
            clash |= taken_elsewhere(minted)
        if not clash.any():
            break
        if attempt == _MAX_REMINTS:
            raise RuntimeError("could not mint unique member ids")
        idx = np.flatnonzero(clash)
        types, values = g.strings.node_strings(node[idx])
        keys = pc.binary_join_element_wise(types.cast(values.type),
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


def _mint_table(con: duckdb.DuckDBPyConnection,
                founding: pa.Table) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Mint for the rows of `founding` (t, v, f: mint it, i: node number) flagged f:
    (node numbers ascending, ids, their 60 bits). DuckDB hashes straight off the columns."""
    if not pc.any(founding["f"]).as_py():
        return np.zeros(0, dtype=np.int64), pa.array([], pa.string()), np.zeros(0, np.uint64)
    con.execute("SET preserve_insertion_order = true")
    con.register("founding", founding)
    try:
        out = con.sql(f"SELECT i, {_MINT_COLUMNS} FROM (SELECT i, sha256(t || chr(31) || v) AS h "
                      "FROM founding WHERE f)").to_arrow_table()
    finally:
        con.unregister("founding")
    return _minted(out)


def _minted(out: pa.Table) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(i, m, u) rows of a mint query → node numbers ascending, ids, bits."""
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

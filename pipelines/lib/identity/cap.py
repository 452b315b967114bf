"""OneID guardrail before minting: a component larger than the cap is not glued.

A component of more than `max_component_size` identifiers (dbt var
``identity_max_component_size``) is almost always one shared hub — a counter phone typed onto
sixty cards, a test unionid — that the per-type limits of ``shared_identifier_limits`` did not
catch. Its hub identifier (a `HUB_TYPES` identifier) of highest degree (distinct neighbours;
ties: the founding order — account before hub, ``first_dt``, type, value) is flagged shared
(flag ``component_cap``) and dropped, and that component is recomputed without it; repeated
while a part is still above the cap and holds a hub. Same input, same hubs: the choice depends
on the graph and the founding order only. A part above the cap with no hub left stays glued
(the blocking anomaly check counts it).

A flagged hub is then treated like any shared identifier: it is nobody's identifier (no
assignment; a previous member that held it lost it, as when dbt flags a phone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.lib.identity.graph import _IDX, _components, _Graph

CAP_FLAG = "component_cap"

#: Components listed in the run's metadata (largest first).
TOP_COMPONENTS = 10


@dataclass(frozen=True)
class CapResult:
    """The graph the rules run on (without flagged hubs) and what the guardrail did."""

    graph: _Graph
    labels: np.ndarray
    n_comp: int
    kept: np.ndarray | None  # per node of `graph`: its number in the input graph (None: same)
    hubs: np.ndarray  # flagged hub nodes (input numbering), in flagging order
    hub_degree: np.ndarray  # per flagged hub: distinct neighbours when flagged
    hub_component: np.ndarray  # per flagged hub: size of the input component it was in
    top: list[dict]  # the largest input components: size, hub, capped
    capped_components: int  # input components above the cap
    identifiers_in_capped: int  # identifiers of those components


class _Renumbered:
    """`_Strings` of a graph whose nodes are a subset of another's (`kept`: old numbers)."""

    def __init__(self, inner, kept: np.ndarray, n_old: int) -> None:
        self.inner, self.kept, self.n_old = inner, kept, n_old

    def node_strings(self, nodes: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return self.inner.node_strings(self.kept[nodes])

    def state_strings(self, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return self.inner.state_strings(rows)

    def mint_nodes(self, founding: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
        old = np.zeros(self.n_old, dtype=bool)
        old[self.kept[founding]] = True
        node, minted, bits = self.inner.mint_nodes(old)
        new_of_old = np.full(self.n_old, -1, dtype=np.int64)
        new_of_old[self.kept] = np.arange(len(self.kept))
        return new_of_old[node], minted, bits


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    keep = lo != hi
    code = np.unique(lo[keep] << 32 | hi[keep])
    return (code >> 32).astype(np.int64), (code & 0xFFFFFFFF).astype(np.int64)


def cap_components(g: _Graph, labels: np.ndarray, n_comp: int,
                   max_size: int | None) -> CapResult:
    """Split every component above `max_size` at its hubs (module docstring)."""
    from pipelines.lib.identity.minting import _key_rank

    size = np.bincount(labels, minlength=n_comp) if g.n else np.zeros(0, dtype=np.int64)
    big = size > max_size if max_size is not None else np.zeros(n_comp, dtype=bool)
    none = np.zeros(0, dtype=np.int64)
    if not big.any():
        return CapResult(g, labels, n_comp, None, none, none, none, _top(g, labels, size, big, {}),
                         0, 0)
    # the subgraph of the big components: its distinct edges, numbered locally
    nodes = np.flatnonzero(big[labels])
    local = np.full(g.n, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    inside = big[labels[g.edge_a]]
    a, b = _distinct_pairs(local[g.edge_a[inside]], local[g.edge_b[inside]])
    m = len(nodes)
    rank = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
    hub_local = np.flatnonzero(g.hub[nodes])
    if len(hub_local):
        rank[hub_local] = _key_rank(g, nodes[hub_local])
    flagged, degrees = [], []
    alive = np.ones(len(a), dtype=bool)
    while True:
        sub = coo_matrix((np.ones(int(alive.sum()), dtype=np.int8), (a[alive], b[alive])),
                         shape=(m, m)).tocsr()
        k, lab = connected_components(sub, directed=True, connection="weak")
        over = np.bincount(lab, minlength=k) > max_size
        degree = np.bincount(a[alive], minlength=m) + np.bincount(b[alive], minlength=m)
        cand = np.flatnonzero(over[lab] & g.hub[nodes] & (degree > 0))
        if not len(cand):
            break
        # per over-size part: highest degree, ties by the founding order
        order = np.lexsort((rank[cand], -degree[cand], lab[cand]))
        cand = cand[order]
        first = np.r_[True, lab[cand][1:] != lab[cand][:-1]]
        chosen = cand[first]
        flagged.extend(chosen.tolist())
        degrees.extend(degree[chosen].tolist())
        gone = np.zeros(m, dtype=bool)
        gone[chosen] = True
        alive &= ~(gone[a] | gone[b])
    hubs = nodes[np.array(flagged, dtype=np.int64)]
    hub_degree = np.array(degrees, dtype=np.int64)
    hub_component = size[labels[hubs]].astype(np.int64)
    first_hub = {}
    for h in hubs.tolist():
        first_hub.setdefault(int(labels[h]), h)
    top = _top(g, labels, size, big, first_hub)
    capped, in_capped = int(big.sum()), int(size[big].sum())
    if not len(hubs):
        return CapResult(g, labels, n_comp, None, none, none, none, top, capped, in_capped)
    g2, kept = _without(g, hubs)
    labels2, n2 = _components(g2.n, g2.edge_a, g2.edge_b)
    return CapResult(g2, labels2, n2, kept, hubs, hub_degree, hub_component, top, capped,
                     in_capped)


def _without(g: _Graph, drop: np.ndarray) -> tuple[_Graph, np.ndarray]:
    """The graph without the given nodes (their edges go; state rows on them: gone)."""
    keep = np.ones(g.n, dtype=bool)
    keep[drop] = False
    kept = np.flatnonzero(keep)
    new = np.full(g.n + 1, -1, dtype=_IDX)  # index -1 (a state row already gone) → -1
    new[kept] = np.arange(len(kept))
    ea, eb = new[g.edge_a], new[g.edge_b]
    ok = (ea >= 0) & (eb >= 0)
    keep_arrow = pa.array(keep)
    return _Graph(
        len(kept), g.node_first[kept], None if g.node_last is None else g.node_last[kept],
        g.node_day[kept], g.hub[kept], g.type_rank[kept], ea[ok], eb[ok], new[g.state_node],
        int(ok.sum()), _Renumbered(g.strings, kept, g.n),
        None if g.id_type is None else g.id_type.filter(keep_arrow),
        None if g.id_value is None else g.id_value.filter(keep_arrow), None), kept


def _top(g: _Graph, labels: np.ndarray, size: np.ndarray, big: np.ndarray,
         first_hub: dict[int, int]) -> list[dict]:
    """The largest input components: size, the first hub flagged in it (type:value; None if
    none), capped. Order: size desc, capped first, hub — independent of the node numbering
    (components of equal size without a hub are indistinguishable here)."""
    if not len(size):
        return []
    threshold = np.sort(size)[::-1][min(TOP_COMPONENTS, len(size)) - 1]
    comps = np.flatnonzero(size >= threshold)
    names = {}
    if first_hub:
        hub_nodes = np.array(sorted(first_hub.values()), dtype=np.int64)
        types, values = g.strings.node_strings(hub_nodes)
        names = dict(zip(hub_nodes.tolist(), (f"{t}:{v}" for t, v in
                                              zip(types.to_pylist(), values.to_pylist(),
                                                  strict=True)), strict=True))
    rows = [{"size": int(size[c]), "hub": names.get(first_hub.get(int(c), -1)),
             "capped": bool(big[c])} for c in comps]
    rows.sort(key=lambda r: (-r["size"], not r["capped"], r["hub"] or ""))
    return rows[:TOP_COMPONENTS]

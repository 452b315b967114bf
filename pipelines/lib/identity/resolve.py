"""OneID: one night's resolution, end to end (graph → state → minting → outputs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.lib.identity.cap import CAP_FLAG, CapResult, cap_components
from pipelines.lib.identity.graph import (
    _DAY_COLUMN,
    _EDGE_COLUMNS,
    _NODE_COLUMNS,
    TS,
    Tabular,
    _component_facts,
    _Components,
    _components,
    _Counting,
    _encode,
    _Graph,
    _Strings,
    _table,
    _timestamps,
)
from pipelines.lib.identity.minting import _final_ids
from pipelines.lib.identity.state import (
    _FOUNDER_COLUMN,
    _MEMBER_COLUMNS,
    _STATE_COLUMNS,
    _logs,
    _member_founders,
    _Plan,
    _plan,
    _Previous,
    _previous,
)

HISTOGRAM_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 4, "4"), (5, 9, "5-9"),
                     (10, 19, "10-19"), (20, 2**62, "20+"))


ASSIGNMENTS_SCHEMA = pa.schema([("id_type", pa.string()), ("id_value", pa.string()),
                                ("member_id", pa.string()), ("first_seen_at", TS),
                                ("last_seen_at", TS), ("is_founder", pa.bool_())])


MEMBERS_SCHEMA = pa.schema([("member_id", pa.string()), ("first_seen_at", TS),
                            ("n_identifiers", pa.int64())])


SHARED_SCHEMA = pa.schema([("id_type", pa.string()), ("id_value", pa.string()),
                           ("flag_kind", pa.string()), ("reason", pa.string()),
                           ("max_accounts_linked", pa.int64())])


@dataclass(frozen=True)
class IdentityResult:
    """What one night of OneID resolution produced (pyarrow tables, schemas above)."""

    assignments: pa.Table  # id_type, id_value, member_id, first_seen_at, last_seen_at, is_founder
    members: pa.Table  # member_id, first_seen_at, n_identifiers
    merges: pa.Table  # old_member_id, member_id, merged_at, reason
    splits: pa.Table  # member_id, new_member_id, split_at, reason
    stats: dict[str, Any] = field(default_factory=dict)
    #: hubs the component cap flagged shared (SHARED_SCHEMA; empty without a cap)
    shared: pa.Table = field(default_factory=SHARED_SCHEMA.empty_table)


@dataclass(frozen=True)
class _Core:
    """The integer result of one night: per component its member (index into `member_ids`),
    per node of `g` its component and whether it founds its member."""

    g: _Graph
    labels: np.ndarray
    comps: _Components
    member_ids: pa.Array  # per component
    is_founder: np.ndarray  # per node of g
    merges: pa.Table
    splits: pa.Table
    stats: dict[str, Any]
    cap: CapResult
    input_labels: np.ndarray  # per node of the input graph: its component before the cap


def _resolve_core(con: duckdb.DuckDBPyConnection, count: _Counting, g: _Graph,
                  prev: Callable[[_Graph], _Previous], *, as_of: date,
                  retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None,
                  max_component_size: int | None,
                  taken: Callable[[pa.Array], np.ndarray] | None = None) -> _Core:
    """Components (capped), plan, founders and ids on the integer graph (both front ends).

    `taken` (the compact path's incremental night, which runs on a part of the graph): which
    minted ids equal an id held outside that part (they clash, like the previous ids)."""
    input_labels, n_comp = _components(g.n, g.edge_a, g.edge_b)
    labels = input_labels
    cap = cap_components(g, labels, n_comp, max_component_size)
    g, labels, n_comp = cap.graph, cap.labels, cap.n_comp
    comps = _component_facts(g, labels, n_comp)
    previous = prev(g)
    plan = _plan(g, labels, comps, previous)
    founders = _member_founders(g, labels, comps, plan, previous)
    final, minted, revived = _final_ids(con, count, g, labels, founders, plan, previous.names,
                                        retired_ids, taken)
    member_ids = pa.concat_arrays([previous.names, minted]).take(pa.array(final))
    is_founder = np.zeros(g.n, dtype=bool)
    is_founder[founders] = True
    merges, splits = _logs(plan, previous.names, member_ids, as_of)
    stats = _stats(g, comps, plan, previous, merges, splits, revived)
    stats.update({
        "capped_components": cap.capped_components,
        "identifiers_in_capped_components": cap.identifiers_in_capped,
        "shared_hubs_flagged": len(cap.hubs),
        "largest_components": cap.top,
    })
    return _Core(g, labels, comps, member_ids, is_founder, merges, splits, stats, cap,
                 input_labels)


def _shared(strings: _Strings, cap: CapResult, max_size: int | None) -> pa.Table:
    """The hubs the cap flagged, as shared identifiers (SHARED_SCHEMA)."""
    if not len(cap.hubs):
        return SHARED_SCHEMA.empty_table()
    types, values = strings.node_strings(cap.hubs)
    reason = [f"in a component of {s} identifiers (cap {max_size}); links {d}"
              for s, d in zip(cap.hub_component.tolist(), cap.hub_degree.tolist(), strict=True)]
    return pa.table([types.cast(pa.string()), values.cast(pa.string()),
                     pa.array([CAP_FLAG] * len(cap.hubs), pa.string()), pa.array(reason),
                     pa.array(cap.hub_degree, pa.int64())], schema=SHARED_SCHEMA,
                    ).sort_by([("id_type", "ascending"), ("id_value", "ascending")])


def resolve(nodes: Tabular | None, edges: Tabular | None, previous_state: Tabular | None = None,
            previous_members: Tabular | None = None, *, as_of: date,
            retired_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
            max_component_size: int | None = None) -> IdentityResult:
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
    ``max_component_size`` (None: no cap) splits larger components at their hubs, which are
    left out of the output and listed in ``shared`` (`pipelines.lib.identity.cap`).
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
        core = _resolve_core(con, count, g, lambda g2: _previous(con, count, g2, state_t,
                                                                 members_t),
                             as_of=as_of, retired_ids=retired_ids,
                             max_component_size=max_component_size)
        shared = _shared(g.strings, core.cap, max_component_size)
    finally:
        con.close()
    assignments = _assignments(core.g, core.member_ids.take(pa.array(core.labels)),
                               core.is_founder)
    members = pa.table([core.member_ids, _timestamps(core.comps.first_seen),
                        pa.array(core.comps.size)], schema=MEMBERS_SCHEMA)
    return IdentityResult(assignments, members, core.merges, core.splits, core.stats, shared)


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

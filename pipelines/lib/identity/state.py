"""OneID, step 2: the previous night's state — which member each part of a component was,
which part founded it, and the decisions that follow (keep, merge, split); the merge and
split logs. Rules: the package docstring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.identity.graph import (
    _IDX,
    SEP,
    _Components,
    _Counting,
    _Graph,
    _join_rows,
    _nonempty,
    _take,
)
from pipelines.lib.identity.minting import _MAX_REMINTS, _founders, _key_rank, _mint

MERGE_REASON = "linked_to_older_member"


SPLIT_REASON = "link_removed"


MERGES_SCHEMA = pa.schema([("old_member_id", pa.string()), ("member_id", pa.string()),
                           ("merged_at", pa.date32()), ("reason", pa.string())])


SPLITS_SCHEMA = pa.schema([("member_id", pa.string()), ("new_member_id", pa.string()),
                           ("split_at", pa.date32()), ("reason", pa.string())])


_STATE_COLUMNS = {"id_type": pa.string(), "id_value": pa.string(), "member_id": pa.string()}


_FOUNDER_COLUMN = {"is_founder": pa.bool_()}  # optional on the previous state


_MEMBER_COLUMNS = {"member_id": pa.string()}


_MEMBER_JOIN = "SELECT p.row, b.id FROM probe p JOIN build b ON b.v = p.v"


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
    flag = state["is_founder"] if "is_founder" in state.column_names else None
    return _previous_from_codes(con, g, names, code, flag)


def _previous_from_codes(con: duckdb.DuckDBPyConnection, g: _Graph, names: pa.Array,
                         code: np.ndarray, flag: pa.ChunkedArray | pa.Array | None) -> _Previous:
    """`_Previous` from the member code of every state row (-1: none) and its ``is_founder``
    flag (None: not recorded); `names` are the member ids by code."""
    state_node = g.state_node
    founder = np.full(len(names), -1, dtype=_IDX)
    recorded = np.zeros(len(names), dtype=bool)
    if flag is not None and len(code):
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
        known = recorded | _derive_founders(con, g, code, names, founder, derive)
    node, member = (state_node, code) if usable.all() else (state_node[usable], code[usable])
    return _Previous(names, node, member, code, founder, known, int(derive.sum()))


def _derive_founders(con: duckdb.DuckDBPyConnection, g: _Graph, code: np.ndarray, names: pa.Array, founder: np.ndarray,
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
        types, values = g.strings.state_strings(rows)
        keys = pc.binary_join_element_wise(types.cast(values.type),
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

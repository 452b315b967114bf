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

Everything is vectorised (factorize, sparse graph, groupby); only id collisions of freshly
minted ids — which need a 60-bit hash collision or a split part founded by the same identifier
that founded its old member — are resolved in a bounded loop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

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


def _df(t) -> pd.DataFrame:
    if isinstance(t, pa.Table):
        return t.to_pandas()
    return t.copy() if t is not None else pd.DataFrame()


def mint_id(founding_key: str, salt: str = "") -> str:
    return "M" + hashlib.sha256((salt + founding_key).encode("utf-8")).hexdigest()[:15].upper()


def _keys(types: pd.Series, values: pd.Series) -> pd.Series:
    return types.astype(str) + SEP + values.astype(str)


def _all_nodes(nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """Nodes plus any edge endpoint missing from them (first/last seen from the edge)."""
    parts = [nodes[["id_type", "id_value", "first_seen_at", "last_seen_at"]]]
    if len(edges):
        for side in ("left", "right"):
            parts.append(edges.rename(columns={f"{side}_type": "id_type",
                                               f"{side}_value": "id_value"})
                         [["id_type", "id_value", "first_seen_at", "last_seen_at"]])
    allnodes = pd.concat(parts, ignore_index=True)
    allnodes = allnodes[allnodes["id_value"].notna() & (allnodes["id_value"].astype(str) != "")]
    return (allnodes.groupby(["id_type", "id_value"], as_index=False, sort=False)
            .agg(first_seen_at=("first_seen_at", "min"), last_seen_at=("last_seen_at", "max")))


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="weak")
    return labels


def resolve(nodes, edges, previous_state=None, previous_members=None, *,
            as_of: date) -> IdentityResult:
    """Assign a stable member id to every identifier (see the module docstring)."""
    nodes_df = _df(nodes)
    edges_df = _df(edges)
    prev = _df(previous_state)
    prev_members = _df(previous_members)

    allnodes = _all_nodes(nodes_df, edges_df)
    allnodes["key"] = _keys(allnodes["id_type"], allnodes["id_value"])
    allnodes = allnodes.sort_values("key", kind="stable").reset_index(drop=True)
    index = pd.Index(allnodes["key"])
    n = len(allnodes)
    if len(edges_df):
        left = index.get_indexer(_keys(edges_df["left_type"], edges_df["left_value"]))
        right = index.get_indexer(_keys(edges_df["right_type"], edges_df["right_value"]))
        ok = (left >= 0) & (right >= 0)
        left, right = left[ok], right[ok]
    else:
        left = right = np.zeros(0, dtype=np.int64)
    comp = _components(n, left, right) if n else np.zeros(0, dtype=np.int64)
    allnodes["comp"] = comp

    # founding identifier per component: earliest first seen, then key
    order = allnodes.sort_values(["comp", "first_seen_at", "key"], kind="stable",
                                 na_position="last")
    founders = order.drop_duplicates("comp")[["comp", "key", "first_seen_at"]].rename(
        columns={"key": "founding_key", "first_seen_at": "comp_first_seen"})
    sizes = allnodes.groupby("comp").size().rename("size")
    comps = founders.set_index("comp").join(sizes)

    # previous member of each node
    if len(prev):
        prev = prev.assign(key=_keys(prev["id_type"], prev["id_value"]))[["key", "member_id"]]
        allnodes = allnodes.merge(prev.rename(columns={"member_id": "prev_id"}), on="key",
                                  how="left")
    else:
        allnodes["prev_id"] = pd.Series([None] * n, dtype=object)

    member_first_seen = (prev_members.set_index("member_id")["first_seen_at"]
                         if len(prev_members) else pd.Series(dtype="datetime64[us]"))

    # -- splits: each previous member keeps one component
    pairs = (allnodes.dropna(subset=["prev_id"]).groupby(["prev_id", "comp"]).size()
             .rename("n").reset_index())
    pairs = pairs.join(comps[["founding_key", "comp_first_seen"]], on="comp")
    pairs = pairs.sort_values(["prev_id", "n", "comp_first_seen", "founding_key"],
                              ascending=[True, False, True, True], kind="stable")
    kept = pairs.drop_duplicates("prev_id")[["prev_id", "comp"]]
    split_parts = pairs.merge(kept, on=["prev_id", "comp"], how="left", indicator=True)
    split_parts = split_parts[split_parts["_merge"] == "left_only"][["prev_id", "comp"]]

    # -- merges: previous members keeping the same component; the first seen survives
    kept = kept.assign(prev_first_seen=kept["prev_id"].map(member_first_seen))
    kept = kept.sort_values(["comp", "prev_first_seen", "prev_id"], kind="stable",
                            na_position="last")
    survivors = kept.drop_duplicates("comp").set_index("comp")["prev_id"]
    retired = kept[~kept["prev_id"].isin(survivors.values)][["prev_id", "comp"]]

    comps["member_id"] = survivors.reindex(comps.index)
    fresh = comps["member_id"].isna()
    comps.loc[fresh, "member_id"] = comps.loc[fresh, "founding_key"].map(mint_id)
    _resolve_collisions(comps, fresh)

    allnodes["member_id"] = comps["member_id"].reindex(allnodes["comp"]).to_numpy()

    merges = pd.DataFrame({
        "old_member_id": retired["prev_id"].to_numpy(),
        "member_id": comps["member_id"].reindex(retired["comp"]).to_numpy(),
        "merged_at": as_of,
        "reason": "linked_to_older_member",
    })
    splits = pd.DataFrame({
        "member_id": split_parts["prev_id"].to_numpy(),
        "new_member_id": comps["member_id"].reindex(split_parts["comp"]).to_numpy(),
        "split_at": as_of,
        "reason": "link_removed",
    })
    merges = merges.sort_values(["old_member_id"]).reset_index(drop=True)
    splits = splits.sort_values(["member_id", "new_member_id"]).reset_index(drop=True)

    members = (allnodes.groupby("member_id", as_index=False)
               .agg(first_seen_at=("first_seen_at", "min"), n_identifiers=("key", "size"))
               .sort_values("member_id").reset_index(drop=True))
    assignments = (allnodes[["id_type", "id_value", "member_id", "first_seen_at",
                             "last_seen_at"]]
                   .sort_values(["id_type", "id_value"]).reset_index(drop=True))
    prev_ids = set(prev["member_id"]) if len(prev) else set()
    stats = {
        "members": len(members),
        "identifiers": int(n),
        "new_members": int(fresh.sum() - len(set(splits["new_member_id"]))),
        "merges": len(merges),
        "splits": len(splits),
        "kept_members": len(prev_ids & set(members["member_id"])),
        "largest_cluster_size": int(members["n_identifiers"].max()) if len(members) else 0,
        "cluster_size_histogram": _histogram(members["n_identifiers"].to_numpy()),
    }
    return IdentityResult(
        assignments=pa.Table.from_pandas(assignments, preserve_index=False),
        members=pa.Table.from_pandas(members, preserve_index=False),
        merges=pa.Table.from_pandas(merges, preserve_index=False,
                                    schema=_schema(["old_member_id", "member_id"], "merged_at")),
        splits=pa.Table.from_pandas(splits, preserve_index=False,
                                    schema=_schema(["member_id", "new_member_id"], "split_at")),
        stats=stats,
    )


def _schema(id_cols: list[str], date_col: str) -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in id_cols]
                     + [(date_col, pa.date32()), ("reason", pa.string())])


def _resolve_collisions(comps: pd.DataFrame, fresh: pd.Series) -> None:
    """Re-mint fresh ids that collide with a kept id or with each other (bounded, rare)."""
    for attempt in range(1, 8):
        dup = comps["member_id"].duplicated(keep=False)
        clash = dup & fresh
        if not clash.any():
            return
        # among colliding fresh ids keep the first (by founding key) only if no kept id clashes
        kept_ids = set(comps.loc[~fresh, "member_id"])
        ordered = comps[clash].sort_values("founding_key")
        for comp_id, row in ordered.iterrows():
            if row["member_id"] in kept_ids or (comps["member_id"] == row["member_id"]).sum() > 1:
                comps.at[comp_id, "member_id"] = mint_id(row["founding_key"], salt=f"{attempt}:")
                kept_ids.add(comps.at[comp_id, "member_id"])
    raise RuntimeError("could not mint unique member ids")


def _histogram(sizes: np.ndarray) -> dict[str, int]:
    return {label: int(((sizes >= lo) & (sizes <= hi)).sum()) for lo, hi, label in HISTOGRAM_BUCKETS}

"""`pipelines.lib.identity.resolve` on hand-built graphs: clustering, stable ids, merges, splits.

Nodes here carry no `first_dt` column, so the day of `first_seen_at` stands in for it (the
documented fallback); `tests/unit/test_oneid.py` checks nightly paths against full builds.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pytest

from pipelines.lib.identity import (
    ASSIGNMENTS_SCHEMA,
    MEMBERS_SCHEMA,
    MERGE_REASON,
    MERGES_SCHEMA,
    SPLIT_REASON,
    SPLITS_SCHEMA,
    IdentityResult,
    mint_id,
    mint_ids,
    resolve,
)

DAY = date(2024, 3, 1)
NODE_COLUMNS = ["id_type", "id_value", "first_seen_at", "last_seen_at"]
EDGE_COLUMNS = ["left_type", "left_value", "right_type", "right_value", "source",
                "first_seen_at", "last_seen_at"]


def ts(day: int) -> datetime:
    return datetime(2024, 1, day)


def node(id_type: str, value: str, day: int = 1) -> dict:
    return {"id_type": id_type, "id_value": value, "first_seen_at": ts(day),
            "last_seen_at": ts(day + 1)}


def edge(lt: str, lv: str, rt: str, rv: str, day: int = 1, source: str = "test") -> dict:
    return {"left_type": lt, "left_value": lv, "right_type": rt, "right_value": rv,
            "source": source, "first_seen_at": ts(day), "last_seen_at": ts(day)}


def flipped(e: dict) -> dict:
    return dict(e, left_type=e["right_type"], left_value=e["right_value"],
                right_type=e["left_type"], right_value=e["left_value"])


def run(nodes: list[dict], edges: list[dict], prev: IdentityResult | None = None,
        as_of: date = DAY, **kwargs) -> IdentityResult:
    n = pd.DataFrame(nodes, columns=NODE_COLUMNS)
    e = pd.DataFrame(edges, columns=EDGE_COLUMNS)
    if prev is None:
        return resolve(n, e, None, None, as_of=as_of, **kwargs)
    return resolve(n, e, prev.assignments, prev.members, as_of=as_of, **kwargs)


def founders(result: IdentityResult) -> dict[str, tuple[str, str]]:
    """member_id → its founding identifier (the assignment flagged is_founder)."""
    out: dict[str, tuple[str, str]] = {}
    for a in result.assignments.to_pylist():
        if a["is_founder"]:
            assert a["member_id"] not in out, "two founders"
            out[a["member_id"]] = (a["id_type"], a["id_value"])
    assert set(out) == set(result.members["member_id"].to_pylist()), "a member without founder"
    return out


def ids(result: IdentityResult) -> dict[tuple[str, str], str]:
    a = result.assignments
    return dict(zip(zip(a["id_type"].to_pylist(), a["id_value"].to_pylist(), strict=True),
                    a["member_id"].to_pylist(), strict=True))


def groups(result: IdentityResult) -> set[frozenset[tuple[str, str]]]:
    by_member: dict[str, set] = {}
    for key, member in ids(result).items():
        by_member.setdefault(member, set()).add(key)
    return {frozenset(g) for g in by_member.values()}


def canonical(t: pa.Table) -> pa.Table:
    return t.sort_by([(c, "ascending") for c in t.column_names])


# A person seen at the POS (card + phone), in the mini-program (openid → unionid + phone) and in
# WeCom (external_userid → unionid + a second phone), buying on Tmall with that second phone.
CHAIN_NODES = [node("pos_card", "C1", 1), node("mobile_sha256", "h1", 1),
               node("mp_openid", "o1", 2), node("wechat_unionid", "u1", 2),
               node("wecom_external_userid", "w1", 3), node("mobile_sha256", "h2", 3),
               node("tmall_ouid", "O1", 4)]
CHAIN_EDGES = [edge("pos_card", "C1", "mobile_sha256", "h1", source="pos"),
               edge("mp_openid", "o1", "mobile_sha256", "h1", source="mp"),
               edge("mp_openid", "o1", "wechat_unionid", "u1", source="mp"),
               edge("wecom_external_userid", "w1", "wechat_unionid", "u1", source="wecom"),
               edge("wecom_external_userid", "w1", "mobile_sha256", "h2", source="wecom"),
               edge("tmall_ouid", "O1", "mobile_sha256", "h2", source="tmall")]


# --- clustering ---------------------------------------------------------------------------------


def test_isolated_identifier_is_its_own_member_minted_from_itself():
    r = run([node("pos_card", "C9")], [])
    assert ids(r) == {("pos_card", "C9"): mint_id("pos_card\x1fC9")}
    assert r.members.to_pylist() == [{"member_id": mint_id("pos_card\x1fC9"),
                                      "first_seen_at": ts(1), "n_identifiers": 1}]
    assert founders(r) == {mint_id("pos_card\x1fC9"): ("pos_card", "C9")}
    assert r.stats["members"] == r.stats["new_members"] == 1


def test_chain_across_channels_is_one_member_founded_by_the_earliest_account():
    r = run(CHAIN_NODES, CHAIN_EDGES)
    assert len(set(ids(r).values())) == 1 and len(ids(r)) == 7
    # C1 and h1 both first delivered on day 1: accounts come before hubs (mobiles, unionids)
    assert set(ids(r).values()) == {mint_id("pos_card\x1fC1")}
    assert founders(r) == {mint_id("pos_card\x1fC1"): ("pos_card", "C1")}
    assert r.stats["largest_cluster_size"] == 7
    assert r.stats["cluster_size_histogram"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5-9": 1,
                                                 "10-19": 0, "20+": 0}


def test_an_account_founds_before_an_older_hub():
    # h was first delivered on day 1 (an earlier card's phone), O1 joins it on day 5
    r = run([node("mobile_sha256", "h", 1), node("tmall_ouid", "O1", 5)],
            [edge("tmall_ouid", "O1", "mobile_sha256", "h", day=5)])
    assert set(ids(r).values()) == {mint_id("tmall_ouid\x1fO1")}


def test_first_dt_not_first_seen_at_decides_the_founder():
    # C2's member row (delivered on day 8) says it registered on day 1; C1 was delivered on day 5
    nodes = pd.DataFrame([node("pos_card", "C1", 5), node("pos_card", "C2", 1)],
                         columns=NODE_COLUMNS).assign(first_dt=[date(2024, 1, 5),
                                                                date(2024, 1, 8)])
    r = resolve(nodes, pd.DataFrame([edge("pos_card", "C1", "mobile_sha256", "h", 5),
                                     edge("pos_card", "C2", "mobile_sha256", "h", 8)]),
                as_of=DAY)
    assert set(ids(r).values()) == {mint_id("pos_card\x1fC1")}
    assert r.members["first_seen_at"].to_pylist() == [ts(1)]  # still the earliest time seen


def test_an_edge_only_identifier_takes_the_first_dt_of_its_edges():
    e = pd.DataFrame([edge("tmall_ouid", "O1", "mobile_sha256", "h", 3),
                      edge("pos_card", "C1", "mobile_sha256", "h", 3)]).assign(
        first_dt=[date(2024, 1, 2), date(2024, 1, 9)])
    r = resolve(pd.DataFrame([node("pos_card", "C1", 4)]).assign(first_dt=date(2024, 1, 4)), e,
                as_of=DAY)
    assert set(ids(r).values()) == {mint_id("tmall_ouid\x1fO1")}  # day 2 < day 4


def test_founder_ties_on_time_and_type_fall_back_to_the_value():
    r = run([node("pos_card", "C2"), node("pos_card", "C1")],
            [edge("pos_card", "C2", "mobile_sha256", "h", day=5),
             edge("pos_card", "C1", "mobile_sha256", "h", day=5)])
    assert set(ids(r).values()) == {mint_id("pos_card\x1fC1")}


def test_duplicated_and_reversed_edges_change_nothing():
    plain = run(CHAIN_NODES, CHAIN_EDGES)
    noisy = run(CHAIN_NODES, CHAIN_EDGES + [flipped(e) for e in CHAIN_EDGES] + CHAIN_EDGES[:2])
    assert plain.assignments.equals(noisy.assignments)
    assert plain.stats["edges_used"] == 6 and noisy.stats["edges_used"] == 14


def test_empty_inputs_and_empty_edges():
    r = run([], [])
    assert r.assignments.num_rows == r.members.num_rows == 0
    assert r.merges.num_rows == r.splits.num_rows == 0
    assert r.stats["members"] == 0 and r.stats["largest_cluster_size"] == 0
    r = run([node("pos_card", "C1"), node("tmall_ouid", "O1")], [])
    assert len(set(ids(r).values())) == 2


def test_endpoint_missing_from_nodes_becomes_an_identifier_seen_when_its_edges_were():
    r = run([node("pos_card", "C1", 3)], [edge("pos_card", "C1", "mobile_sha256", "h", day=2),
                                          edge("tmall_ouid", "O1", "mobile_sha256", "h", day=6)])
    a = {(x["id_type"], x["id_value"]): x for x in r.assignments.to_pylist()}
    assert a[("mobile_sha256", "h")]["first_seen_at"] == ts(2)
    assert a[("mobile_sha256", "h")]["last_seen_at"] == ts(6)
    assert a[("pos_card", "C1")]["first_seen_at"] == ts(3)  # the node row wins over its edges
    assert len(set(ids(r).values())) == 1 and r.stats["identifiers"] == 3
    # rows: the node table's order first, then edge-only identifiers by (id_type, id_value)
    assert r.assignments["id_value"].to_pylist() == ["C1", "h", "O1"]


def test_same_value_under_two_types_is_two_identifiers():
    r = run([node("pos_card", "X"), node("tmall_ouid", "X")],
            [edge("pos_card", "X", "mobile_sha256", "h")])
    got = ids(r)
    assert got[("pos_card", "X")] == got[("mobile_sha256", "h")] != got[("tmall_ouid", "X")]


def test_null_and_empty_values_are_ignored():
    r = run([node("pos_card", "C1"), node("pos_card", ""), node("pos_card", None)],
            [edge("pos_card", "C1", "mobile_sha256", ""),
             edge("pos_card", "C1", "mobile_sha256", None)])
    assert set(ids(r)) == {("pos_card", "C1")}
    assert r.stats["edges_used"] == 0


def test_duplicated_node_rows_fold_into_one_identifier():
    r = run([node("pos_card", "C1", 5), node("pos_card", "C1", 2), node("tmall_ouid", "O1")],
            [edge("pos_card", "C1", "mobile_sha256", "h")])
    rows = [x for x in r.assignments.to_pylist() if x["id_value"] == "C1"]
    assert len(rows) == 1 and rows[0]["first_seen_at"] == ts(2)
    assert r.stats["identifiers"] == 3


# --- determinism --------------------------------------------------------------------------------


def test_same_input_twice_gives_identical_output():
    a, b = run(CHAIN_NODES, CHAIN_EDGES), run(CHAIN_NODES, CHAIN_EDGES)
    for name in ("assignments", "members", "merges", "splits"):
        assert getattr(a, name).equals(getattr(b, name))
    assert a.stats == b.stats


def test_ids_do_not_depend_on_row_order():
    nodes = [*CHAIN_NODES, node("pos_card", "C7", 9), node("pos_card", "C8", 9)]
    edges = [*CHAIN_EDGES, edge("pos_card", "C7", "mobile_sha256", "h7")]
    a = run(nodes, edges)
    b = run(nodes[::-1], [flipped(e) for e in edges[::-1]])
    assert ids(a) == ids(b)
    assert canonical(a.assignments).equals(canonical(b.assignments))
    assert canonical(a.members).equals(canonical(b.members))


def test_vectorised_minting_matches_the_scalar_reference():
    keys = ["pos_card\x1fC1", "mobile_sha256\x1f" + "ab" * 32, "mp_openid\x1f中文"]
    assert mint_ids(pa.array(keys)).to_pylist() == [mint_id(k) for k in keys]
    assert mint_ids(pa.array(keys), salt="1:").to_pylist() == [mint_id(k, "1:") for k in keys]
    assert mint_id("pos_card\x1fC1").startswith("M") and len(mint_id("x")) == 16


# --- stable ids across nights -------------------------------------------------------------------


def test_new_identifier_joining_keeps_the_id_and_a_new_component_mints():
    n1 = run([node("pos_card", "C1")], [edge("pos_card", "C1", "mobile_sha256", "h1")])
    old = ids(n1)[("pos_card", "C1")]
    n2 = run([node("pos_card", "C1"), node("tmall_ouid", "O1", 5), node("pos_card", "C2", 6)],
             [edge("pos_card", "C1", "mobile_sha256", "h1"),
              edge("tmall_ouid", "O1", "mobile_sha256", "h1", day=5)], prev=n1)
    got = ids(n2)
    assert got[("tmall_ouid", "O1")] == got[("pos_card", "C1")] == old
    assert got[("pos_card", "C2")] == mint_id("pos_card\x1fC2")
    assert n2.stats["new_members"] == 1 and n2.stats["kept_members"] == 1
    assert n2.merges.num_rows == n2.splits.num_rows == 0


def test_late_edge_merging_two_members_keeps_the_older_id_and_logs_the_merge():
    nodes = [node("pos_card", "C1", 1), node("mp_openid", "o1", 5)]
    edges = [edge("pos_card", "C1", "mobile_sha256", "h1"),
             edge("mp_openid", "o1", "wechat_unionid", "u1", day=5)]
    n1 = run(nodes, edges)
    older, younger = ids(n1)[("pos_card", "C1")], ids(n1)[("mp_openid", "o1")]
    assert older != younger
    n2 = run(nodes, [*edges, edge("mp_openid", "o1", "mobile_sha256", "h1", day=9)], prev=n1)
    assert set(ids(n2).values()) == {older}
    assert n2.merges.to_pylist() == [{"old_member_id": younger, "member_id": older,
                                      "merged_at": DAY, "reason": MERGE_REASON}]
    assert n2.members.to_pylist() == [{"member_id": older, "first_seen_at": ts(1),
                                       "n_identifiers": 4}]
    assert founders(n2) == {older: ("pos_card", "C1")}


def test_merge_tie_on_first_day_keeps_the_member_founded_by_the_smaller_identifier():
    nodes = [node("pos_card", "C2", 1), node("pos_card", "C1", 1)]
    n1 = run(nodes, [])
    c1, c2 = ids(n1)[("pos_card", "C1")], ids(n1)[("pos_card", "C2")]
    assert c1 > c2  # not the smaller id: the smaller founding identifier
    n2 = run(nodes, [edge("pos_card", "C1", "mobile_sha256", "h"),
                     edge("pos_card", "C2", "mobile_sha256", "h")], prev=n1)
    assert set(ids(n2).values()) == {c1}
    assert n2.merges["old_member_id"].to_pylist() == [c2]


def test_three_members_merging_all_retire_straight_into_the_survivor():
    nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 2), node("pos_card", "C3", 3)]
    n1 = run(nodes, [])
    first = ids(n1)[("pos_card", "C1")]
    n2 = run(nodes, [edge("pos_card", c, "mobile_sha256", "h") for c in ("C1", "C2", "C3")],
             prev=n1)
    assert set(n2.merges["member_id"].to_pylist()) == {first}
    assert set(n2.merges["old_member_id"].to_pylist()) == {ids(n1)[("pos_card", "C2")],
                                                           ids(n1)[("pos_card", "C3")]}


def test_removing_a_link_splits_the_part_holding_the_founder_keeps_the_id():
    nodes = [node("pos_card", "C1", 1), node("mp_openid", "o1", 2), node("mp_openid", "o2", 2)]
    edges = [edge("pos_card", "C1", "mobile_sha256", "h1"),
             edge("wecom_external_userid", "w9", "mobile_sha256", "h1"),
             edge("mp_openid", "o1", "wechat_unionid", "u1"),
             edge("mp_openid", "o2", "wechat_unionid", "u1"),
             edge("wecom_external_userid", "w9", "wechat_unionid", "u1")]
    n1 = run(nodes, edges)
    member = ids(n1)[("pos_card", "C1")]
    assert len(set(ids(n1).values())) == 1
    n2 = run(nodes, edges[:1] + edges[2:4], prev=n1)  # the WeCom contact was deleted
    got = ids(n2)
    # {C1, h1} holds the founder C1 and keeps the id although {o1, o2, u1} is larger; that
    # part is founded by o1 (day 2; o2 ties on day and type, o1 < o2); w9 is gone
    assert got[("pos_card", "C1")] == got[("mobile_sha256", "h1")] == member
    assert got[("mp_openid", "o1")] == got[("wechat_unionid", "u1")] == mint_id("mp_openid\x1fo1")
    assert ("wecom_external_userid", "w9") not in got
    assert n2.splits.to_pylist() == [{"member_id": member,
                                      "new_member_id": got[("mp_openid", "o1")],
                                      "split_at": DAY, "reason": SPLIT_REASON}]
    assert n2.stats["splits"] == n2.stats["split_off_members"] == 1
    assert n2.stats["new_members"] == 0


def test_the_founder_keeps_the_id_even_in_the_smaller_part_and_no_id_is_re_minted():
    # C1 founded the member (so its id is mint(C1)); after the split C1's part is the smaller
    nodes = [node("pos_card", "C1", 1), node("mp_openid", "o1", 2), node("mp_openid", "o2", 2)]
    edges = [edge("pos_card", "C1", "wechat_unionid", "u1"),
             edge("mp_openid", "o1", "wechat_unionid", "u1"),
             edge("mp_openid", "o2", "wechat_unionid", "u1")]
    n1 = run(nodes, edges)
    member = ids(n1)[("pos_card", "C1")]
    assert member == mint_id("pos_card\x1fC1")
    n2 = run(nodes, edges[1:], prev=n1)
    got = ids(n2)
    assert got[("pos_card", "C1")] == member
    assert got[("mp_openid", "o1")] == mint_id("mp_openid\x1fo1")
    assert ids(n2) == ids(run(nodes, edges[1:]))  # what a build of the last night gives


def test_equal_parts_split_deterministically_whatever_the_row_order():
    nodes = [node("pos_card", "C1", 3), node("pos_card", "C2", 2)]
    edges = [edge("pos_card", "C1", "mobile_sha256", "h"),
             edge("pos_card", "C2", "mobile_sha256", "h")]
    n1 = run(nodes, edges)
    member = ids(n1)[("pos_card", "C2")]  # C2 (day 2) founded it
    after = [edge("pos_card", "C1", "mobile_sha256", "h")]
    a, b = run(nodes, after, prev=n1), run(nodes[::-1], after, prev=n1)
    assert ids(a) == ids(b)
    # parts {C1, h} (2) vs {C2} (1): the founder's part keeps the id, however small
    assert ids(a)[("pos_card", "C2")] == member != ids(a)[("pos_card", "C1")]
    c = run(nodes, [], prev=n1)
    assert ids(c)[("pos_card", "C2")] == member
    assert c.splits["new_member_id"].to_pylist() == [ids(c)[("pos_card", "C1")]]


def test_split_and_merge_in_one_night():
    # night 1: member A = {C1, h1, C2, C3}, member B = {O1}
    nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 2), node("pos_card", "C3", 2),
             node("tmall_ouid", "O1", 5)]
    n1 = run(nodes, [edge("pos_card", "C1", "mobile_sha256", "h1"),
                     edge("pos_card", "C2", "mobile_sha256", "h1"),
                     edge("pos_card", "C3", "mobile_sha256", "h1")])
    a = ids(n1)[("pos_card", "C1")]
    b = ids(n1)[("tmall_ouid", "O1")]
    # night 2: C1 loses h1 and links to O1; A keeps {C2, C3, h1}; {C1} joins B's component
    n2 = run(nodes, [edge("pos_card", "C2", "mobile_sha256", "h1"),
                     edge("pos_card", "C3", "mobile_sha256", "h1"),
                     edge("pos_card", "C1", "mobile_sha256", "h5"),
                     edge("tmall_ouid", "O1", "mobile_sha256", "h5")], prev=n1)
    got = ids(n2)
    # A's founder C1 went with O1: that component keeps A's id and B (founded later) merges
    # into it; {C2, C3, h1} is split off A and minted from C2
    assert got[("pos_card", "C1")] == got[("tmall_ouid", "O1")] == a
    assert got[("pos_card", "C2")] == got[("pos_card", "C3")] == mint_id("pos_card\x1fC2")
    assert n2.merges.to_pylist() == [{"old_member_id": b, "member_id": a, "merged_at": DAY,
                                      "reason": MERGE_REASON}]
    assert n2.splits.to_pylist() == [{"member_id": a, "new_member_id": got[("pos_card", "C2")],
                                      "split_at": DAY, "reason": SPLIT_REASON}]


def test_a_split_undoing_a_merge_gives_the_retired_id_back():
    nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 2)]
    n1 = run(nodes, [])
    younger = ids(n1)[("pos_card", "C2")]
    n2 = run(nodes, [edge("pos_card", "C1", "mobile_sha256", "h"),
                     edge("pos_card", "C2", "mobile_sha256", "h")], prev=n1)
    assert n2.merges["old_member_id"].to_pylist() == [younger]
    # the link goes again: C2 splits off, founds a member again and gets its old id back —
    # the id a build of the last night mints; the split log says where it came from
    n3 = run(nodes, [edge("pos_card", "C1", "mobile_sha256", "h")], prev=n2,
             retired_ids=n2.merges["old_member_id"])
    assert ids(n3)[("pos_card", "C2")] == younger
    assert ids(n3) == ids(run(nodes, [edge("pos_card", "C1", "mobile_sha256", "h")]))
    assert n3.splits.to_pylist() == [{"member_id": ids(n1)[("pos_card", "C1")],
                                      "new_member_id": younger, "split_at": DAY,
                                      "reason": SPLIT_REASON}]
    assert n3.stats["revived_ids"] == 1


def test_a_minted_id_equal_to_a_live_id_is_re_minted():
    # a member whose founder vanished keeps mint(C1); C1 comes back alone: mint(C1) is taken
    n1 = run([node("pos_card", "C1", 1), node("pos_card", "C2", 2)],
             [edge("pos_card", "C1", "mobile_sha256", "h"),
              edge("pos_card", "C2", "mobile_sha256", "h")])
    kept = ids(n1)[("pos_card", "C1")]
    n2 = run([node("pos_card", "C2", 2)], [edge("pos_card", "C2", "mobile_sha256", "h")],
             prev=n1)
    assert set(ids(n2).values()) == {kept} and n2.stats["founders_gone"] == 1
    assert founders(n2) == {kept: ("pos_card", "C2")}  # re-founded
    n3 = run([node("pos_card", "C1", 1), node("pos_card", "C2", 2)],
             [edge("pos_card", "C2", "mobile_sha256", "h")], prev=n2)
    assert ids(n3)[("pos_card", "C2")] == kept
    assert ids(n3)[("pos_card", "C1")] == mint_id("pos_card\x1fC1", salt="1:")


def test_incremental_nights_equal_a_full_rebuild_for_unchanged_members():
    first_nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 2)]
    first_edges = [edge("pos_card", "C1", "mobile_sha256", "h1")]
    all_nodes = [*first_nodes, node("tmall_ouid", "O1", 10), node("pos_card", "C3", 11)]
    all_edges = [*first_edges, edge("tmall_ouid", "O1", "mobile_sha256", "h1", day=10),
                 edge("pos_card", "C3", "wechat_unionid", "u3", day=11)]
    nightly = run(all_nodes, all_edges, prev=run(first_nodes, first_edges))
    full = run(all_nodes, all_edges)
    assert ids(nightly) == ids(full)
    assert canonical(nightly.members).equals(canonical(full.members))


def test_founders_of_a_state_written_before_them_are_derived():
    """A state without `is_founder` (written by an older Siyu): the founder is the identifier
    whose mint is the member id — unsalted or salted — else the smallest one."""
    salted = mint_id("pos_card\x1fC2", salt="1:")
    state = pd.DataFrame({
        "id_type": ["pos_card", "mobile_sha256", "pos_card", "tmall_ouid", "pos_card",
                    "tmall_ouid"],
        "id_value": ["C1", "h", "C2", "O2", "C3", "O3"],
        "member_id": [mint_id("mobile_sha256\x1fh"), mint_id("mobile_sha256\x1fh"), salted,
                      salted, "MOLD", "MOLD"]})
    nodes = [node("pos_card", "C1", 1), node("mobile_sha256", "h", 1), node("pos_card", "C2", 3),
             node("tmall_ouid", "O2", 1), node("pos_card", "C3", 4), node("tmall_ouid", "O3", 5)]
    # tonight C1 and h part, and so do C2 and O2; C3 and O3 stay one member
    edges = [edge("pos_card", "C3", "mobile_sha256", "h3"),
             edge("tmall_ouid", "O3", "mobile_sha256", "h3")]
    r = resolve(pd.DataFrame(nodes), pd.DataFrame(edges), state, None, as_of=DAY)
    got = ids(r)
    # the hub founded the first member under the old rule and keeps its id; C1 is split off
    assert got[("mobile_sha256", "h")] == mint_id("mobile_sha256\x1fh")
    assert got[("pos_card", "C1")] == mint_id("pos_card\x1fC1")
    # the salted id was minted from C2: C2 keeps it although O2 was delivered first
    assert got[("pos_card", "C2")] == salted
    assert got[("tmall_ouid", "O2")] == mint_id("tmall_ouid\x1fO2")
    # no identifier mints MOLD: its smallest identifier (C3, day 4) founds it from now on
    assert got[("pos_card", "C3")] == got[("tmall_ouid", "O3")] == "MOLD"
    assert founders(r)["MOLD"] == ("pos_card", "C3")
    assert founders(r)[salted] == ("pos_card", "C2")
    assert r.stats["founders_derived"] == 3 and r.stats["founders_gone"] == 0


def test_previous_member_missing_from_members_table_and_vanished_members():
    n1 = run([node("pos_card", "C1"), node("pos_card", "C2")], [])
    state = n1.assignments.select(["id_type", "id_value", "member_id"])
    r = resolve(pd.DataFrame([node("pos_card", "C1")]), None, state, None, as_of=DAY)
    assert ids(r) == {("pos_card", "C1"): ids(n1)[("pos_card", "C1")]}
    assert r.stats["vanished_members"] == 1 and r.stats["kept_members"] == 1


# --- interface ----------------------------------------------------------------------------------


def test_output_schemas_and_stats_keys():
    r = run(CHAIN_NODES, CHAIN_EDGES)
    assert r.assignments.schema == ASSIGNMENTS_SCHEMA
    assert r.members.schema == MEMBERS_SCHEMA
    assert r.merges.schema == MERGES_SCHEMA and r.splits.schema == SPLITS_SCHEMA
    assert {"members", "identifiers", "new_members", "merges", "splits", "largest_cluster_size",
            "cluster_size_histogram", "kept_members", "edges_used", "revived_ids",
            "founders_gone", "founders_derived"} <= set(r.stats)


def test_accepts_arrow_in_any_string_flavour():
    n = pd.DataFrame(CHAIN_NODES, columns=NODE_COLUMNS)
    e = pd.DataFrame(CHAIN_EDGES, columns=EDGE_COLUMNS)
    plain = resolve(n, e, as_of=DAY)
    nt = pa.Table.from_pandas(n, preserve_index=False)
    et = pa.Table.from_pandas(e, preserve_index=False)
    large = pa.schema([f.with_type(pa.large_string()) if f.type == pa.string() else f
                       for f in nt.schema])
    encoded = et.set_column(0, "left_type", et["left_type"].dictionary_encode())
    wide = resolve(nt.cast(large), encoded, as_of=DAY)
    assert ids(plain) == ids(wide)


def test_missing_columns_are_reported():
    with pytest.raises(ValueError, match="missing columns"):
        resolve(pd.DataFrame({"id_type": ["pos_card"]}), None, as_of=DAY)


def test_store_feeds_retired_ids_of_earlier_nights_only():
    """Regression: the identity asset passes identity.merges to resolve() as retired_ids."""
    import duckdb

    from pipelines.lib.identity import store as identity_store
    from pipelines.lib.platform.engines import DuckDBEngine

    nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 2)]
    n1 = run(nodes, [])
    n2 = run(nodes, [edge("pos_card", "C1", "mobile_sha256", "h"),
                     edge("pos_card", "C2", "mobile_sha256", "h")], prev=n1)
    con = DuckDBEngine(duckdb.connect())
    night = date(2024, 3, 2)
    identity_store.write_state(con, night, n2.assignments, n2.members, n2.merges, n2.splits)
    assert identity_store.retired_ids(con, date(2024, 3, 3)).to_pylist() == \
        n2.merges["old_member_id"].to_pylist()
    # re-running the night that logged the merge must not treat its own merge as history
    assert identity_store.retired_ids(con, night).to_pylist() == []

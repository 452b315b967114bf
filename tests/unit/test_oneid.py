"""OneID resolution: every case the identity issue lists, on hand-built graphs."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pyarrow as pa

from pipelines.lib.identity import mint_id, resolve

T0 = datetime(2024, 1, 1)


def node(t, v, day=1):
    return {"id_type": t, "id_value": v, "first_seen_at": T0.replace(day=day),
            "last_seen_at": T0.replace(day=day)}


def edge(lt, lv, rt, rv, day=1, source="test"):
    return {"left_type": lt, "left_value": lv, "right_type": rt, "right_value": rv,
            "source": source, "first_seen_at": T0.replace(day=day),
            "last_seen_at": T0.replace(day=day)}


def frames(nodes, edges):
    n = pd.DataFrame(nodes, columns=["id_type", "id_value", "first_seen_at", "last_seen_at"])
    e = pd.DataFrame(edges, columns=["left_type", "left_value", "right_type", "right_value",
                                     "source", "first_seen_at", "last_seen_at"])
    return n, e


def ids(result) -> dict[tuple[str, str], str]:
    a = result.assignments.to_pandas()
    return {(r.id_type, r.id_value): r.member_id for r in a.itertuples()}


def night(nodes, edges, prev=None, day=date(2024, 1, 31)):
    n, e = frames(nodes, edges)
    if prev is None:
        return resolve(n, e, None, None, as_of=day)
    return resolve(n, e, prev.assignments.select(["id_type", "id_value", "member_id"]),
                   prev.members.select(["member_id", "first_seen_at"]), as_of=day)


CHAIN_NODES = [node("pos_card", "C1", 1), node("mobile_sha256", "h1", 1),
               node("wechat_unionid", "u1", 2), node("mobile_sha256", "h2", 3),
               node("tmall_ouid", "O1", 4)]
CHAIN_EDGES = [edge("pos_card", "C1", "mobile_sha256", "h1"),
               edge("mp_openid", "o1", "mobile_sha256", "h1"),
               edge("mp_openid", "o1", "wechat_unionid", "u1"),
               edge("wecom_external_userid", "w1", "wechat_unionid", "u1"),
               edge("wecom_external_userid", "w1", "mobile_sha256", "h2"),
               edge("tmall_ouid", "O1", "mobile_sha256", "h2")]


def test_isolated_identifier_is_its_own_member():
    r = night([node("pos_card", "C9")], [])
    assert ids(r) == {("pos_card", "C9"): mint_id("pos_card\x1fC9")}
    assert r.stats["members"] == 1 and r.stats["largest_cluster_size"] == 1


def test_four_channel_chain_is_one_member():
    r = night(CHAIN_NODES, CHAIN_EDGES)
    assert len(set(ids(r).values())) == 1
    assert len(ids(r)) == 7  # edge endpoints missing from nodes are added (o1, w1)
    # the founding identifier is the earliest seen, ties broken by type then value
    assert set(ids(r).values()) == {mint_id("mobile_sha256\x1fh1")}


def test_same_input_twice_and_any_row_order_gives_identical_ids():
    a = night(CHAIN_NODES, CHAIN_EDGES)
    b = night(list(reversed(CHAIN_NODES)),
              [dict(e, left_type=e["right_type"], left_value=e["right_value"],
                    right_type=e["left_type"], right_value=e["left_value"])
               for e in reversed(CHAIN_EDGES)] + CHAIN_EDGES)  # reversed + duplicated
    assert ids(a) == ids(b)
    # row order of the output is not part of the contract; its content is
    keys = [("id_type", "ascending"), ("id_value", "ascending")]
    assert a.assignments.sort_by(keys).equals(b.assignments.sort_by(keys))


def test_new_identifier_joining_keeps_the_member_id_and_new_component_mints():
    n1 = night([node("pos_card", "C1")], [edge("pos_card", "C1", "mobile_sha256", "h1")])
    old = ids(n1)[("pos_card", "C1")]
    n2 = night([node("pos_card", "C1"), node("tmall_ouid", "O1", 5), node("pos_card", "C2", 6)],
               [edge("pos_card", "C1", "mobile_sha256", "h1"),
                edge("tmall_ouid", "O1", "mobile_sha256", "h1", day=5)], prev=n1)
    got = ids(n2)
    assert got[("tmall_ouid", "O1")] == old
    assert got[("pos_card", "C2")] not in (old,)
    assert n2.stats["new_members"] == 1 and n2.stats["merges"] == 0


def test_late_edge_merging_two_members_keeps_the_older_id_and_logs_it():
    nodes = [node("pos_card", "C1", 1), node("mp_openid", "o1", 5)]
    n1 = night(nodes, [edge("pos_card", "C1", "mobile_sha256", "h1"),
                       edge("mp_openid", "o1", "wechat_unionid", "u1", day=5)])
    a, b = ids(n1)[("pos_card", "C1")], ids(n1)[("mp_openid", "o1")]
    assert a != b
    n2 = night(nodes, [edge("pos_card", "C1", "mobile_sha256", "h1"),
                       edge("mp_openid", "o1", "wechat_unionid", "u1", day=5),
                       edge("mp_openid", "o1", "mobile_sha256", "h1", day=9)], prev=n1)
    assert set(ids(n2).values()) == {a}
    merges = n2.merges.to_pylist()
    assert merges == [{"old_member_id": b, "member_id": a, "merged_at": date(2024, 1, 31),
                       "reason": "linked_to_older_member"}]


def test_merge_tie_on_first_seen_is_broken_by_member_id():
    nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 1)]
    n1 = night(nodes, [])
    a, b = sorted(set(ids(n1).values()))
    n2 = night(nodes, [edge("pos_card", "C1", "mobile_sha256", "h"),
                       edge("pos_card", "C2", "mobile_sha256", "h")], prev=n1)
    assert set(ids(n2).values()) == {a}
    assert n2.merges.column("old_member_id").to_pylist() == [b]


def test_unlinking_splits_largest_part_keeps_the_id_and_logs_the_split():
    nodes = [node("pos_card", "C1", 1), node("mp_openid", "o1", 2), node("mp_openid", "o2", 2)]
    edges = [edge("pos_card", "C1", "mobile_sha256", "h1"),
             edge("wecom_external_userid", "w9", "mobile_sha256", "h1"),
             edge("mp_openid", "o1", "wechat_unionid", "u1"),
             edge("mp_openid", "o2", "wechat_unionid", "u1"),
             edge("wecom_external_userid", "w9", "wechat_unionid", "u1")]
    n1 = night(nodes, edges)
    member = ids(n1)[("pos_card", "C1")]
    assert len(set(ids(n1).values())) == 1
    # the WeCom contact is deleted: its two edges disappear
    n2 = night(nodes, edges[:1] + edges[2:4], prev=n1)
    got = ids(n2)
    # o1, o2, u1 (3 identifiers) is the larger part and keeps the id; C1 + h1 split off
    assert got[("mp_openid", "o1")] == member
    assert got[("pos_card", "C1")] != member
    assert n2.splits.to_pylist() == [{"member_id": member, "new_member_id": got[("pos_card", "C1")],
                                      "split_at": date(2024, 1, 31), "reason": "link_removed"}]


def test_incremental_nights_equal_a_full_rebuild_for_unchanged_members():
    first_nodes = [node("pos_card", "C1", 1), node("pos_card", "C2", 2)]
    first_edges = [edge("pos_card", "C1", "mobile_sha256", "h1")]
    all_nodes = [*first_nodes, node("tmall_ouid", "O1", 10), node("pos_card", "C3", 11)]
    all_edges = [*first_edges, edge("tmall_ouid", "O1", "mobile_sha256", "h1", day=10)]
    nightly = night(all_nodes, all_edges, prev=night(first_nodes, first_edges))
    full = night(all_nodes, all_edges)
    assert ids(nightly) == ids(full)


def test_empty_inputs():
    r = night([], [])
    assert r.assignments.num_rows == 0 and r.stats["members"] == 0
    assert r.merges.num_rows == 0 and r.splits.num_rows == 0


def test_accepts_arrow_tables():
    n, e = frames(CHAIN_NODES, CHAIN_EDGES)
    r = resolve(pa.Table.from_pandas(n), pa.Table.from_pandas(e), None, None, as_of=date(2024, 2, 1))
    assert r.stats["members"] == 1

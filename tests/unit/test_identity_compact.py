"""Compact identity (pipelines/lib/identity/compact.py) and the component cap (cap.py).

The compact path (dictionary keys in SQL, rules on integers, state versioned in SQL) must give
what `resolve` (Arrow in, Arrow out: the oracle) gives on the same data, night after night —
ids, members, merges, splits and the versioned state — on hypothesis histories and on the
benchmark's generated graphs; and the cap splits an over-size component at its hub.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from pipelines.lib.identity import resolve
from pipelines.lib.identity import store as identity_store
from pipelines.lib.identity.compact import (
    ASSIGNMENTS_REL,
    KEYS,
    MEMBERS_REL,
    resolve_in_warehouse,
)
from pipelines.lib.platform.engines import DuckDBEngine
from tests.unit.test_oneid import D0, edge, frames, histories, node

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_identity import second_night, synth

STATE = pa.schema([("id_type", pa.string()), ("id_value", pa.string()),
                   ("member_id", pa.string()), ("is_founder", pa.bool_())])


def _rows(t: pa.Table) -> list[tuple]:
    return sorted(zip(*[t[c].to_pylist() for c in t.column_names], strict=True), key=repr)


def _register(con, name: str, t: pa.Table | None, schema: pa.Schema | None = None) -> str:
    if t is None:
        t = schema.empty_table()
    con.register(name, t)
    return name


class Nights:
    """Both paths side by side: `resolve` with Arrow state, and the compact path on one
    DuckDB connection (its dictionary kept from night to night), each writing its state
    through `store.write_state` into its own warehouse."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = cap
        self.arrow_con, self.compact_con = duckdb.connect(), duckdb.connect()
        self.arrow_engine = DuckDBEngine(self.arrow_con)
        self.compact_engine = DuckDBEngine(self.compact_con)
        self.prev = None
        self.retired: list[str] = []

    def night(self, nodes: pa.Table, edges: pa.Table | None, as_of: date):
        prev = self.prev
        oracle = resolve(nodes, edges, None if prev is None else prev.assignments,
                         None if prev is None else prev.members, as_of=as_of,
                         retired_ids=self.retired, max_component_size=self.cap)
        identity_store.write_state(self.arrow_engine, as_of, oracle.assignments,
                                   oracle.members, oracle.merges, oracle.splits, oracle.shared)
        con = self.compact_con
        state_sql, members_sql = identity_store.previous_state_sql(self.compact_engine, as_of)
        edges_t = edges if edges is not None else pa.table(
            {c: pa.array([], t) for c, t in (("left_type", pa.string()),
                                              ("left_value", pa.string()),
                                              ("right_type", pa.string()),
                                              ("right_value", pa.string()),
                                              ("first_seen_at", pa.timestamp("us")),
                                              ("last_seen_at", pa.timestamp("us")))})
        con.register("tonight_nodes", nodes)
        con.register("tonight_edges", edges_t)
        got = resolve_in_warehouse(con, as_of=as_of, nodes="tonight_nodes",
                                   edges="tonight_edges", state=state_sql, members=members_sql,
                                   retired_ids=self.retired, max_component_size=self.cap)
        assignments = con.sql(f"SELECT id_type, id_value, member_id, first_seen_at, "
                              f"last_seen_at, is_founder FROM {ASSIGNMENTS_REL}").to_arrow_table()
        members = con.sql(f"SELECT member_id, first_seen_at, n_identifiers "
                          f"FROM {MEMBERS_REL}").to_arrow_table()
        assert _rows(assignments) == _rows(oracle.assignments.cast(assignments.schema))
        assert _rows(members) == _rows(oracle.members.cast(members.schema))
        assert got.merges.equals(oracle.merges) and got.splits.equals(oracle.splits)
        assert got.shared.equals(oracle.shared)
        assert got.stats == oracle.stats
        identity_store.write_state(self.compact_engine, as_of, ASSIGNMENTS_REL, MEMBERS_REL,
                                   got.merges, got.splits, got.shared)
        for table in ("assignment_history", "member_history", "member_id_assignments",
                      "members", "merges", "splits", "shared_hubs", "snapshot_days"):
            sql = f"SELECT * FROM identity.{table}"
            a = self.arrow_con.sql(sql).to_arrow_table()
            b = self.compact_con.sql(sql).to_arrow_table()
            assert _rows(a) == _rows(b.cast(a.schema)), table
        self.prev = oracle
        self.retired += oracle.merges["old_member_id"].to_pylist()
        return oracle


def _arrow(nodes, edges) -> tuple[pa.Table, pa.Table | None]:
    n, e = frames(nodes, edges)
    return (pa.Table.from_pandas(n, preserve_index=False),
            None if e is None else pa.Table.from_pandas(e, preserve_index=False))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_compact_nights_equal_resolve_nights_on_any_history(history):
    both = Nights()
    for i, (nodes, edges) in enumerate(history):
        both.night(*_arrow(nodes, edges), D0 + timedelta(days=i))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_compact_nights_equal_resolve_nights_with_a_small_cap(history):
    both = Nights(cap=3)  # small enough that the random hubs get capped
    for i, (nodes, edges) in enumerate(history):
        both.night(*_arrow(nodes, edges), D0 + timedelta(days=i))


@pytest.mark.parametrize("cap", [None, 15])
def test_compact_equals_resolve_on_generated_graphs(cap):
    """The benchmark's graph (components of 1–6, chains of 10–40, repeats, shuffled), and its
    second night (new identifiers, merges, splits); cap 15 splits the chains with hubs."""
    nodes, edges = synth(20_000, seed=5)
    nodes2, edges2 = second_night(nodes, edges, seed=6)
    both = Nights(cap)
    first = both.night(nodes, edges, date(2025, 1, 1))
    second = both.night(nodes2, edges2, date(2025, 1, 2))
    assert second.stats["merges"] > 0 and second.stats["splits"] > 0
    if cap is not None:
        assert first.stats["shared_hubs_flagged"] > 0


def test_dictionary_keys_are_stable_and_appended():
    both = Nights()
    n1 = [node("pos_card", "C2", 1), node("pos_card", "C1", 1), node("mobile_sha256", "h", 1)]
    e1 = [edge("pos_card", "C1", "mobile_sha256", "h")]
    both.night(*_arrow(n1, e1), D0)
    keys1 = dict(((t, v), k) for t, v, k in both.compact_con.sql(
        f"SELECT id_type, id_value, key FROM {KEYS}").fetchall())
    # first night: keys 0, 1, 2 for the three identifiers, in (id_type, id_value) order
    assert keys1 == {("mobile_sha256", "h"): 0, ("pos_card", "C1"): 1, ("pos_card", "C2"): 2}
    n2 = [*n1[1:], node("pos_card", "C0", 2)]  # C2 gone, C0 new
    both.night(*_arrow(n2, e1), D0 + timedelta(days=1))
    keys2 = dict(((t, v), k) for t, v, k in both.compact_con.sql(
        f"SELECT id_type, id_value, key FROM {KEYS}").fetchall())
    assert keys2 == {**keys1, ("pos_card", "C0"): 3}  # old keys kept, the new one appended


def test_dictionary_keys_follow_the_identifiers_not_the_order_they_arrive_in():
    """Regression: the keys were numbered in scan order (`row_number() OVER ()`), so the same
    zone could give other keys. 3,000 identifiers arriving shuffled get keys in (id_type,
    id_value) order."""
    import random

    cards = [node("pos_card", f"C{i:05d}", 1) for i in range(2000)]
    phones = [node("mobile_sha256", f"h{i:05d}", 1) for i in range(1000)]
    nodes = cards + phones
    random.Random(7).shuffle(nodes)
    links = [edge("pos_card", f"C{i:05d}", "mobile_sha256", f"h{i:05d}") for i in range(1000)]
    both = Nights()
    both.night(*_arrow(nodes, links), D0)
    got = both.compact_con.sql(f"SELECT id_type, id_value FROM {KEYS} ORDER BY key").fetchall()
    assert got == sorted((n["id_type"], n["id_value"]) for n in nodes)


# --- the component cap ---------------------------------------------------------------------------


def _counter_phone(cards: int) -> tuple[list, list]:
    """One store counter phone typed onto `cards` POS cards (card i first seen on day 1)."""
    nodes = [node("pos_card", f"C{i:02d}", 1) for i in range(cards)]
    nodes.append(node("mobile_sha256", "counter", 1))
    edges = [edge("pos_card", f"C{i:02d}", "mobile_sha256", "counter") for i in range(cards)]
    return nodes, edges


def test_a_counter_phone_on_60_cards_is_split_at_the_hub_and_flagged():
    nodes, edges = _counter_phone(60)  # one component of 60 cards + 1 phone = 61 > 50
    r = resolve(*frames(nodes, edges), as_of=D0, max_component_size=50)
    # the phone is flagged, with its reason; it belongs to nobody
    assert r.shared.to_pylist() == [{
        "id_type": "mobile_sha256", "id_value": "counter", "flag_kind": "component_cap",
        "reason": "in a component of 61 identifiers (cap 50); links 60",
        "max_accounts_linked": 60}]
    assert ("mobile_sha256", "counter") not in {
        (a["id_type"], a["id_value"]) for a in r.assignments.to_pylist()}
    # the 60 cards are 60 members of one identifier each, founded by themselves
    assert r.stats["members"] == 60 and r.members["n_identifiers"].to_pylist() == [1] * 60
    assert all(r.assignments["is_founder"].to_pylist())
    assert r.stats["capped_components"] == 1
    assert r.stats["identifiers_in_capped_components"] == 61
    assert r.stats["largest_components"][0] == {
        "size": 61, "hub": "mobile_sha256:counter", "capped": True}
    # the compact path does the same
    Nights(cap=50).night(*_arrow(nodes, edges), D0)


def test_a_component_of_exactly_the_cap_is_glued():
    nodes, edges = _counter_phone(49)  # 49 cards + 1 phone = 50 identifiers: not above 50
    r = resolve(*frames(nodes, edges), as_of=D0, max_component_size=50)
    assert r.shared.num_rows == 0
    assert r.stats["members"] == 1 and r.members["n_identifiers"].to_pylist() == [50]
    assert r.stats["largest_components"] == [{"size": 50, "hub": None, "capped": False}]


def test_the_cap_splits_until_no_part_is_above_it_and_the_choice_is_deterministic():
    """Cards C0..C8, cap 4. h4 links C0–C3 (degree 4), h3 links C3–C5 (3), u3 links C5–C8
    (4): one component of 9 cards + 3 hubs = 12 > 4.

    Round 1: h4 and u3 tie on degree 4; founding order (both hubs, same day, type
    mobile_sha256 < wechat_unionid) → h4 out. Parts: C0, C1, C2 alone; {C3, C4, C5, h3, u3,
    C6, C7, C8} = 8 > 4. Round 2 in that part: u3 degree 4 > h3 degree 3 → u3 out. Parts:
    {C3, C4, C5, h3} = 4 (not above the cap), C6, C7, C8 alone.
    """
    cards = [f"C{i}" for i in range(9)]
    nodes = [node("pos_card", c, 1) for c in cards]
    nodes += [node("mobile_sha256", "h4", 1), node("mobile_sha256", "h3", 1),
              node("wechat_unionid", "u3", 1)]
    edges = [edge("pos_card", c, "mobile_sha256", "h4") for c in cards[0:4]]
    edges += [edge("pos_card", c, "mobile_sha256", "h3") for c in cards[3:6]]
    edges += [edge("pos_card", c, "wechat_unionid", "u3") for c in cards[5:9]]
    r = resolve(*frames(nodes, edges), as_of=D0, max_component_size=4)
    assert r.shared["id_value"].to_pylist() == ["h4", "u3"]
    assert r.shared["reason"].to_pylist() == [
        "in a component of 12 identifiers (cap 4); links 4",
        "in a component of 12 identifiers (cap 4); links 4"]
    sizes = sorted(r.members["n_identifiers"].to_pylist())
    assert sizes == [1, 1, 1, 1, 1, 1, 4]  # C0, C1, C2, C6, C7, C8 alone; C3–C5 with h3
    # any row order: the same hubs and ids
    n, e = frames(nodes, edges)
    again = resolve(n.iloc[::-1], e.iloc[::-1], as_of=D0, max_component_size=4)
    assert again.shared.equals(r.shared)
    assert _rows(again.assignments) == _rows(r.assignments)


def test_forget_removes_a_persons_rows_from_the_dictionary():
    from pipelines.lib.privacy.forget import forget

    both = Nights()
    nodes = [node("pos_card", "C1", 1), node("mobile_sha256", "h1", 1),
             node("pos_card", "C2", 1)]
    both.night(*_arrow(nodes, [edge("pos_card", "C1", "mobile_sha256", "h1")]), D0)
    con = both.compact_con
    member = con.sql("SELECT member_id FROM identity.member_id_assignments "
                     "WHERE id_value = 'C1'").fetchall()[0][0]
    forget(con, member_id=member, declarations={})
    # C1 and h1 (the person) leave the dictionary; C2 (someone else) stays
    assert con.sql(f"SELECT id_value FROM {KEYS} ORDER BY id_value").fetchall() == [("C2",)]

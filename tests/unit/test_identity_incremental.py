"""Incremental identity nights (pipelines/lib/identity/compact.py, "Incremental nights").

A night resolves only the components its changes reach and carries every other member
forward; it must write exactly what a full recompute of the same night writes — the versioned
state, member ids, founders, merge / split logs, shared hubs and stats — and keep the persisted
graph equal to the one a full night stores. Two warehouses run the same nights side by side:
one always full, one incremental whenever its persisted graph allows. (The stored graph is
compared in identifier strings: the dictionary hands keys out in any order.)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.lib.identity import mint_id
from pipelines.lib.identity import store as identity_store
from pipelines.lib.identity.compact import GRAPH_TABLES, resolve_in_warehouse, write_night
from pipelines.lib.platform.engines import DuckDBEngine
from tests.conftest import examples
from tests.unit.test_identity_compact import _arrow, _rows
from tests.unit.test_oneid import D0, T0, deleted_founder_nights, edge, histories, node

STATE_TABLES = ("assignment_history", "member_history", "member_id_assignments", "members",
                "merges", "splits", "shared_hubs", "snapshot_days")
EMPTY_EDGES = pa.table({c: pa.array([], t) for c, t in (
    ("left_type", pa.string()), ("left_value", pa.string()), ("right_type", pa.string()),
    ("right_value", pa.string()), ("first_seen_at", pa.timestamp("us")),
    ("last_seen_at", pa.timestamp("us")))})


class Twins:
    """The same nights in two warehouses: `full` resolves every night in full, `inc`
    incrementally whenever it can (share 1.0: never falls back for size). Each night both
    are compared table by table; `modes` records the incremental warehouse's mode per night."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = cap
        self.cons = {"full": duckdb.connect(), "inc": duckdb.connect()}
        self.modes: list[str] = []
        self.stats: list[dict] = []

    def night(self, nodes: pa.Table, edges: pa.Table | None, as_of: date) -> None:
        got = {}
        for name, con in self.cons.items():
            engine = DuckDBEngine(con)
            state, members = identity_store.previous_state_sql(engine, as_of)
            con.register("tonight_nodes", nodes)
            con.register("tonight_edges", EMPTY_EDGES if edges is None else edges)
            n = resolve_in_warehouse(
                con, as_of=as_of, nodes="tonight_nodes", edges="tonight_edges", state=state,
                members=members, retired_ids=identity_store.retired_ids(engine, as_of),
                max_component_size=self.cap,
                incremental_max_share=None if name == "full" else 1.0)
            written = write_night(engine, as_of, n)
            got[name] = (n, written)
        (full, full_written), (inc, inc_written) = got["full"], got["inc"]
        assert full.mode.startswith("full")
        self.modes.append(inc.mode)
        self.stats.append(inc.stats)
        assert inc.stats == full.stats, inc.mode
        assert inc.merges.equals(full.merges) and inc.splits.equals(full.splits)
        assert inc.shared.equals(full.shared)
        assert inc_written == full_written
        for table in STATE_TABLES:
            sql = f"SELECT * FROM identity.{table}"
            a = self.cons["full"].sql(sql).to_arrow_table()
            b = self.cons["inc"].sql(sql).to_arrow_table()
            assert _rows(a) == _rows(b), (table, inc.mode)
        assert _stored_graph(self.cons["full"]) == _stored_graph(self.cons["inc"]), inc.mode

    def ids(self) -> dict[tuple[str, str], str]:
        return {(t, v): m for t, v, m in self.cons["inc"].sql(
            "SELECT id_type, id_value, member_id FROM identity.member_id_assignments").fetchall()}


def _stored_graph(con) -> tuple:
    """The stored graph in identifier strings (dictionary keys are handed out in any order,
    so two warehouses' keys may differ): per identifier its facts, the components as sets,
    the edges, per capped component its hub, and the day and cap."""
    name = "k.id_type || ':' || k.id_value"
    nodes = con.sql(f"SELECT {name}, n.comp, n.day, n.first_us, n.last_us FROM "
                    f"{GRAPH_TABLES[0]} AS n JOIN identity.identifier_keys AS k USING (key)"
                    ).fetchall()
    comps: dict[int, set] = {}
    for ident, comp, *_ in nodes:
        comps.setdefault(comp, set()).add(ident)
    edges = con.sql(f"SELECT {name.replace('k.', 'a.')}, {name.replace('k.', 'b.')} FROM "
                    f"{GRAPH_TABLES[1]} AS e JOIN identity.identifier_keys AS a ON a.key = e.a_key "
                    "JOIN identity.identifier_keys AS b ON b.key = e.b_key").fetchall()
    capped = con.sql(f"SELECT comp, {name} FROM {GRAPH_TABLES[2]} AS c "
                     "JOIN identity.identifier_keys AS k ON k.key = c.hub_key").fetchall()
    counts = [con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in GRAPH_TABLES[:3]]
    return (sorted((i, *facts) for i, _, *facts in nodes),
            sorted(tuple(sorted(c)) for c in comps.values()),
            sorted(tuple(sorted(e)) for e in edges),
            sorted((tuple(sorted(comps[c])), hub) for c, hub in capped),
            counts, con.sql(f"SELECT * FROM {GRAPH_TABLES[3]}").fetchall())


@st.composite
def histories_with_deletions(draw):
    """`histories` (accounts appearing, their first_seen_at moved back, hub links coming and
    going), and on some nights some accounts deleted (a WeCom contact removed, erased rows):
    gone with their links that night — founders among them."""
    history = draw(histories())
    out = []
    for nodes, edges in history:
        accounts = sorted({n["id_value"] for n in nodes if n["id_value"].startswith("A")})
        gone = set(draw(st.lists(st.sampled_from(accounts), max_size=2))) if accounts and \
            draw(st.booleans()) else set()
        kept_edges = [e for e in edges if e["left_value"] not in gone]
        linked = {e["right_value"] for e in kept_edges}
        kept = [n for n in nodes if n["id_value"] not in gone
                and (n["id_value"].startswith("A") or n["id_value"] in linked)]
        if kept:
            out.append((kept, kept_edges))
    return out


def _run(history, cap) -> Twins:
    twins = Twins(cap)
    for i, (nodes, edges) in enumerate(history):
        twins.night(*_arrow(nodes, edges), D0 + timedelta(days=i))
    # after the first night every night has a graph to build on: all incremental
    assert all(m.startswith("incremental") for m in twins.modes[1:]), twins.modes
    return twins


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories_with_deletions())
def test_incremental_nights_equal_full_nights_on_any_history(history):
    _run(history, cap=None)


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories_with_deletions())
def test_incremental_nights_equal_full_nights_with_a_small_cap(history):
    _run(history, cap=3)  # small enough that the random hubs get capped and uncapped


def test_deleted_founder_night_is_incremental_and_equals_full():
    n, e, deleted = deleted_founder_nights()
    twins = _run([(n, e), deleted], cap=None)
    assert twins.stats[-1]["founders_gone"] == 1
    # w1 gone → seeds w1 and the ends of its two withdrawn edges (u1, h): their component
    # {w1, u1, o1, C1, h} is the whole graph — 4 of tonight's 4 identifiers
    assert twins.modes[-1] == "incremental (affected 4 of 4 identifiers)"


def _seen(t: str, v: str, day: int, last: int) -> dict:
    """An identifier first delivered on `day`, last seen on day `last`."""
    return {**node(t, v, day), "last_seen_at": T0.replace(day=last)}


def test_a_hand_written_history():
    """Cap 4. Members: A = {C1, h1} (founded by C1, day 1), B = {O1, u1} (O1, day 2),
    U = {C9, h9} (C9, day 1: never touched), K = {K1, K2, hc} (K1, day 1: a counter phone).

    night 1 (Jan 1)  full: no persisted graph yet. 9 identifiers.
    night 2 (Jan 2)  O1–h1 added: seeds O1, h1 → components {C1, h1}, {O1, u1}: 4 of 9.
                     A and B merge; C1 is older (day 1 < day 2): A's id stays, B retired.
    night 3 (Jan 3)  O1–h1 withdrawn: seeds O1, h1 → {C1, h1, O1, u1}: 4 of 9. The part
                     {O1, u1} splits off and mints from O1 — B's id comes back (revived).
                     C9 is seen again (last seen day 3): its row changes, U is not affected.
    night 4 (Jan 4)  K3, K4 (new) join hc: seeds K3, K4, hc → {K1, K2, hc} + K3, K4: 5 of 11.
                     5 identifiers > cap 4: hc is flagged, K1 keeps K's id, K2 splits off
                     and mints, K3 and K4 mint.
    night 5 (Jan 3)  back-dated re-run of night 3: the graph describes Jan 4, the previous
                     state is Jan 2 → full.
    night 6 (Jan 4)  night 4 again: the graph describes Jan 3 = the previous state → 5 of 11.
    """
    base = [_seen("pos_card", "C1", 1, 1), _seen("mobile_sha256", "h1", 1, 1),
            _seen("tmall_ouid", "O1", 2, 2), _seen("wechat_unionid", "u1", 2, 2),
            _seen("pos_card", "C9", 1, 1), _seen("mobile_sha256", "h9", 1, 1),
            _seen("pos_card", "K1", 1, 1), _seen("pos_card", "K2", 1, 1),
            _seen("mobile_sha256", "hc", 1, 1)]
    links = [edge("pos_card", "C1", "mobile_sha256", "h1"),
             edge("tmall_ouid", "O1", "wechat_unionid", "u1", 2),
             edge("pos_card", "C9", "mobile_sha256", "h9"),
             edge("pos_card", "K1", "mobile_sha256", "hc"),
             edge("pos_card", "K2", "mobile_sha256", "hc")]
    merge = edge("tmall_ouid", "O1", "mobile_sha256", "h1", 2)
    c9_again = [_seen("pos_card", "C9", 1, 3) if n["id_value"] == "C9" else n for n in base]
    cards = [_seen("pos_card", "K3", 4, 4), _seen("pos_card", "K4", 4, 4)]
    counter = [edge("pos_card", "K3", "mobile_sha256", "hc", 4),
               edge("pos_card", "K4", "mobile_sha256", "hc", 4)]
    nights = [(base, links), (base, [*links, merge]), (c9_again, links),
              ([*c9_again, *cards], [*links, *counter])]
    twins = Twins(cap=4)
    a, b, u = (mint_id(f"{t}\x1f{v}") for t, v in (("pos_card", "C1"), ("tmall_ouid", "O1"),
                                                     ("pos_card", "C9")))
    k1, k2, k3, k4 = (mint_id(f"pos_card\x1f{k}") for k in ("K1", "K2", "K3", "K4"))
    for i, (nodes, edges) in enumerate(nights):
        twins.night(*_arrow(nodes, edges), D0 + timedelta(days=i))
    assert twins.modes == ["full (no persisted graph)",
                           "incremental (affected 4 of 9 identifiers)",
                           "incremental (affected 4 of 9 identifiers)",
                           "incremental (affected 5 of 11 identifiers)"]
    assert [s["merges"] for s in twins.stats] == [0, 1, 0, 0]
    assert [s["splits"] for s in twins.stats] == [0, 0, 1, 1]
    assert twins.stats[2]["revived_ids"] == 1
    assert twins.stats[3]["shared_hubs_flagged"] == 1
    assert twins.stats[3]["largest_components"][0] == {
        "size": 5, "hub": "mobile_sha256:hc", "capped": True}
    assert twins.ids() == {
        ("pos_card", "C1"): a, ("mobile_sha256", "h1"): a, ("tmall_ouid", "O1"): b,
        ("wechat_unionid", "u1"): b, ("pos_card", "C9"): u, ("mobile_sha256", "h9"): u,
        ("pos_card", "K1"): k1, ("pos_card", "K2"): k2, ("pos_card", "K3"): k3,
        ("pos_card", "K4"): k4}
    con = twins.cons["inc"]
    # U was carried forward: one version for h9; C9's row changed only its last seen
    assert con.sql("SELECT valid_from, valid_to, member_id FROM identity.assignment_history "
                   "WHERE id_value = 'h9'").fetchall() == [(D0, None, u)]
    assert con.sql("SELECT valid_from, last_seen_at, member_id FROM identity.assignment_history "
                   "WHERE id_value = 'C9' ORDER BY valid_from").fetchall() == [
        (D0, datetime(2024, 1, 1), u), (D0 + timedelta(days=2), datetime(2024, 1, 3), u)]
    # back-dated: re-run night 3, then night 4 again
    twins.night(*_arrow(*nights[2]), D0 + timedelta(days=2))
    assert twins.modes[-1] == ("full (the persisted graph describes 2024-01-04, the previous "
                               "state 2024-01-02: a re-run or back-dated night)")
    twins.night(*_arrow(*nights[3]), D0 + timedelta(days=3))
    assert twins.modes[-1] == "incremental (affected 5 of 11 identifiers)"
    assert twins.ids()[("pos_card", "K2")] == k2


def test_a_night_above_the_share_runs_in_full_and_says_why():
    con = duckdb.connect()
    engine = DuckDBEngine(con)
    nodes = [node("pos_card", f"C{i}", 1) for i in range(4)]
    modes = []
    for day, extra in ((D0, []), (D0 + timedelta(days=1), [node("pos_card", "C9", 2)])):
        n, _ = _arrow(nodes + extra, [])
        con.register("n", n)
        con.register("e", EMPTY_EDGES)
        state, members = identity_store.previous_state_sql(engine, day)
        night = resolve_in_warehouse(con, as_of=day, nodes="n", edges="e", state=state,
                                     members=members, incremental_max_share=0.1)
        write_night(engine, day, night)
        modes.append(night.mode)
    # night 2: one new identifier of 5 = 20 % > 10 %
    assert modes == ["full (no persisted graph)",
                     "full (affected 1 of 5 identifiers, above identity_incremental_max_share 0.1)"]


def test_forget_removes_a_persons_keys_from_the_graph_and_the_next_night_is_full():
    from pipelines.lib.privacy.forget import forget

    twins = Twins()
    nodes = [node("pos_card", "C1", 1), node("mobile_sha256", "h1", 1),
             node("pos_card", "C2", 1)]
    edges = [edge("pos_card", "C1", "mobile_sha256", "h1")]
    twins.night(*_arrow(nodes, edges), D0)
    con = twins.cons["inc"]
    keys = dict(con.sql("SELECT id_value, key FROM identity.identifier_keys").fetchall())
    member = twins.ids()[("pos_card", "C1")]
    for c in twins.cons.values():
        forget(c, member_id=member, declarations={})
    # C1 and h1 (the person) leave the graph;
    # C2 stays, and the graph no longer claims a day: the next night is full
    assert con.sql("SELECT key FROM identity.graph_nodes").fetchall() == [(keys["C2"],)]
    assert con.sql("SELECT count(*) FROM identity.graph_edges").fetchall() == [(0,)]
    assert con.sql("SELECT count(*) FROM identity.graph_state").fetchall() == [(0,)]
    twins.night(*_arrow(nodes[2:], []), D0 + timedelta(days=1))
    assert twins.modes[-1] == "full (no persisted graph)"
    twins.night(*_arrow(nodes[2:], []), D0 + timedelta(days=2))
    assert twins.modes[-1] == "incremental (affected 0 of 1 identifiers)"


def test_a_minted_id_clashing_with_a_carried_member_is_reminted():
    """Cards A and B share phone h: one member, founded by A (same day, A < B), id mint(A).
    Night 2: A is deleted — the member keeps mint(A) in {B, h} and is re-founded on B.
    Night 3: A comes back alone: seed A, affected {A} only (1 of 3); the member {B, h} carries
    forward, still holding mint(A), so A's mint clashes and is re-minted with salt "1:" —
    what a full night does, which sees every previous id."""
    a, b, h = node("pos_card", "A", 1), node("pos_card", "B", 1), node("mobile_sha256", "h", 1)
    links = [edge("pos_card", "A", "mobile_sha256", "h"), edge("pos_card", "B", "mobile_sha256", "h")]
    twins = Twins()
    for i, (nodes, edges) in enumerate([([a, b, h], links), ([b, h], links[1:]),
                                        ([a, b, h], links[1:])]):
        twins.night(*_arrow(nodes, edges), D0 + timedelta(days=i))
    # night 2: A gone (a seed) → its stored component {A, B, h}: tonight's 2 of 2
    assert twins.modes[1:] == ["incremental (affected 2 of 2 identifiers)",
                               "incremental (affected 1 of 3 identifiers)"]
    held = mint_id("pos_card\x1fA")
    assert twins.ids() == {("pos_card", "B"): held, ("mobile_sha256", "h"): held,
                           ("pos_card", "A"): mint_id("pos_card\x1fA", "1:")}

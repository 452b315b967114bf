"""The persisted OneID state: versions instead of full copies, same answers as full copies.

Every night's state is kept as written; the store must give back, for any later night, exactly
the newest earlier night's state, keep the current tables equal to the last night, undo later
nights when an older one is re-run, prune what no kept day can see, and migrate the old layout
(one full copy per day) without changing any of those answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from pipelines.lib.identity import store
from pipelines.lib.platform.engines import DuckDBEngine

D1 = date(2024, 3, 1)
T0 = datetime(2024, 3, 1, 9, 0)


def night(n: int) -> date:
    return D1 + timedelta(days=n - 1)


def state(rows: dict[tuple[str, str], tuple[str, int | None]],
          founders: bool = True) -> tuple[pa.Table, pa.Table]:
    """Assignments and members from {(id_type, id_value): (member_id, last seen day)}; a last
    seen day of None leaves both timestamps NULL (NULL must match NULL night after night).
    A member's founder is its smallest key (is_founder None without `founders`: an old
    state)."""
    keys = sorted(rows)
    first = {}
    for k in keys:
        first.setdefault(rows[k][0], k)
    assignments = pa.table({
        "id_type": [k[0] for k in keys], "id_value": [k[1] for k in keys],
        "member_id": [rows[k][0] for k in keys],
        "first_seen_at": [None if rows[k][1] is None else T0 for k in keys],
        "last_seen_at": [None if rows[k][1] is None else T0 + timedelta(days=rows[k][1])
                         for k in keys],
        "is_founder": [first[rows[k][0]] == k if founders else None for k in keys],
    }, schema=store.SCHEMAS["member_id_assignments"])
    members = sorted({m for m, _ in rows.values()})
    counts = [sum(1 for v in rows.values() if v[0] == m) for m in members]
    return assignments, pa.table({"member_id": members, "first_seen_at": [T0] * len(members),
                                  "n_identifiers": counts}, schema=store.SCHEMAS["members"])


#: four nights: C2 joins M1 (night 2), o3 appears (3), C2 goes back to its own member (4);
#: w0 never has timestamps
W0 = {("wecom_external_userid", "w0"): ("M0", None)}
NIGHTS = {
    1: {("pos_card", "C1"): ("M1", 0), ("pos_card", "C2"): ("M2", 0), **W0},
    2: {("pos_card", "C1"): ("M1", 0), ("pos_card", "C2"): ("M1", 1), **W0},
    3: {("pos_card", "C1"): ("M1", 0), ("pos_card", "C2"): ("M1", 1),
        ("mp_openid", "o3"): ("M3", 2), **W0},
    4: {("pos_card", "C1"): ("M1", 0), ("pos_card", "C2"): ("M2", 3),
        ("mp_openid", "o3"): ("M3", 2), **W0},
    5: {("pos_card", "C1"): ("M1", 4), ("pos_card", "C2"): ("M2", 3),
        ("mp_openid", "o3"): ("M1", 4), **W0},
}
NO_MERGES = store.SCHEMAS["merges"].empty_table().drop_columns(["as_of"])
NO_SPLITS = store.SCHEMAS["splits"].empty_table().drop_columns(["as_of"])


def write(engine: DuckDBEngine, n: int, founders: bool = True) -> dict[str, int]:
    a, m = state(NIGHTS[n], founders)
    return store.write_state(engine, night(n), a, m, NO_MERGES, NO_SPLITS)


def sorted_rows(t: pa.Table) -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


def current(engine: DuckDBEngine, table: str) -> list[dict]:
    return sorted_rows(engine.read_arrow(f"SELECT * FROM identity.{table}"))


def expected_previous(n: int, founders: bool = True) -> tuple[list[dict], list[dict]]:
    a, m = state(NIGHTS[n], founders)
    return (sorted_rows(a.select(["id_type", "id_value", "member_id", "is_founder"])),
            sorted_rows(m.select(["member_id", "first_seen_at"])))


@pytest.fixture()
def engine() -> DuckDBEngine:
    return DuckDBEngine(duckdb.connect())


def test_each_night_sees_the_previous_nights_state_and_current_is_the_last(engine):
    for n in NIGHTS:
        write(engine, n)
        a, m = state(NIGHTS[n])
        assert current(engine, "member_id_assignments") == sorted_rows(a)
        assert current(engine, "members") == sorted_rows(m)
    for n in NIGHTS:
        prev_a, prev_m = store.previous_state(engine, night(n + 1))
        assert (sorted_rows(prev_a), sorted_rows(prev_m)) == expected_previous(n)
    assert [t.num_rows for t in store.previous_state(engine, night(1))] == [0, 0]


def test_a_night_writes_only_what_changed(engine):
    written = [write(engine, n) for n in NIGHTS]
    # 2: C2 moved to M1 (M2 gone, M1 has 2 identifiers); 3: o3 and M3 new; 4: C2 back to M2;
    # 5: C1 seen again (a new version, same member), o3 moved to M1 (M3 gone, M1 has 2)
    assert [(w["identifier_versions_written"], w["identifiers_moved_to_another_member"],
             w["member_versions_written"]) for w in written] == [
        (3, 0, 3), (1, 1, 1), (1, 0, 1), (1, 1, 2), (2, 1, 1)]
    hist = engine.read_arrow("SELECT id_value, member_id, valid_from, valid_to "
                             "FROM identity.assignment_history ORDER BY id_value, valid_from")
    # w0 (NULL timestamps) and C1 until night 5 never changed: one version each
    assert hist.to_pylist() == [
        {"id_value": "C1", "member_id": "M1", "valid_from": night(1), "valid_to": night(5)},
        {"id_value": "C1", "member_id": "M1", "valid_from": night(5), "valid_to": None},
        {"id_value": "C2", "member_id": "M2", "valid_from": night(1), "valid_to": night(2)},
        {"id_value": "C2", "member_id": "M1", "valid_from": night(2), "valid_to": night(4)},
        {"id_value": "C2", "member_id": "M2", "valid_from": night(4), "valid_to": None},
        {"id_value": "o3", "member_id": "M3", "valid_from": night(3), "valid_to": night(5)},
        {"id_value": "o3", "member_id": "M1", "valid_from": night(5), "valid_to": None},
        {"id_value": "w0", "member_id": "M0", "valid_from": night(1), "valid_to": None},
    ]


STATE_TABLES = ("member_id_assignments", "members", "assignment_history", "member_history",
                "snapshot_days")


def same_state(left: DuckDBEngine, right: DuckDBEngine) -> None:
    for table in STATE_TABLES:
        assert current(left, table) == current(right, table), table


@pytest.mark.parametrize("order", [(1, 2, 3, 4, 5, 2), (1, 3, 2), (1, 2, 2)])
def test_rerunning_a_night_forgets_it_and_the_later_ones(engine, order):
    """Back to an older night (one written before, or one never written between two that
    were): the state is as if the nights after it never ran; the same night twice is
    idempotent."""
    for n in order:
        write(engine, n)
    fresh = DuckDBEngine(duckdb.connect())
    for n in sorted(set(order)):
        if n <= order[-1]:
            write(fresh, n)
    same_state(engine, fresh)


class _NotAtomic(DuckDBEngine):
    """Spark's semantics: no transaction, so a failure leaves what was written so far."""

    fail_on: str | None = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def replace_keyed(self, table, keys, where, rows):
        if table == self.fail_on:
            raise RuntimeError(f"{table}: write failed (injected)")
        super().replace_keyed(table, keys, where, rows)


@pytest.mark.parametrize("fail_on", ["identity.member_id_assignments", "identity.members",
                                     "identity.member_history"])
def test_a_night_that_failed_part_way_is_repaired_by_running_it_again(fail_on):
    engine, fresh = _NotAtomic(duckdb.connect()), DuckDBEngine(duckdb.connect())
    for n in (1, 2):
        write(engine, n)
        write(fresh, n)
    engine.fail_on = fail_on
    with pytest.raises(RuntimeError, match="injected"):
        write(engine, 3)
    engine.fail_on = None
    write(engine, 3)
    write(fresh, 3)
    same_state(engine, fresh)
    write(engine, 4)  # and the next night's delta starts from the right state
    write(fresh, 4)
    same_state(engine, fresh)


def test_old_days_are_pruned_with_the_versions_only_they_see(engine, monkeypatch):
    """Two nights can be re-run: their days and the day before them are kept."""
    monkeypatch.setattr(store, "KEEP_SNAPSHOTS", 2)
    for n in (1, 2, 3, 4):
        write(engine, n)
    assert [r["as_of"] for r in current(engine, "snapshot_days")] == [night(2), night(3),
                                                                      night(4)]
    for n in (2, 3, 4):
        prev_a, prev_m = store.previous_state(engine, night(n + 1))
        assert (sorted_rows(prev_a), sorted_rows(prev_m)) == expected_previous(n)
    # C2's first version ended exactly on the oldest kept day: no kept day sees it
    assert engine.read_arrow("SELECT count(*) AS n FROM identity.assignment_history "
                             f"WHERE valid_to <= DATE '{night(2)}'").column("n")[0].as_py() == 0
    # the oldest re-runnable night still finds its previous day
    write(engine, 3)
    prev_a, prev_m = store.previous_state(engine, night(4))
    assert (sorted_rows(prev_a), sorted_rows(prev_m)) == expected_previous(3)


def test_full_copies_of_the_old_layout_are_migrated_to_versions(engine):
    """Regression guard for warehouses written before versioned history (one full copy of the
    state per snapshot day): the same previous states come back, the old tables are gone."""
    con = engine.con
    con.execute("CREATE SCHEMA identity")
    for name, hist in (("assignment_snapshots", "assignment_history"),
                       ("member_snapshots", "member_history")):
        cols = [f for f in store.SCHEMAS[hist]
                if f.name not in ("valid_from", "valid_to", "is_founder")]
        schema = pa.schema([pa.field("as_of", pa.date32()), *cols])
        parts = []
        for n in (1, 2, 3, 4):
            a, m = state(NIGHTS[n])
            t = (a if name == "assignment_snapshots" else m).select(schema.names[1:])
            parts.append(t.add_column(0, "as_of", pa.array([night(n)] * t.num_rows,
                                                           pa.date32())).cast(schema))
        con.register("_old", pa.concat_tables(parts))
        con.execute(f"CREATE TABLE identity.{name} AS SELECT * FROM _old")
        con.unregister("_old")
    store.ensure_schema(engine)
    assert not engine.has_table("identity.assignment_snapshots")
    assert not engine.has_table("identity.member_snapshots")
    for n in (1, 2, 3, 4):  # that layout predates founders: NULL, derived by resolve()
        prev_a, prev_m = store.previous_state(engine, night(n + 1))
        assert (sorted_rows(prev_a), sorted_rows(prev_m)) == expected_previous(n, False)
    reference = DuckDBEngine(duckdb.connect())
    for n in (1, 2, 3, 4):
        write(reference, n, founders=False)
    assert current(engine, "assignment_history") == current(reference, "assignment_history")
    assert current(engine, "member_history") == current(reference, "member_history")
    # the current tables are the migrated state, and a new night carries on from it
    assert current(engine, "member_id_assignments") == sorted_rows(state(NIGHTS[4], False)[0])
    write(engine, 5)
    write(reference, 5)
    same_state(engine, reference)


def test_a_state_written_before_founders_gets_the_columns_and_carries_on(engine):
    """Regression guard for warehouses written before founders were recorded: `is_founder` is
    added (NULL) on the next run, every answer stays, the next night writes it."""
    for n in (1, 2, 3):
        write(engine, n, founders=False)
    for table in ("assignment_history", "member_id_assignments"):
        engine.con.execute(f"ALTER TABLE identity.{table} DROP COLUMN is_founder")
    store.ensure_schema(engine)
    assert engine.read_arrow("SELECT * FROM identity.assignment_history").schema == \
        store.SCHEMAS["assignment_history"]
    for n in (1, 2, 3):
        prev_a, prev_m = store.previous_state(engine, night(n + 1))
        assert (sorted_rows(prev_a), sorted_rows(prev_m)) == expected_previous(n, False)
    assert current(engine, "member_id_assignments") == sorted_rows(state(NIGHTS[3], False)[0])
    written = write(engine, 4)
    # every identifier gets a version once (its flag is written); members as usual
    assert (written["identifier_versions_written"], written["member_versions_written"]) == (4, 2)
    assert current(engine, "member_id_assignments") == sorted_rows(state(NIGHTS[4])[0])
    prev_a, prev_m = store.previous_state(engine, night(5))
    assert (sorted_rows(prev_a), sorted_rows(prev_m)) == expected_previous(4)


def test_replace_keyed_deletes_matching_keys_under_the_predicate_only(engine):
    con = engine.con
    con.execute("CREATE TABLE t (k VARCHAR, j INTEGER, v INTEGER, open BOOLEAN)")
    con.execute("INSERT INTO t VALUES ('a', 1, 1, true), ('a', 1, 0, false), ('a', 2, 1, true), "
                "('b', 1, 1, true)")
    engine.replace_keyed("t", pa.table({"k": ["a"], "j": [1]}), "open",
                         pa.table({"k": ["a"], "j": [1], "v": [2], "open": [True]}))
    assert sorted(con.execute("SELECT * FROM t").fetchall()) == [
        ("a", 1, 0, False), ("a", 1, 2, True), ("a", 2, 1, True), ("b", 1, 1, True)]

"""Persisted OneID state in the warehouse's `identity` schema (DuckDB or Spark).

Each run writes the state as of `as_of` (the last business day loaded) and records that day in
`identity.snapshot_days`. The previous state for a run is the state of the newest snapshot day
strictly before its `as_of`, so re-running a night reproduces exactly the same ids, merges and
splits (idempotent), and a later night builds on the earlier one (stable ids).

The state is versioned, not copied: `identity.assignment_history` holds one row per version of
an identifier's assignment, valid for the snapshot days `valid_from <= day < valid_to`
(`valid_to` NULL: still current); `identity.member_history` the same for members. A night
closes the versions that changed and opens their successors, so it writes what changed (a few
thousand rows at a million members) instead of a full copy of the state per night. A version
changes with any of its columns (`last_seen_at` moves whenever an identifier is seen again), so
the history is also the OneID change log: the identifiers whose member changed on day D are the
keys with a version closed at D and one opened at D with a different `member_id` (plus keys
only opened: new identifiers; only closed: identifiers gone).

`identity.member_id_assignments` and `identity.members` are the current state the marts read,
kept by the same delta. The last KEEP_SNAPSHOTS nights can be re-run: their days and the day
before them are kept; older days are pruned with the versions only they could see (merge/split
logs are kept).

Each identifier's version records whether it founded its member (`is_founder`: true on exactly
one identifier per member; the OneID rules in `pipelines/lib/identity/`). A state written
before founders were recorded gets the column, NULL, on the next run (`ensure_schema`);
`resolve` then derives those founders once, and that night writes them (every identifier gets
a new version once).

Written through `pipelines.lib.platform.engines` (one code path for both targets); on DuckDB the whole
write is one transaction, on Spark a failed write is repaired by re-running the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.platform.engines import Engine

#: Nights that can be re-run (their days and the one before them are kept; versions no kept
#: day can see are pruned).
KEEP_SNAPSHOTS = 14

TS = pa.timestamp("us")
_VALIDITY = [("valid_from", pa.date32()), ("valid_to", pa.date32())]
_ASSIGNMENT = [("id_type", pa.string()), ("id_value", pa.string()), ("member_id", pa.string()),
               ("first_seen_at", TS), ("last_seen_at", TS), ("is_founder", pa.bool_())]
_MEMBER = [("member_id", pa.string()), ("first_seen_at", TS), ("n_identifiers", pa.int64())]
SCHEMAS: dict[str, pa.Schema] = {
    "snapshot_days": pa.schema([("as_of", pa.date32())]),
    "assignment_history": pa.schema(_ASSIGNMENT + _VALIDITY),
    "member_history": pa.schema(_MEMBER + _VALIDITY),
    "member_id_assignments": pa.schema(_ASSIGNMENT),
    "members": pa.schema(_MEMBER),
    "merges": pa.schema([
        ("as_of", pa.date32()), ("old_member_id", pa.string()), ("member_id", pa.string()),
        ("merged_at", pa.date32()), ("reason", pa.string())]),
    "splits": pa.schema([
        ("as_of", pa.date32()), ("member_id", pa.string()), ("new_member_id", pa.string()),
        ("split_at", pa.date32()), ("reason", pa.string())]),
    # hubs the component cap flagged shared tonight (pipelines/lib/identity/cap.py); dbt
    # reports them in marts.shared_identifiers
    "shared_hubs": pa.schema([
        ("as_of", pa.date32()), ("id_type", pa.string()), ("id_value", pa.string()),
        ("flag_kind", pa.string()), ("reason", pa.string()), ("max_accounts_linked", pa.int64())]),
}


@dataclass(frozen=True)
class Versioned:
    """A versioned state table and the current table kept beside it."""

    history: str
    current: str
    key: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return SCHEMAS[self.current].names


ASSIGNMENTS = Versioned("assignment_history", "member_id_assignments", ("id_type", "id_value"))
MEMBERS = Versioned("member_history", "members", ("member_id",))
#: tables of the layout before versioned history (one full copy per snapshot day)
_FULL_SNAPSHOTS = {ASSIGNMENTS: "assignment_snapshots", MEMBERS: "member_snapshots"}


def _lit(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def _visible(day: str) -> str:
    """The versions a snapshot day sees (`day` is a SQL expression)."""
    return f"valid_from <= {day} AND (valid_to IS NULL OR valid_to > {day})"


def ensure_schema(engine: Engine) -> None:
    for name, schema in SCHEMAS.items():
        engine.create_table_if_missing(f"identity.{name}", schema)
    _migrate_full_snapshots(engine)
    _add_founder_column(engine)


def _columns(engine: Engine, table: str) -> list[str]:
    return engine.read_arrow(f"SELECT * FROM {table} WHERE 1 = 0").column_names


def _null_as(name: str, t: pa.DataType) -> str:
    """A portable typed NULL (type names both engines know)."""
    return f"CAST(NULL AS {'BOOLEAN' if t == pa.bool_() else 'STRING'}) AS {name}"


def _add_founder_column(engine: Engine) -> None:
    """Assignments written before founders were recorded: add `is_founder`, NULL (`resolve`
    derives those founders). Through a staging table, a rewrite both engines can do (Spark
    cannot replace a table it reads); on DuckDB in one transaction."""
    tables = [t for t in (ASSIGNMENTS.history, ASSIGNMENTS.current)
              if "is_founder" not in _columns(engine, f"identity.{t}")]
    if not tables:
        return
    with engine.transaction():
        for t in tables:
            have = set(_columns(engine, f"identity.{t}"))
            cols = ", ".join(f.name if f.name in have else _null_as(f.name, f.type)
                             for f in SCHEMAS[t])
            staging = f"identity.{t}__siyu_founders"
            engine.create_table_as(staging, f"SELECT {cols} FROM identity.{t}")
            engine.drop_table(f"identity.{t}")
            engine.create_table_as(f"identity.{t}", f"SELECT * FROM {staging}")
            engine.drop_table(staging)


def _migrate_full_snapshots(engine: Engine) -> None:
    """Turn the old per-day full copies into versions, once (gaps and islands: a version runs
    from the first snapshot day of an unbroken run of days with identical rows to the next
    snapshot day after it), and the current tables into the open versions. The old tables are
    dropped at the end (on DuckDB in the same transaction; on Spark a failed migration is
    repeated by the next run, since the old tables are still there)."""
    old = {v: t for v, t in _FULL_SNAPSHOTS.items() if engine.has_table(f"identity.{t}")}
    if not old:
        return
    with engine.transaction():
        days_from = f"identity.{old.get(ASSIGNMENTS, next(iter(old.values())))}"
        engine.replace_rows("identity.snapshot_days", None, engine.read_arrow(
            f"SELECT DISTINCT as_of FROM {days_from} ORDER BY as_of").cast(SCHEMAS["snapshot_days"]))
        for v, table in old.items():
            have = set(_columns(engine, f"identity.{table}"))
            cols = ", ".join(c if c in have else _null_as(c, SCHEMAS[v.current].field(c).type)
                             for c in v.columns)
            key = ", ".join(c for c in v.columns if c in have)
            versions = engine.read_arrow(f"""
                WITH days AS (
                    SELECT as_of, row_number() OVER (ORDER BY as_of) AS k
                    FROM (SELECT DISTINCT as_of FROM identity.{table}) AS d
                ),
                numbered AS (
                    SELECT {cols}, s.as_of, days.k,
                           days.k - row_number() OVER (PARTITION BY {key} ORDER BY s.as_of)
                               AS island
                    FROM identity.{table} AS s
                    INNER JOIN days ON days.as_of = s.as_of
                ),
                islands AS (
                    SELECT {", ".join(v.columns)}, min(as_of) AS valid_from, max(k) AS last_k
                    FROM numbered
                    GROUP BY {", ".join(v.columns)}, island
                )
                SELECT {", ".join(f"islands.{c}" for c in v.columns)}, islands.valid_from,
                       days.as_of AS valid_to
                FROM islands
                LEFT JOIN days ON days.k = islands.last_k + 1
            """)
            engine.replace_rows(f"identity.{v.history}", None,
                                versions.select(SCHEMAS[v.history].names)
                                .cast(SCHEMAS[v.history]))
            engine.drop_table(f"identity.{table}")
            # the current state is the open versions (whatever the old current table held)
            engine.create_table_as(f"identity.{v.current}",
                                   f"SELECT {', '.join(v.columns)} FROM identity.{v.history} "
                                   "WHERE valid_to IS NULL")


def _previous_day(engine: Engine, as_of: date) -> date | None:
    return engine.read_arrow(
        f"SELECT max(as_of) AS prev FROM identity.snapshot_days WHERE as_of < {_lit(as_of)}"
    ).column("prev")[0].as_py()


def previous_state(engine: Engine, as_of: date) -> tuple[pa.Table, pa.Table]:
    ensure_schema(engine)
    prev = _previous_day(engine, as_of)
    where = _visible(_lit(prev)) if prev is not None else "1 = 0"
    state = engine.read_arrow("SELECT id_type, id_value, member_id, is_founder "
                              f"FROM identity.assignment_history WHERE {where}")
    members = engine.read_arrow(
        f"SELECT member_id, first_seen_at FROM identity.member_history WHERE {where}")
    return state, members


def previous_state_sql(engine: Engine, as_of: date) -> tuple[str, str]:
    """The same previous state as `previous_state`, as two SQL relations (for the compact
    path, `pipelines.lib.identity.compact`): (id_type, id_value, member_id, is_founder) and
    (member_id, first_seen_at)."""
    ensure_schema(engine)
    prev = _previous_day(engine, as_of)
    where = _visible(_lit(prev)) if prev is not None else "1 = 0"
    return (f"(SELECT id_type, id_value, member_id, is_founder "
            f"FROM identity.assignment_history WHERE {where})",
            f"(SELECT member_id, first_seen_at FROM identity.member_history WHERE {where})")


def retired_ids(engine: Engine, as_of: date) -> pa.Array:
    """Every member id retired by a merge before `as_of`.

    `resolve` counts the ones that come back (`stats["revived_ids"]`): a split part founded by
    the identifier that founded a member merged away earlier gets that member's id again, as a
    full rebuild would mint it (pipelines/lib/identity/).
    """
    ensure_schema(engine)
    rows = engine.read_arrow(
        "SELECT DISTINCT old_member_id FROM identity.merges "
        f"WHERE as_of < {_lit(as_of)} ORDER BY old_member_id")
    return rows.column("old_member_id").combine_chunks().cast(pa.string())


def _with_as_of(table: pa.Table, as_of: date, schema: pa.Schema) -> pa.Table:
    t = table.add_column(0, "as_of", pa.array([as_of] * table.num_rows, pa.date32()))
    return t.select(schema.names).cast(schema)


def changed_versions(current: pa.Table, tonight: pa.Table, as_of: date) -> tuple[pa.Table, pa.Table]:
    """(closed, opened): the current versions tonight's state no longer has as they are (now
    ending at `as_of`), and tonight's rows no current version matches (starting at `as_of`).

    `current` has the history columns, `tonight` the state columns; rows match on every state
    column, NULL matching NULL. Plain set logic on Arrow (an in-memory DuckDB), the same on
    both engines.
    """
    same = " AND ".join(f'c."{c}" IS NOT DISTINCT FROM t."{c}"' for c in tonight.column_names)
    con = duckdb.connect()
    try:
        con.register("c", current)
        con.register("t", tonight)
        closed = con.sql(f"SELECT c.* EXCLUDE (valid_to), {_lit(as_of)} AS valid_to "
                         f"FROM c ANTI JOIN t ON {same}").to_arrow_table()
        opened = con.sql(f"SELECT t.*, {_lit(as_of)} AS valid_from, "
                         f"CAST(NULL AS DATE) AS valid_to FROM t ANTI JOIN c ON {same}"
                         ).to_arrow_table()
    finally:
        con.close()
    return closed, opened


def _write_versions(engine: Engine, v: Versioned, as_of: date, tonight: pa.Table | str,
                    rebuild_current: bool, scope: str | None = None) -> tuple[int, int]:
    """Write tonight's versions of `v` (Arrow, or on DuckDB a relation's name: the diff runs in
    SQL); returns (versions opened, keys that moved to another member). `scope` (DuckDB): a
    relation of the keys that can have changed; `tonight` then holds those keys' rows only and
    every other current version stays as it is."""
    if isinstance(tonight, str):
        return _write_versions_sql(engine, v, as_of, tonight, rebuild_current, scope)
    if scope is not None:
        raise ValueError("a scoped write needs tonight's state as a relation (DuckDB)")
    history_schema = SCHEMAS[v.history]
    tonight = tonight.select(v.columns).cast(SCHEMAS[v.current])
    current = engine.read_arrow(
        f"SELECT * FROM identity.{v.history} WHERE valid_to IS NULL").cast(history_schema)
    closed, opened = changed_versions(current, tonight, as_of)
    closed, opened = closed.cast(history_schema), opened.cast(history_schema)
    engine.replace_keyed(f"identity.{v.history}", closed.select(list(v.key)), "valid_to IS NULL",
                         pa.concat_tables([closed, opened]))
    if rebuild_current or not current.num_rows:
        # a re-run, or the first night (all keys new): writing the state beats a keyed delta
        engine.create_table_as(f"identity.{v.current}",
                               f"SELECT {', '.join(v.columns)} FROM identity.{v.history} "
                               "WHERE valid_to IS NULL")
    else:
        changed_keys = pa.concat_tables([closed.select(list(v.key)),
                                         opened.select(list(v.key))])
        engine.replace_keyed(f"identity.{v.current}", changed_keys, "TRUE",
                             opened.select(v.columns))
    moved = _moved(closed, opened, v.key) if "member_id" not in v.key else 0
    return opened.num_rows, moved


def _write_versions_sql(engine: Engine, v: Versioned, as_of: date, tonight: str,
                        rebuild_current: bool, scope: str | None = None) -> tuple[int, int]:
    """`_write_versions` with the diff in DuckDB: no identifier string enters Python."""
    con = engine.con  # type: ignore[attr-defined]  # DuckDBEngine
    d, cols, history = _lit(as_of), v.columns, f"identity.{v.history}"
    same = " AND ".join(f'c."{c}" IS NOT DISTINCT FROM t."{c}"' for c in cols)
    key = " AND ".join(f'x."{c}" IS NOT DISTINCT FROM h."{c}"' for c in v.key)
    select = ", ".join(f't."{c}"' for c in cols)
    had = con.sql(f"SELECT count(*) FROM {history} WHERE valid_to IS NULL").fetchall()[0][0]
    current = f"(SELECT * FROM {history} WHERE valid_to IS NULL)"
    if scope is not None:
        if rebuild_current or not had:
            raise ValueError("a scoped write needs a current state to change (not a re-run)")
        in_scope = " AND ".join(f'x."{c}" = h."{c}"' for c in v.key)
        current = (f"(SELECT h.* FROM {history} AS h SEMI JOIN {scope} AS x ON {in_scope} "
                   "WHERE h.valid_to IS NULL)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _siyu_closed AS SELECT c.* EXCLUDE (valid_to), "
                f"{d} AS valid_to FROM {current} AS c "
                f"ANTI JOIN (SELECT {', '.join(cols)} FROM {tonight}) AS t ON {same}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _siyu_opened AS SELECT {select}, {d} AS valid_from, "
                f"CAST(NULL AS DATE) AS valid_to FROM (SELECT {', '.join(cols)} FROM {tonight}) "
                f"AS t ANTI JOIN {current} AS c ON {same}")
    try:
        con.execute(f"DELETE FROM {history} AS h USING _siyu_closed AS x "
                    f"WHERE h.valid_to IS NULL AND {key}")
        con.execute(f"INSERT INTO {history} BY NAME SELECT * FROM _siyu_closed")
        con.execute(f"INSERT INTO {history} BY NAME SELECT * FROM _siyu_opened")
        current = f"identity.{v.current}"
        if rebuild_current or not had:
            engine.create_table_as(current, f"SELECT {', '.join(cols)} FROM {history} "
                                            "WHERE valid_to IS NULL")
        else:
            con.execute(f"DELETE FROM {current} AS h USING (SELECT {', '.join(v.key)} FROM "
                        f"_siyu_closed UNION ALL SELECT {', '.join(v.key)} FROM _siyu_opened) "
                        f"AS x WHERE {key}")
            con.execute(f"INSERT INTO {current} BY NAME SELECT {', '.join(cols)} "
                        "FROM _siyu_opened")
        opened = con.sql("SELECT count(*) FROM _siyu_opened").fetchall()[0][0]
        moved = 0
        if "member_id" not in v.key:
            on = " AND ".join(f'o."{c}" = x."{c}"' for c in v.key)
            moved = con.sql(f"SELECT count(*) FROM _siyu_opened AS o JOIN _siyu_closed AS x "
                            f"ON {on} WHERE o.member_id <> x.member_id").fetchall()[0][0]
    finally:
        con.execute("DROP TABLE IF EXISTS _siyu_closed")
        con.execute("DROP TABLE IF EXISTS _siyu_opened")
    return int(opened), int(moved)


def _moved(closed: pa.Table, opened: pa.Table, key: tuple[str, ...]) -> int:
    """Keys whose closed and opened versions name different members (the change log)."""
    before = closed.select([*key, "member_id"]).rename_columns([*key, "before"])
    pairs = opened.select([*key, "member_id"]).join(before, list(key), join_type="inner")
    return int(pc.sum(pc.not_equal(pairs["member_id"], pairs["before"])).as_py() or 0)


def _forget_days_from(engine: Engine, as_of: date) -> None:
    """Undo every night written for `as_of` or later: drop the versions they opened and reopen
    the ones they closed, so the open versions are the previous snapshot day's state again."""
    d = _lit(as_of)
    for v in (ASSIGNMENTS, MEMBERS):
        table = f"identity.{v.history}"
        reopened = engine.read_arrow(
            f"SELECT * FROM {table} WHERE valid_from < {d} AND valid_to >= {d}")
        reopened = reopened.set_column(reopened.schema.get_field_index("valid_to"), "valid_to",
                                       pa.nulls(reopened.num_rows, pa.date32()))
        engine.replace_rows(table, f"valid_from < {d} AND (valid_to IS NULL OR valid_to < {d})",
                            reopened.cast(SCHEMAS[v.history]))
    engine.replace_rows("identity.snapshot_days", f"as_of < {d}",
                        SCHEMAS["snapshot_days"].empty_table())


def _written_from(engine: Engine, as_of: date) -> bool:
    """Whether anything of a night on or after `as_of` is stored: a re-run, or (on Spark,
    whose writes are not one transaction) a night that failed part-way. Either way it is undone
    and the current tables are rebuilt from the versions."""
    d = _lit(as_of)
    n = engine.read_arrow(
        f"SELECT count(*) AS n FROM (SELECT as_of FROM identity.snapshot_days WHERE as_of >= {d} "
        f"UNION ALL SELECT valid_from FROM identity.assignment_history WHERE valid_from >= {d} "
        f"OR valid_to >= {d} UNION ALL SELECT valid_from FROM identity.member_history "
        f"WHERE valid_from >= {d} OR valid_to >= {d}) AS written").column("n")[0].as_py()
    return n > 0


def write_state(engine: Engine, as_of: date, assignments: pa.Table | str,
                members: pa.Table | str, merges: pa.Table, splits: pa.Table,
                shared: pa.Table | None = None, scope: tuple[str, str] | None = None,
                also: Callable[[], None] | None = None) -> dict[str, int]:
    """Write the state as of `as_of` and publish it as current (module doc). Returns counts
    for the run's metadata: new versions written, and identifiers that changed member.

    `assignments`/`members` are Arrow tables, or on DuckDB names of relations on the engine's
    connection (the compact path: the diff then runs in SQL). `shared`: the hubs the component
    cap flagged tonight (replaces the previous night's). `scope` (DuckDB, an incremental
    night of the compact path): relations of the (id_type, id_value) keys and the member ids
    that can have changed since the current state; `assignments`/`members` then hold only
    their rows, and every other current row carries forward. `also`: more writes of the same
    night, run inside the same transaction (the compact path's persisted graph)."""
    ensure_schema(engine)
    d = _lit(as_of)
    with engine.transaction():
        rerun = _written_from(engine, as_of)
        if rerun:
            _forget_days_from(engine, as_of)
        for table, data in (("merges", merges), ("splits", splits)):
            engine.replace_rows(f"identity.{table}", f"as_of < {d}",
                                _with_as_of(data, as_of, SCHEMAS[table]))
        engine.replace_rows("identity.shared_hubs", None, _with_as_of(
            shared if shared is not None else SCHEMAS["shared_hubs"].empty_table()
            .drop_columns(["as_of"]), as_of, SCHEMAS["shared_hubs"]))
        opened, moved = _write_versions(engine, ASSIGNMENTS, as_of, assignments,
                                        rebuild_current=rerun,
                                        scope=None if scope is None else scope[0])
        member_versions, _ = _write_versions(engine, MEMBERS, as_of, members,
                                             rebuild_current=rerun,
                                             scope=None if scope is None else scope[1])
        written = {"identifier_versions_written": opened,
                   "identifiers_moved_to_another_member": moved,
                   "member_versions_written": member_versions}
        engine.replace_rows("identity.snapshot_days", "TRUE",
                            pa.table({"as_of": pa.array([as_of], pa.date32())}))
        kept = sorted(engine.read_arrow("SELECT as_of FROM identity.snapshot_days")
                      .column("as_of").to_pylist(), reverse=True)
        if len(kept) > KEEP_SNAPSHOTS + 1:
            oldest = _lit(kept[KEEP_SNAPSHOTS])
            for v in (ASSIGNMENTS, MEMBERS):
                engine.replace_rows(f"identity.{v.history}",
                                    f"valid_to IS NULL OR valid_to > {oldest}",
                                    SCHEMAS[v.history].empty_table())
            engine.replace_rows("identity.snapshot_days", f"as_of >= {oldest}",
                                SCHEMAS["snapshot_days"].empty_table())
        if also is not None:
            also()
    return written

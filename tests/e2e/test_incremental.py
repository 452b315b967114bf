"""Nightly increments give the same warehouse as a full rebuild (issue 7).

One generated zone, one warehouse, driven through `siyu run` like the schedule does:

1. a full build of every landed day but the last;
2. the nightly run of the last day (the incremental facts only touch what it changed);
3. a re-run of the day before (an older partition re-materialised on top of a newer night:
   its files are re-ingested, nothing may double or go stale);
4. `siyu run --full-refresh` (every derived table rebuilt from the whole raw history).

Every table of `marts`, `intermediate` and the staging tables must hold exactly the same rows
(multiset equality) after 2, 3 (up to the re-ingested rows' ingestion time) and 4.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.e2e.runs import siyu

pytestmark = pytest.mark.slow

#: the schemas whose tables a night may change incrementally or rebuild
COMPARED_SCHEMAS = ("marts", "intermediate", "staging")


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    placeholders = ", ".join("?" for _ in COMPARED_SCHEMAS)
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_type = 'BASE TABLE' AND table_schema IN ({placeholders}) "
        "ORDER BY 1, 2", list(COMPARED_SCHEMAS)).fetchall()


def _snapshot(wh: Path, into: str) -> None:
    with duckdb.connect(str(wh)) as con:
        for schema, table in _tables(con):
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{into}_{schema}"')
            con.execute(f'CREATE OR REPLACE TABLE "{into}_{schema}"."{table}" AS '
                        f'SELECT * FROM "{schema}"."{table}"')


def _differences(wh: Path, snapshot: str, ignore: tuple[str, ...] = ()) -> dict[str, tuple[int, int, int]]:
    """table → (rows now, rows only now, rows only in the snapshot), for tables that differ;
    columns named in `ignore` are left out of the comparison."""
    out: dict[str, tuple[int, int, int]] = {}
    with duckdb.connect(str(wh), read_only=True) as con:
        tables = _tables(con)
        snap = {(s.removeprefix(f"{snapshot}_"), t) for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE ?", [f"{snapshot}_%"]).fetchall()}
        assert set(tables) == snap, set(tables) ^ snap
        for schema, table in tables:
            now, then = f'"{schema}"."{table}"', f'"{snapshot}_{schema}"."{table}"'
            cols = ", ".join(f'"{c}"' for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
                if c not in ignore)
            only_now = con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {now} EXCEPT ALL SELECT {cols} FROM {then})"
            ).fetchall()[0][0]
            only_then = con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {then} EXCEPT ALL SELECT {cols} FROM {now})"
            ).fetchall()[0][0]
            if only_now or only_then:
                rows = con.execute(f"SELECT count(*) FROM {now}").fetchall()[0][0]
                out[f"{schema}.{table}"] = (rows, only_now, only_then)
    return out


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    zone, wh, home = tmp / "zone", tmp / "wh" / "siyu.duckdb", tmp / "home"
    home.mkdir()
    gen = siyu("generate", "--out", str(zone), "--members", "800", "--days", "45",
               "--seed", "23", data_dir=zone, warehouse=wh, home=home)
    assert gen.returncode == 0, gen.stderr
    days = sorted({date.fromisoformat(p.name[3:])
                   for p in (zone / "landing").glob("*/*/dt=*") if p.is_dir()})
    night = days[-1]

    def run(*args: str):
        proc = siyu("run", *args, data_dir=zone, warehouse=wh, home=home)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
        return proc

    run("--start", str(days[0]), "--end", str(night - timedelta(days=1)))
    run("--start", str(night), "--end", str(night))
    _snapshot(wh, "after_night")
    return zone, wh, home, night, run


def test_the_night_changed_old_orders_and_added_events(nightly):
    """The increment had real work: updates to orders sold before the night, and events."""
    _, wh, _, night, _ = nightly
    with duckdb.connect(str(wh), read_only=True) as con:
        updated_old = con.execute(
            "SELECT count(*) FROM marts.fct_orders "
            "WHERE last_delivered_dt = ? AND cast(ordered_at AS date) < ?",
            [night, night]).fetchall()[0][0]
        new_events = con.execute(
            "SELECT count(*) FROM staging.stg_miniprogram__events WHERE _dt = ?",
            [night]).fetchall()[0][0]
        night_orders = con.execute(
            "SELECT count(*) FROM marts.fct_orders WHERE last_delivered_dt = ?",
            [night]).fetchall()[0][0]
    assert updated_old > 0, "the night re-delivered no older order; the zone tests nothing"
    assert new_events > 0 and night_orders > updated_old


def test_rerunning_an_older_day_changes_nothing(nightly):
    """Re-materialising yesterday after tonight re-ingests its files: only their ingestion
    time may change, and the newer night's versions must survive."""
    _, wh, _, night, run = nightly
    run("--start", str(night - timedelta(days=1)), "--end", str(night - timedelta(days=1)))
    assert _differences(wh, "after_night", ignore=("_ingested_at", "last_ingested_at")) == {}
    _snapshot(wh, "after_rerun")


def test_full_refresh_equals_the_nightly_sequence(nightly):
    _, wh, _, _, run = nightly
    proc = run("--full-refresh")
    assert "full refresh" in proc.stdout
    assert _differences(wh, "after_rerun") == {}

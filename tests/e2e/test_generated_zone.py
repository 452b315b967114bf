"""Generator → `siyu run` → marts, scored against the generator's ground truth; and the nightly
increments against full builds (issues 7 and 19), on one generated zone:

1. warehouse A: a full build of every landed day but the last, then the nightly run of the
   last day — the state every other test here checks (so identity quality, reconciliation and
   the member marts are all checked on an incrementally built warehouse); BI readers query the
   serving database while that night runs;
2. warehouse B, fresh: one full build of every day, run beside A's sequence (each `siyu run` is
   mostly fixed cost). A equals B row for row in every staging, intermediate and mart table,
   *member_id included*: member ids are a function of the data. The night must merge and split
   members, or this proves nothing (the first test checks it): the zone is generated with more
   phone changes, multi-channel people and late phone authorisations than the defaults;
3. on A, a re-run of the day before (an older partition re-materialised on top of a newer
   night: its files are re-ingested, nothing may double or go stale);
4. on A, `siyu run --full-refresh` (every derived table rebuilt from the whole raw history).

Every table of `marts`, `intermediate` and the staging tables must hold exactly the same rows
(multiset equality) after 1, 2, 3 (up to the re-ingested rows' ingestion time) and 4.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg
import pytest

from benchmarks.score_identity import score
from pipelines.lib.platform.warehouse import connect, open_connection
from pipelines.lib.privacy.keys import key_path, name_key
from siyu_generator import generate
from siyu_generator.config import GeneratorConfig
from tests.e2e.runs import BIReaders

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


#: the schemas whose tables a night may change incrementally or rebuild
COMPARED_SCHEMAS = ("marts", "intermediate", "staging")
#: when a row was loaded, not what it says: differs between two warehouses of the same zone
INGESTION_TIMES = ("_ingested_at", "last_ingested_at")
#: what the nights did, which one full build did not do: the merges and splits the nights
#: logged, and the audience history, which accumulates the lists of the nights that ran
#: (docs/activation.md: the one table where a sequence of nights is not a full build)
NIGHT_LOGS = {"marts.member_id_merges", "marts.member_id_splits",
              "marts.member_audience_spells", "marts.audience_lift"}


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    placeholders = ", ".join("?" for _ in COMPARED_SCHEMAS)
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_type IN ('BASE TABLE', 'VIEW') AND table_schema IN ({placeholders}) "
        "ORDER BY 1, 2", list(COMPARED_SCHEMAS)).fetchall()


def _snapshot(wh: Path, into: str) -> None:
    with connect(wh) as con:
        for schema, table in _tables(con):
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{into}_{schema}"')
            con.execute(f'CREATE OR REPLACE TABLE "{into}_{schema}"."{table}" AS '
                        f'SELECT * FROM "{schema}"."{table}"')


def _compare(con, tables: list[tuple[str, str]], other, ignore: tuple[str, ...] = (),
             skip: frozenset[str] | set[str] = frozenset()) -> dict[str, tuple[int, int, int]]:
    """table → (rows here, rows only here, rows only in `other(schema, table)`), for the tables
    that differ; columns named in `ignore` and tables named in `skip` are left out."""
    out: dict[str, tuple[int, int, int]] = {}
    for schema, table in tables:
        if f"{schema}.{table}" in skip:
            continue
        cols = ", ".join(f'"{c}"' for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
            "current_database() AND table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position", [schema, table]).fetchall() if c not in ignore)
        a = f'SELECT {cols} FROM "{schema}"."{table}"'
        b = f"SELECT {cols} FROM {other(schema, table)}"
        only_a = con.execute(f"SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))").fetchall()[0][0]
        only_b = con.execute(f"SELECT count(*) FROM (({b}) EXCEPT ALL ({a}))").fetchall()[0][0]
        if only_a or only_b:
            rows = con.execute(f"SELECT count(*) FROM ({a})").fetchall()[0][0]
            out[f"{schema}.{table}"] = (rows, only_a, only_b)
    return out


def _differences(wh: Path, snapshot: str, ignore: tuple[str, ...] = ()) -> dict[str, tuple[int, int, int]]:
    """`_compare` of the warehouse's tables with their snapshot (`_snapshot`)."""
    with connect(wh, read_only=True) as con:
        tables = _tables(con)
        snap = {(s.removeprefix(f"{snapshot}_"), t) for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE ?", [f"{snapshot}_%"]).fetchall()}
        assert set(tables) == snap, set(tables) ^ snap
        return _compare(con, tables, lambda s, t: f'"{snapshot}_{s}"."{t}"', ignore)


#: Identity changes often enough that the night merges and splits members: every POS card
#: changes its phone once, more people use several channels, every mini-program user authorises
#: a phone and gets a unionid later. No WeCom contact is deleted: a deleted contact that founded
#: its member is the documented case where the nights keep an id a rebuild would not mint
#: (docs/architecture.md, OneID; tests/unit/test_oneid.py covers it). Malformed rows stay at
#: the default rate: quarantine is checked here too.
CONFIG = replace(GeneratorConfig(), p_phone_change=1.0, p_wecom_deleted=0.0,
                 p_mp_phone_later=1.0, p_unionid_backfill=1.0,
                 channel_count_weights=(0.3, 0.35, 0.2, 0.15))
MEMBERS, DAYS, SEED = 4000, 90, 11


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("generated")
    zone, wh, full_wh = tmp / "zone", tmp / "wh" / "siyu.duckdb", tmp / "full" / "wh" / "siyu.duckdb"
    generate(zone, members=MEMBERS, days=DAYS, seed=SEED, config=CONFIG)
    env = _env(wh, zone)
    days = sorted({date.fromisoformat(p.name[3:])
                   for p in (zone / "landing").glob("*/*/dt=*") if p.is_dir()})
    night = days[-1]
    full_wh.parent.mkdir(parents=True)
    # one deployment, one name key (pipelines/lib/privacy/keys.py): A's key file, made the way
    # the first ingestion makes it, copied beside B's warehouse
    key_path(full_wh).parent.mkdir(mode=0o700, parents=True)
    name_key(wh)
    shutil.copy2(key_path(wh), key_path(full_wh))
    # B publishes to a serving database of its own: A's BI readers must see A's publishes only
    full_env = {**_env(full_wh, zone), **_own_serving()}
    log = (tmp / "full.log").open("w")
    full_run = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--start", str(days[0]), "--end", str(night)],
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _run(env, "--start", str(days[0]), "--end", str(night - timedelta(days=1)))
        # BI reads the serving database while the night runs (issue 20): see
        # test_bi_readers_were_never_failed_nor_shown_a_mix
        from pipelines.lib.serving import ensure_running

        server = ensure_running()
        with BIReaders(server.role_urls["siyu_bi"]) as readers:
            _run(env, "--start", str(night), "--end", str(night))
        with psycopg.connect(server.url) as pg:  # the publishes of A: the full build, the night
            totals = [float(t["bi.orders"]["net_amount"]) for (t,) in pg.execute(
                "SELECT totals FROM serving.publishes ORDER BY publish_id").fetchall()]
        READERS.append((readers, totals))
        _snapshot(wh, "after_night")
        assert full_run.wait(timeout=1200) == 0, (tmp / "full.log").read_text()[-4000:]
    finally:
        if full_run.poll() is None:
            full_run.kill()
            full_run.wait()
        log.close()
        subprocess.run([sys.executable, "-m", "pipelines.cli", "serving", "stop"], cwd=ROOT,
                       env=full_env, capture_output=True, timeout=120)
        shutil.rmtree(Path(full_env["SIYU_SERVING_DIR"]).parent, ignore_errors=True)
    return zone, wh, full_wh


def _own_serving() -> dict[str, str]:
    """Another embedded serving PostgreSQL (a folder made with mkdtemp, as tests/conftest.py
    does for each worker, and a free port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="siyu-test-serving-"))
    return {"SIYU_SERVING_DIR": str(root / "serving"), "SIYU_SERVING_PORT": str(port)}


#: the BI readers that ran during the night (filled by the fixture)
READERS: list = []


def test_bi_readers_were_never_failed_nor_shown_a_mix(built):
    """Two readers (role siyu_bi, single statements) queried the served order total in a loop
    while the night ran: no query failed, and every answer was the total of one whole publish
    (serving.publishes records each publish's totals), last night's and then tonight's."""
    readers, totals = READERS[0]
    assert readers.errors == [] and len(readers.sums) > 50, readers.errors[:3]
    assert len(totals) >= 2 and totals[-1] != totals[-2]
    assert {float(x) for x in readers.sums} <= set(totals[-2:])
    assert float(readers.sums[0]) == totals[-2] and float(readers.sums[-1]) == totals[-1]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    return proc


def _env(wh: Path, zone: Path) -> dict[str, str]:
    return {**os.environ, "SIYU_DATA_DIR": str(zone), "SIYU_WAREHOUSE": str(wh),
            "DAGSTER_HOME": str(wh.parent.parent / "home")}


def test_the_night_merged_and_split_members(built):
    _, wh, _ = built
    night = _last_night(wh)
    with duckdb.connect(str(wh), read_only=True) as con:
        merges = con.execute("SELECT count(*) FROM marts.member_id_merges WHERE merged_at = ?",
                             [night]).fetchall()[0][0]
        splits = con.execute("SELECT count(*) FROM marts.member_id_splits WHERE split_at = ?",
                             [night]).fetchall()[0][0]
    assert merges > 0 and splits > 0, (
        f"the night {night} logged {merges} merges and {splits} splits: pick a seed whose last "
        "night merges and splits members")


def test_nightly_build_equals_a_fresh_full_build_including_member_ids(built):
    """Every staging, intermediate and mart table of A (first build, then the night) equals B's
    (one full build in a fresh warehouse), every column, member_id included, but the nights'
    logs (NIGHT_LOGS) and the ingestion times."""
    _, wh, full_wh = built
    assert _full_vs_nightly(wh, full_wh) == {}


def _full_vs_nightly(wh: Path, full_wh: Path) -> dict[str, tuple[int, int, int]]:
    """`_compare` of A's tables with B's, but the nights' logs and the ingestion times (when a
    file was loaded, not what it says)."""
    with connect(wh, read_only=True) as con:
        tables = _tables(con)  # before the ATTACH: information_schema lists every catalog
        assert {"marts", "intermediate", "staging"} == {t[0] for t in tables}
        con.execute(f"ATTACH '{full_wh}' AS full_build (READ_ONLY)")
        return _compare(con, tables, lambda s, t: f'full_build."{s}"."{t}"', INGESTION_TIMES,
                        NIGHT_LOGS)


def test_every_member_id_is_minted_from_its_recorded_founder(built):
    """The invariant behind the equality, on both builds: every member has exactly one
    identifier flagged as its founder, and its id is mint(founder)."""
    from pipelines.lib.identity import mint_id

    _, wh, full_wh = built
    for warehouse in (wh, full_wh):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            founders = con.execute(
                "SELECT member_id, id_type, id_value FROM identity.member_id_assignments "
                "WHERE is_founder").fetchall()
            members = con.execute("SELECT count(*) FROM identity.members").fetchall()[0][0]
        assert len(founders) == len({m for m, _, _ in founders}) == members > 0
        assert [f for f in founders if f[0] != mint_id(f"{f[1]}\x1f{f[2]}")] == []


def test_identity_quality_against_truth(built):
    zone, wh, _ = built
    s = score(zone, wh)
    assert s["precision"] >= 0.99, s
    assert s["recall"] >= 0.98, s


def test_group_spells_reconcile_with_the_truth(built):
    """Every WeCom customer-group spell the generator planned (`_truth/group_spells.csv`,
    exact times) is in marts.member_group_spells exactly once with the same member, group and
    join, and nothing else is: left_at equal where the data says it exactly (a delivered leave
    callback or the dismissal), else the start of the leave's day (the first list without the
    member); quit_scene from the callback, else unknown."""
    zone, wh, _ = built
    con = open_connection(wh, read_only=True)
    con.execute(f"""CREATE TEMP TABLE truth AS SELECT * FROM read_csv(
        '{zone / "_truth" / "group_spells.csv"}', header = true, all_varchar = true)""")
    expected = """
        SELECT t.chat_id, i.member_id, CAST(t.joined_at AS TIMESTAMP) AS joined_at,
               CASE WHEN t.left_at_exact = 'true' THEN CAST(t.left_at AS TIMESTAMP)
                    ELSE date_trunc('day', CAST(t.left_at AS TIMESTAMP)) END AS left_at,
               CASE WHEN t.left_at IS NULL THEN NULL
                    WHEN t.left_at_exact = 'true' THEN t.quit_scene ELSE 'unknown' END
                   AS quit_scene
        FROM truth t JOIN marts.member_identities i
          ON i.id_type = 'wecom_external_userid' AND i.id_value = t.external_userid"""
    got = ("SELECT chat_id, member_id, joined_at, left_at, quit_scene "
           "FROM marts.member_group_spells")
    n_truth = con.execute("SELECT count(*) FROM truth").fetchall()[0][0]
    assert n_truth > 200 and con.execute(f"SELECT count(*) FROM ({expected})").fetchall()[0][0] == n_truth
    missing = con.execute(f"({expected}) EXCEPT ALL ({got})").fetchall()
    extra = con.execute(f"({got}) EXCEPT ALL ({expected})").fetchall()
    assert (missing, extra) == ([], []), (missing[:5], extra[:5])
    left, day_only = con.execute(
        "SELECT count(left_at), count(*) FILTER (WHERE NOT left_at_exact AND left_at IS NOT NULL) "
        "FROM marts.member_group_spells").fetchall()[0]
    assert left > 10 and day_only > 0  # churn, and leaves known only to the day
    status = dict(con.execute("SELECT status, count(*) FROM marts.group_chats GROUP BY 1").fetchall())
    assert status.get("active", 0) > 0 and status.get("zombie", 0) > 0, status


def test_every_landed_row_is_accepted_or_quarantined(built):
    _, wh, _ = built
    con = open_connection(wh, read_only=True)
    bad = con.execute("SELECT count(*) FROM raw._load_log "
                      "WHERE rows_in <> rows_accepted + rows_rejected").fetchall()[0][0]
    assert bad == 0
    per_entity = con.execute(
        "SELECT channel || '__' || entity, sum(rows_accepted), sum(rows_rejected) "
        "FROM raw._load_log GROUP BY 1").fetchall()
    for name, accepted, rejected in per_entity:
        assert con.execute(f"SELECT count(*) FROM raw.{name}").fetchall()[0][0] == accepted
        q = con.execute("SELECT count(*) FROM quarantine.rejected_rows "
                        "WHERE channel || '__' || entity = ?", [name]).fetchall()[0][0]
        assert q == rejected
    assert con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchall()[0][0] > 0


def test_no_plaintext_mobile_anywhere(built):
    zone, wh, _ = built
    mobiles = set((zone / "_truth" / "plaintext_mobiles.txt").read_text().split())
    assert len(mobiles) > 1000
    con = open_connection(wh, read_only=True)
    cols = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                       "WHERE data_type = 'VARCHAR'").fetchall()
    digits = re.compile(r"[0-9０-９]")
    for schema, table, column in cols:
        # every run of 11 digits inside any value (separators removed), compared to the truth
        hits = con.execute(f"""
            SELECT DISTINCT m FROM (
              SELECT unnest(regexp_extract_all(
                regexp_replace(translate("{column}", '０１２３４５６７８９', '0123456789'),
                               '[ .()+-]', '', 'g'), '1[3-9][0-9]{{9}}')) AS m
              FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL
                AND NOT regexp_full_match("{column}", '[0-9a-f]{{64}}'))""").fetchall()
        leaked = {h for (h,) in hits} & mobiles
        assert not leaked, (schema, table, column, sorted(leaked)[:3])
    assert digits  # keep the import honest


def test_marts_reconcile_with_staging(built):
    _, wh, _ = built
    con = open_connection(wh, read_only=True)
    fct = con.execute("SELECT channel, count(*), sum(net_amount) FROM marts.fct_orders "
                      "GROUP BY 1 ORDER BY 1").fetchall()
    stg = dict(con.execute("""
        SELECT 'miniprogram', count(*) FROM staging.stg_miniprogram__orders UNION ALL
        SELECT 'tmall', count(*) FROM staging.stg_tmall__orders UNION ALL
        SELECT 'pos', count(*) FROM staging.stg_pos__orders WHERE order_type = 'sale' OR
          original_order_id NOT IN (SELECT order_id FROM staging.stg_pos__orders)""").fetchall())
    for channel, n, _ in fct:
        assert n == stg[channel], channel
    pos_net = con.execute("SELECT sum(net_amount) FROM marts.fct_orders WHERE channel='pos'"
                          ).fetchall()[0][0]
    pos_paid = con.execute("SELECT sum(paid_amount) FROM staging.stg_pos__orders").fetchall()[0][0]
    assert pos_net == pos_paid
    members = con.execute("SELECT count(*), count(DISTINCT member_id) FROM marts.dim_member"
                          ).fetchall()[0]
    assert members[0] == members[1] > 1000


def test_member_ltv_has_predictions_and_cohorts(built):
    _, wh, _ = built
    con = open_connection(wh, read_only=True)
    n, predicted, revenue = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE prediction_source = 'bgnbd_gamma_gamma'), "
        "sum(historical_net_revenue) FROM marts.member_ltv").fetchall()[0]
    assert n > 500 and predicted == n and revenue > 0
    buyers = con.execute("SELECT count(DISTINCT member_id) FROM marts.fct_orders "
                         "WHERE member_id IS NOT NULL AND paid_amount > 0").fetchall()[0][0]
    assert n == buyers
    size = con.execute("SELECT sum(cohort_size) FROM marts.ltv_cohorts "
                       "WHERE acquisition_channel = 'all' AND months_since_acquisition = 0"
                       ).fetchall()[0][0]
    assert size == n


def test_clv_fits_the_purchases_fct_orders_lists(built):
    """The CLV asset runs before the marts and joins buyers to members itself (one dbt
    invocation less a night): it must read exactly fct_orders' members' paid orders."""
    from pipelines.defs.ltv.assets import TRANSACTIONS_SQL

    _, wh, _ = built
    con = open_connection(wh, read_only=True)
    fct = ("SELECT member_id, CAST(ordered_at AS DATE) AS order_date, "
           "CAST(net_amount AS DOUBLE) AS value FROM marts.fct_orders "
           "WHERE member_id IS NOT NULL AND paid_amount > 0")
    clv = f"SELECT * FROM ({TRANSACTIONS_SQL}) AS t"
    n = con.execute(f"SELECT count(*) FROM ({clv}) AS t").fetchall()[0][0]
    assert n > 1000
    for a, b in ((fct, clv), (clv, fct)):
        assert con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b}) AS d").fetchall()[0][0] == 0


def test_member_value_marts_on_generated_data(built):
    _, wh, _ = built
    con = open_connection(wh, read_only=True)
    members = con.execute("SELECT count(*) FROM marts.dim_member").fetchall()[0][0]
    for table in ("member_tiers", "member_lifecycle", "member_profile"):
        assert con.execute(f"SELECT count(*) FROM marts.{table}").fetchall()[0][0] == members, table
    assert con.execute("SELECT count(*) FROM marts.member_rfm").fetchall()[0][0] == members * 3
    # the ledger reconciles with the orders: Σ floor(10 × net) over members' purchases
    ledger, orders = con.execute("""
        SELECT (SELECT sum(points) FROM marts.member_growth_ledger),
               (SELECT sum(floor(greatest(net_amount, 0) * 10)) FROM marts.fct_orders
                WHERE member_id IS NOT NULL AND paid_amount > 0)""").fetchall()[0]
    assert ledger == orders > 0
    # every tier and several segments and stages occur on realistic data
    assert {t for (t,) in con.execute("SELECT DISTINCT tier_code FROM marts.member_tiers").fetchall()} \
        == {"regular", "silver", "gold"}
    assert con.execute("SELECT count(DISTINCT segment_code) FROM marts.member_rfm "
                       "WHERE window_days = 365 AND is_scored").fetchall()[0][0] == 8
    assert con.execute("SELECT count(DISTINCT lifecycle_stage) FROM marts.member_lifecycle"
                       ).fetchall()[0][0] >= 3
    # GMV tree telescopes on every row
    worst = con.execute("""SELECT max(abs(members * retention_rate * conversion_rate
                                   * repurchase_count * average_order_value - gmv))
                           FROM marts.gmv_drivers""").fetchall()[0][0]
    assert worst < 0.005


def test_member_value_distributions_in_dagster_metadata(built):
    import dagster as dg

    _, wh, _ = built
    with dg.DagsterInstance.from_config(str(wh.parent.parent / "home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["marts", "member_tiers"]))
        assert event is not None
        md = event.asset_materialization.metadata
        assert "| gold | 金卡 |" in md["tier_mix_latest"].value
        # the Vega-Lite chart is a picture the UI shows, not its JSON (lib/quality/charts.py)
        chart = md["tier_mix_chart"].value
        assert chart.startswith("![Tier mix](data:image/png;base64,iVBORw0KGgo"), chart[:80]
        rfm = instance.get_latest_materialization_event(dg.AssetKey(["marts", "member_rfm"]))
        assert "重要价值客户" in rfm.asset_materialization.metadata["rfm_segments_latest"].value
        life = instance.get_latest_materialization_event(dg.AssetKey(["marts", "member_lifecycle"]))
        assert "| introduction | 引入期 |" in life.asset_materialization.metadata["lifecycle_stages"].value


def _last_night(wh: Path) -> date:
    with connect(wh, read_only=True) as con:
        return con.execute("SELECT max(_dt) FROM raw.pos__orders").fetchall()[0][0]


def test_the_night_changed_old_orders_and_added_events(built):
    """The increment had real work: updates to orders sold before the night, and events."""
    _, wh, _ = built
    night = _last_night(wh)
    with connect(wh, read_only=True) as con:
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


def test_the_night_built_the_incremental_models_incrementally(built):
    """The night's dbt took the incremental path for the incremental models (delete+insert on
    last night's rows, dbt's standard way) instead of rebuilding them: without it every night
    would rebuild them in full (and the equality tests below would still pass)."""
    _, wh, _ = built
    run = wh.parent / ".dbt_target" / "duckdb" / "run" / "siyu" / "models"
    for path in ("staging/pos/stg_pos__orders.sql", "staging/miniprogram/stg_miniprogram__events.sql",
                 "intermediate/orders/int_orders__items_unioned.sql"):
        schema, model = path.split("/")[0], path.rsplit("/", 1)[1].removesuffix(".sql")
        assert f'delete from "siyu"."{schema}"."{model}"' in (run / path).read_text().lower(), path


def test_rerunning_an_older_day_changes_nothing(built):
    """Re-materialising yesterday after tonight re-ingests its files: only their ingestion
    time may change, and the newer night's versions must survive."""
    zone, wh, _ = built
    day = _last_night(wh) - timedelta(days=1)
    _run(_env(wh, zone), "--start", str(day), "--end", str(day))
    assert _differences(wh, "after_night", ignore=INGESTION_TIMES) == {}
    _snapshot(wh, "after_rerun")


def test_full_refresh_equals_the_nightly_sequence(built):
    zone, wh, _ = built
    proc = _run(_env(wh, zone), "--full-refresh")
    assert "full refresh" in proc.stdout
    assert _differences(wh, "after_rerun") == {}

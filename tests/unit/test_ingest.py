"""Ingestion on clean and dirty input: reconciliation, idempotency, file-level failures."""

from __future__ import annotations

import gzip
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.ingest.loader import load_entity
from pipelines.lib.ingest.readers import LandingFileError
from pipelines.lib.ingest.sinks import DuckDBSink
from pipelines.lib.ingest.specs import ENTITY_SPECS, SPECS_BY_NAME
from pipelines.lib.platform.warehouse import connect
from tests.conftest import INGESTED_AT, load_all
from tests.fixtures.handmade import EXPECTED

DAY = date(2024, 5, 1)


def counts(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_entity_parses_clean_and_dirty_rows(handmade: Path, tmp_path: Path, name: str):
    with connect(tmp_path / "w.duckdb") as con:
        r = load_entity(SPECS_BY_NAME[name], handmade, None, DuckDBSink(con), INGESTED_AT)
        assert (r.rows_in, r.accepted, r.rejected) == EXPECTED[name]
        assert not r.errors
        # per-file reconciliation: rows in file = accepted into raw + quarantined
        for f in r.files:
            assert f.rows_in == f.accepted + f.rejected
        assert counts(con, f"raw.{name}") == r.accepted
        q = con.execute(
            "SELECT count(*) FROM quarantine.rejected_rows WHERE channel || '__' || entity = ?",
            [name],
        ).fetchall()[0][0]
        assert q == r.rejected
        logged = con.execute(
            "SELECT sum(rows_in), sum(rows_accepted), sum(rows_rejected) FROM raw._load_log "
            "WHERE channel || '__' || entity = ?", [name]).fetchall()[0]
        assert tuple(logged) == EXPECTED[name]


def test_rejections_name_the_field_and_keep_the_line(handmade: Path, tmp_path: Path):
    load_all(handmade, tmp_path / "w.duckdb")
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT channel, entity, source_file, source_line, reason FROM quarantine.rejected_rows"
        ).fetchall()
    reasons = {(c, e, line): r for c, e, _, line, r in rows}
    assert reasons[("pos", "members", 4)].startswith("birthday: not a date")
    assert reasons[("pos", "members", 6)] == "member_card_no: required value is empty"
    assert reasons[("pos", "members", 7)].startswith("malformed CSV row: expected 7 fields, found 4")
    assert reasons[("pos", "orders", 5)].startswith("total_amount: not a decimal amount: 'abc'")
    assert reasons[("tmall", "orders", 4)].startswith("订单状态 (order_status): not one of")
    assert reasons[("miniprogram", "orders", 2)].startswith("items[1].quantity: not an integer")
    assert reasons[("miniprogram", "orders", 3)].startswith("malformed JSON line")
    assert all(f.startswith("landing/") for _, _, f, _, _ in rows)


def test_typed_values(handmade: Path, tmp_path: Path):
    load_all(handmade, tmp_path / "w.duckdb")
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        # Excel-wrapped id unwrapped; GBK decoded
        ids = {r[0] for r in con.execute("SELECT order_id FROM raw.tmall__orders").fetchall()}
        assert ids == {"3912345678901234", "3912345678901235"}
        # a full mobile in the masked column is masked at the door
        masked = con.execute(
            "SELECT receiver_mobile_masked FROM raw.tmall__orders WHERE order_id = '3912345678901235'"
        ).fetchall()[0][0]
        assert masked == "139****8002"
        # +08:00 and Z both become Shanghai wall-clock; epoch seconds too
        created = dict(con.execute("SELECT openid, created_at FROM raw.miniprogram__users").fetchall())
        assert str(created["o1"]) == "2024-05-01 10:00:00"
        assert str(created["o2"]) == "2024-05-01 10:00:00"
        follow = con.execute(
            "SELECT created_at, state FROM raw.wecom__external_contacts__follow_users").fetchall()
        assert str(follow[0][0]) == "2024-05-01 10:00:00" and follow[0][1] == "store_S01"
        statuses = dict(con.execute(
            "SELECT member_card_no, mobile_status FROM raw.pos__members").fetchall())
        assert statuses == {"C001": "valid", "C002": "valid", "C004": "invalid"}
        items = con.execute("SELECT order_no, position, sku, quantity, price "
                            "FROM raw.miniprogram__orders__items").fetchall()
        assert items == [("W1", 1, "SKU1", 1, 19900)]


def test_rerun_and_redelivery_replace_rather_than_duplicate(handmade: Path, tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    load_all(handmade, wh)
    with connect(wh, read_only=True) as con:
        before = {s.name: counts(con, f"raw.{s.name}") for s in ENTITY_SPECS}
        q_before = counts(con, "quarantine.rejected_rows")
    load_all(handmade, wh)  # same partition again
    # re-delivery: the same file name delivered again with one row changed
    p = handmade / "landing/pos/order_items/dt=2024-05-01/items.csv"
    p.write_text(p.read_text().replace("P2,1,SKU2,1,50.00,50.00", "P2,1,SKU2,1,45.00,45.00"))
    load_all(handmade, wh)
    with connect(wh, read_only=True) as con:
        after = {s.name: counts(con, f"raw.{s.name}") for s in ENTITY_SPECS}
        assert after == before
        assert counts(con, "quarantine.rejected_rows") == q_before
        amount = con.execute(
            "SELECT line_amount FROM raw.pos__order_items WHERE order_id = 'P2'").fetchall()
        assert [float(a[0]) for a in amount] == [45.0]


def test_other_days_untouched_when_one_day_fails(handmade: Path, tmp_path: Path):
    wh = tmp_path / "w.duckdb"
    day2 = handmade / "landing/pos/orders/dt=2024-05-02"
    day2.mkdir(parents=True)
    good = gzip.decompress((handmade / "landing/pos/orders/dt=2024-05-01/orders.csv.gz").read_bytes())
    (day2 / "orders.csv.gz").write_bytes(gzip.compress(good.replace(b"P1,", b"Q1,"))[:60])
    with connect(wh) as con:
        r = load_entity(SPECS_BY_NAME["pos__orders"], handmade, None, DuckDBSink(con), INGESTED_AT)
        assert r.dts_loaded == [DAY]
        assert len(r.errors) == 1
        assert "dt=2024-05-02/orders.csv.gz" in str(r.errors[0])
        assert "gzip" in str(r.errors[0])
        assert counts(con, "raw.pos__orders") == 3


@pytest.mark.parametrize(
    ("entity", "mutate", "message"),
    [
        ("tmall__orders", lambda b: b.decode("gbk").encode("utf-8"), "not valid GBK"),
        ("pos__members", lambda b: b.decode("utf-8-sig").encode("gbk"), "not valid UTF-8"),
        ("pos__members", lambda b: b.replace(b"registered_at", b"registered"),
         "missing required column(s) registered_at"),
    ],
)
def test_unreadable_files_fail_with_file_and_problem(handmade, tmp_path, entity, mutate, message):
    spec = SPECS_BY_NAME[entity]
    folder = handmade / "landing" / spec.channel / spec.entity / "dt=2024-05-01"
    f = next(folder.iterdir())
    f.write_bytes(mutate(f.read_bytes()))
    with connect(tmp_path / "w.duckdb") as con:
        r = load_entity(spec, handmade, None, DuckDBSink(con), INGESTED_AT)
    assert r.dts_loaded == [] and len(r.errors) == 1
    err = r.errors[0]
    assert isinstance(err, LandingFileError)
    assert f.name in str(err) and message in str(err)


def test_extra_column_is_ignored_with_warning(handmade, tmp_path):
    f = handmade / "landing/pos/order_items/dt=2024-05-01/items.csv"
    lines = f.read_text().splitlines()
    f.write_text("\n".join([lines[0] + ",promo_code"] + [x + ",X" for x in lines[1:]]) + "\n")
    with connect(tmp_path / "w.duckdb") as con:
        r = load_entity(SPECS_BY_NAME["pos__order_items"], handmade, None, DuckDBSink(con), INGESTED_AT)
        assert r.accepted == 3 and not r.errors
        assert any("promo_code" in w for w in r.warnings)
        cols = [c[0] for c in con.execute("DESCRIBE raw.pos__order_items").fetchall()]
        assert "promo_code" not in cols


@pytest.mark.parametrize("content", [b"", b"member_card_no,mobile,name,gender,birthday,store_id,registered_at\n"])
def test_empty_and_zero_byte_files_load_nothing_and_do_not_fail(handmade, tmp_path, content):
    folder = handmade / "landing/pos/members/dt=2024-05-02"
    folder.mkdir(parents=True)
    (folder / "members.csv").write_bytes(content)
    with connect(tmp_path / "w.duckdb") as con:
        r = load_entity(SPECS_BY_NAME["pos__members"], handmade, [date(2024, 5, 2)],
                        DuckDBSink(con), INGESTED_AT)
    assert not r.errors and r.rows_in == 0 and r.dts_loaded == [date(2024, 5, 2)]


def test_same_content_under_two_names_is_kept_for_staging_to_deduplicate(handmade, tmp_path):
    folder = handmade / "landing/pos/order_items/dt=2024-05-01"
    shutil.copy(folder / "items.csv", folder / "items-resend.csv")
    with connect(tmp_path / "w.duckdb") as con:
        r = load_entity(SPECS_BY_NAME["pos__order_items"], handmade, None, DuckDBSink(con), INGESTED_AT)
    assert r.accepted == 6 and len(r.files) == 2


def _all_varchar_values(con: duckdb.DuckDBPyConnection):
    tables = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR'"
    ).fetchall()
    for schema, table, column in tables:
        for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"').fetchall():
            if v is not None:
                yield f"{schema}.{table}.{column}", v


MOBILE_IN_TEXT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def test_no_plaintext_mobile_anywhere_in_the_warehouse(handmade, tmp_path):
    from pipelines.lib.privacy.phones import SEPARATORS, normalize_mobile

    wh = tmp_path / "w.duckdb"
    load_all(handmade, wh)
    with connect(wh, read_only=True) as con:
        for where, v in _all_varchar_values(con):
            if re.fullmatch(r"[0-9a-f]{64}", v):
                continue
            flat = v.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
            # every separator the normaliser drops (NBSP, tabs, em dashes …), not a copy of them
            stripped = "".join(c for c in flat if c not in SEPARATORS + "+")
            assert not MOBILE_IN_TEXT.search(stripped) or re.fullmatch(
                r"[0-9]{16,}", re.sub(r"[^0-9]", "", flat)), (where, v)
            assert normalize_mobile(v) is None, (where, v)


def test_an_entity_that_never_landed_still_gets_its_empty_tables(tmp_path):
    """A zone without mini-program orders or WeCom callbacks (a brand not using them yet):
    staging reads every raw table, so a missing one stopped the night at dbt (regression)."""
    from pipelines.lib.ingest.sinks import ParquetSink

    zone = tmp_path / "zone"
    (zone / "landing").mkdir(parents=True)
    with connect(tmp_path / "w.duckdb") as con:
        for spec in ENTITY_SPECS:
            r = load_entity(spec, zone, None, DuckDBSink(con), INGESTED_AT)
            assert (r.rows_in, r.files) == (0, [])
        tables = {t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
        assert {"miniprogram__orders", "miniprogram__orders__items", "wecom__contact_events",
                "wecom__external_contacts__follow_users__tags"} <= tables
        cols = [c for (c, *_) in con.execute("DESCRIBE raw.miniprogram__orders").fetchall()]
        assert cols[:3] == ["order_no", "openid", "created_at"] and "_ingested_at" in cols
    lake = tmp_path / "lake"
    load_entity(SPECS_BY_NAME["wecom__contact_events"], zone, None, ParquetSink(lake), INGESTED_AT)
    empty = lake / "raw" / "wecom__contact_events" / "_dt=__HIVE_DEFAULT_PARTITION__" / "part-0.parquet"
    import pyarrow.parquet as pq

    assert pq.read_table(empty).num_rows == 0 and "external_userid" in pq.read_schema(empty).names

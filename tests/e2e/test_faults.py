"""Fault injection against real `siyu run` processes on the hand-made zone (issue 6).

One module-scoped history, in order, so each full run is paid once:

1. a clean night (2024-05-01) — "yesterday's marts" (a copy of the session's hand-made run);
2. a corrupt delivery for 2024-05-02 (truncated gzip, GBK↔UTF-8, a renamed column, plus
   tolerated faults: extra column, JSON line cut in half, empty and 0-byte files, a duplicate
   delivery) — ingestion fails naming file and problem, the marts stay byte-identical;
3. the fixed delivery, but with the POS orders file in fen instead of yuan (a systemic fault:
   every row above the plausible order amount) — the rows are quarantined, the blocking
   `quarantine_share` check fails naming the file and the counts, nothing downstream runs,
   the marts stay byte-identical and queryable;
4. the corrected re-delivery (with ONE fen-as-yuan order left in it: a row fault, quarantined,
   the night goes on) plus a late file for the day already loaded — success, the late order is
   in the marts, quarantine and de-duplication counts are right;
5. a fresh warehouse on the same zone, SIGKILLed during ingestion and then during the dbt
   build, then run again (with a second writer bounced meanwhile) — identical to step 4.

Per-entity reading faults are unit-tested in tests/unit/test_ingest.py; here they are asserted
at the level of the run: exit code, message naming the file/field, counts, and the marts.

The serving PostgreSQL (this pytest process's own, tests/conftest.py) is checked on the way:
yesterday's night is published first; the two stopped nights leave every served table
byte-identical (checksums) and publish nothing; while the corrected night runs, two readers
query it in a loop and see no failed query and only whole publishes (issue 20).
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import psycopg
import pytest

from pipelines.lib.platform.warehouse import connect
from tests.conftest import copy_built
from tests.e2e.runs import BIReaders, descendants, kill_when, materialized, siyu, start_siyu
from tests.fixtures.warehouse_state import diff, table_hashes

pytestmark = pytest.mark.slow

DAY2 = "2024-05-02"
POS_ORDERS_HEADER = ("order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
                     "paid_amount,payment_method,order_type,original_order_id\n")
TMALL_ORDERS_HEADER = ("订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,"
                       "订单付款时间,收货人手机号,退款金额,店铺名称\n")
TMALL_MEMBERS_HEADER = "ouid,手机号哈希,入会时间,会员等级\n"
POS_MEMBERS = ("member_card_no,mobile,name,gender,birthday,store_id,registered_at\n"
               "C010,13800138010,孙八,F,1992-03-04,S02,2024-05-02 09:30:00\n")
TMALL_ORDERS = TMALL_ORDERS_HEADER + (
    "3912345678909999,tb_nick9,OU2,88.00,88.00,交易成功,2024-05-02 12:00:00,"
    "2024-05-02 12:01:00,139****0002,0.00,旗舰店\n")
MP_ORDER = {"order_no": "W20", "openid": "o2", "created_at": "2024-05-02T10:00:00+08:00",
            "paid_at": "2024-05-02T10:01:00+08:00", "status": "PAID", "total_fee": 5000,
            "discount_fee": 0, "payer_total": 5000, "refund_fee": 0, "store_id": None,
            "items": [{"sku": "SKU2", "quantity": 1, "price": 5000}]}
WECOM_EVENT = {"ChangeType": "edit_external_contact", "UserID": "staff1", "ExternalUserID": "wm2",
               "State": "", "CreateTime": 1714615200}
#: schemas compared between histories; the identity history keeps versions per as_of day, and
#: the histories legitimately ran different days, so only the current identity state counts
COMPARED = ("raw", "quarantine", "marts", "ltv", "identity")
#: … and the audience history (issue 24) records the lists of the nights that ran: a run over
#: both days records day 2's lists only, two nights record both (docs/activation.md), and the
#: lift is computed from those entries
HISTORY_TABLES = {"identity.assignment_history", "identity.member_history",
                  "identity.snapshot_days", "marts.member_audience_spells",
                  "marts.audience_lift",
                  # surrogate keys, handed out as identifiers first arrive and never renumbered:
                  # a killed night's keys stay. Internal to the identity step (no id depends on
                  # them: tests/unit/test_identity_compact.py); its identifiers are compared
                  # below. The persisted identity graph is in those keys (and equals a full
                  # night's: tests/unit/test_identity_incremental.py)
                  "identity.identifier_keys", "identity.graph_nodes", "identity.graph_edges",
                  "identity.graph_capped"}


def _pos_orders(in_fen: bool = False) -> str:
    """Day 2's receipts; `in_fen`: the whole file in fen (a till export in the wrong unit)."""
    scale = 100 if in_fen else 1
    rows = [("P20", "S01", "C002", "11:00", 120), ("P21", "S02", "", "15:00", 30)]
    rows += [(f"P3{i}", "S01", "", f"16:{i:02d}", 800 + i) for i in range(12)]
    text = "".join(f"{oid},{store},{card},2024-05-02 {hm}:00,{a * scale:.2f},0.00,"
                   f"{a * scale:.2f},cash,sale,\n" for oid, store, card, hm, a in rows)
    # one order typed in fen among good ones: a row fault, quarantined, the night goes on
    return POS_ORDERS_HEADER + text + "P22,S02,,2024-05-02 17:00:00,990000.00,0.00,990000.00,cash,sale,\n"


def _tmall_members(renamed: bool = False) -> str:
    from pipelines.lib.privacy.phones import hash_mobile

    header = TMALL_MEMBERS_HEADER.replace("入会时间", "入会日期") if renamed else TMALL_MEMBERS_HEADER
    return header + f"OU3,{hash_mobile('13900138003')},2024-05-02 09:00:00,1\n"


def _put(zone: Path, rel: str, data: bytes) -> Path:
    p = zone / "landing" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _deliver_day2(zone: Path, corrupt: bool, in_fen: bool = False) -> None:
    """Day 2 for every entity; `corrupt` breaks four files in ways that must stop ingestion."""
    orders = gzip.compress(_pos_orders(in_fen).encode(), mtime=0)
    _put(zone, f"pos/orders/dt={DAY2}/orders.csv.gz", orders[: len(orders) // 2] if corrupt else orders)
    _put(zone, f"tmall/orders/dt={DAY2}/orders.csv",
         TMALL_ORDERS.encode("utf-8" if corrupt else "gbk"))
    _put(zone, f"pos/members/dt={DAY2}/members.csv", POS_MEMBERS.encode("gbk" if corrupt else "utf-8"))
    _put(zone, f"tmall/members/dt={DAY2}/members.csv", _tmall_members(renamed=corrupt).encode("gbk"))
    # tolerated: an extra column, a JSON line cut in half, an empty and a 0-byte file, a resend
    _put(zone, f"pos/order_items/dt={DAY2}/items.csv",
         b"order_id,line_no,sku,quantity,unit_price,line_amount,promo_code\n"
         b"P20,1,SKU1,1,120.00,120.00,X1\nP21,1,SKU2,1,30.00,30.00,\n")
    good = json.dumps(MP_ORDER, ensure_ascii=False)
    _put(zone, f"miniprogram/orders/dt={DAY2}/orders.jsonl", (good + "\n" + good[:40] + "\n").encode())
    _put(zone, f"tmall/order_items/dt={DAY2}/items.csv", "订单编号,商品编码,商品标题,购买数量,价格,退款状态\n".encode("gbk"))
    _put(zone, f"miniprogram/events/dt={DAY2}/events.jsonl", b"")
    event = (json.dumps(WECOM_EVENT) + "\n").encode()
    _put(zone, f"wecom/contact_events/dt={DAY2}/events.jsonl", event)
    _put(zone, f"wecom/contact_events/dt={DAY2}/events-resend.jsonl", event)


def _rows(wh: Path, sql: str) -> list[tuple]:
    with connect(wh, read_only=True) as con:
        return con.execute(sql).fetchall()


def _serving_checksums(url: str) -> dict[str, str]:
    """md5 of every served table's rows (sorted), and the publish log."""
    with psycopg.connect(url, autocommit=True) as pg:
        tables = pg.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_schema IN ('marts', 'bi', 'serving')").fetchall()
        return {f"{s}.{t}": pg.execute(
            f'SELECT md5(coalesce(string_agg(x::text, \'|\' ORDER BY x::text), \'\')) '
            f'FROM "{s}"."{t}" x').fetchall()[0][0] for s, t in sorted(tables)}


@pytest.fixture(scope="module")
def history(tmp_path_factory, built) -> dict:
    from pipelines.lib.serving import ensure_running, publish, served_from_duckdb

    tmp = tmp_path_factory.mktemp("faults")
    night1 = copy_built(built, tmp)  # the clean night: the session's hand-made run, copied
    zone, wh, home = night1.zone, night1.warehouse, night1.dagster_home
    server = ensure_running()  # this process's serving database (tests/conftest.py)
    with connect(wh, read_only=True) as con:  # yesterday's night, published
        publish(con, server.url, served_from_duckdb(con), run_id="yesterday", as_of=None)
    return {"tmp": tmp, "zone": zone, "wh": wh, "home": home, "server": server,
            "yesterday": table_hashes(wh, ("marts",)),
            "served": _serving_checksums(server.url)}


def test_corrupt_delivery_fails_ingestion_naming_files_and_keeps_marts(history):
    zone, wh = history["zone"], history["wh"]
    _deliver_day2(zone, corrupt=True)
    proc = siyu("run", data_dir=zone, warehouse=wh, home=history["home"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "FAILED" in out
    for fragment in ("orders.csv.gz", "tmall/orders", "not valid GBK", "pos/members",
                     "not valid UTF-8", "missing required column(s) 入会时间"):
        assert fragment in out, (fragment, out[-4000:])
    assert table_hashes(wh, ("marts",)) == history["yesterday"]
    # tolerated faults loaded: the half JSON line is quarantined with its reason, the extra
    # column is dropped, the 0-byte and header-only files load nothing
    assert _rows(wh, f"SELECT reason FROM quarantine.rejected_rows WHERE dt = '{DAY2}'") == [
        ("malformed JSON line (not a complete JSON object)",)]
    cols = {r[0] for r in _rows(wh, "DESCRIBE raw.pos__order_items")}
    assert "promo_code" not in cols
    assert _rows(wh, f"SELECT count(*) FROM raw.pos__order_items WHERE _dt = '{DAY2}'") == [(2,)]
    # the day-1 rows of the entities whose day-2 file failed are still there
    assert _rows(wh, "SELECT count(*) FROM raw.pos__orders") == [(3,)]
    assert _serving_checksums(history["server"].url) == history["served"]


def test_a_file_in_the_wrong_unit_blocks_the_night_and_keeps_yesterdays_marts(history):
    zone, wh = history["zone"], history["wh"]
    _deliver_day2(zone, corrupt=False, in_fen=True)
    proc = siyu("run", data_dir=zone, warehouse=wh, home=history["home"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    # the blocking check names the file, the rule and the counts
    assert "failed blocking check: raw/pos__orders:quarantine_share" in out, out[-3000:]
    assert "landing/pos/orders/dt=2024-05-02/orders.csv.gz: 13 of 15 rows quarantined" in out
    assert "paid_amount: above the largest plausible order" in out
    report = (wh.parent / "reports" / "latest.md").read_text()
    assert "| raw/pos__orders | quarantine_share | failed | " in report and "FAILED" in report
    assert table_hashes(wh, ("marts",)) == history["yesterday"]
    assert _rows(wh, "SELECT count(*) FROM bi.orders") == _rows(wh, "SELECT count(*) FROM marts.fct_orders")
    # what BI reads did not move: every served table and the publish log byte-identical
    assert _serving_checksums(history["server"].url) == history["served"]


def test_corrected_redelivery_and_late_file_are_published(history):
    zone, wh = history["zone"], history["wh"]
    _deliver_day2(zone, corrupt=False)
    _put(zone, "pos/orders/dt=2024-05-01/orders-late.csv",
         (POS_ORDERS_HEADER + "P9,S02,C004,2024-05-01 20:00:00,40.00,0.00,40.00,cash,sale,\n").encode())
    server = history["server"]
    with BIReaders(server.role_urls["siyu_bi"]) as readers:
        proc = siyu("run", data_dir=zone, warehouse=wh, home=history["home"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # BI was never dark and never saw a mix: zero failed queries, every answer the total of
    # one whole publish (yesterday's, then tonight's)
    with psycopg.connect(server.url) as pg:
        published = [t for (t,) in pg.execute(
            "SELECT totals FROM serving.publishes ORDER BY publish_id").fetchall()]
    totals = [p["bi.orders"]["net_amount"] for p in published]
    assert readers.errors == [] and len(readers.sums) > 20, readers.errors[:3]
    assert {float(x) for x in readers.sums} <= {float(t) for t in totals[-2:]}, totals
    assert float(readers.sums[-1]) == float(totals[-1]) != float(totals[-2])
    paid = dict(_rows(wh, "SELECT order_key, paid_amount FROM marts.fct_orders"))
    assert paid["pos:P20"] == 120 and paid["pos:P9"] == 40  # corrected, and the late order
    # the one order typed in fen is a row fault: quarantined with its reason, not published
    assert "pos:P22" not in paid
    assert _rows(wh, f"SELECT reason FROM quarantine.rejected_rows WHERE dt = '{DAY2}' "
                     "AND entity = 'orders' AND channel = 'pos'") == [(
        "paid_amount: above the largest plausible order (50000 yuan, var max_order_amount_yuan): "
        "a unit error such as fen delivered as yuan '990000.00'",)]
    assert {"tmall:3912345678909999", "miniprogram:W20", "pos:P21"} <= paid.keys()
    # reconciliation: every accepted raw order of every channel is one fct_orders row
    raw = _rows(wh, "SELECT (SELECT count(DISTINCT order_id) FROM raw.pos__orders WHERE order_type = 'sale')"
                " + (SELECT count(DISTINCT order_id) FROM raw.tmall__orders)"
                " + (SELECT count(DISTINCT order_no) FROM raw.miniprogram__orders)")[0][0]
    assert len(paid) == raw
    # the duplicate WeCom delivery counts once; the half JSON line stays quarantined
    assert _rows(wh, f"SELECT count(*) FROM staging.stg_wecom__contact_events WHERE _dt = '{DAY2}'") == [(1,)]
    assert _rows(wh, "SELECT count(*) FROM quarantine.rejected_rows WHERE reason LIKE 'malformed JSON%'") == [(2,)]
    report = (wh.parent / "reports" / "latest.md").read_text()
    assert "SUCCESS" in report and "promo_code" in report  # the extra column, as a warning
    assert "| miniprogram/orders | malformed JSON line (not a complete JSON object) | 2 |" in report
    history["recovered"] = {k: v for k, v in table_hashes(wh, COMPARED).items()
                            if k not in HISTORY_TABLES}


def test_sigkill_in_ingestion_and_in_dbt_then_rerun_is_identical(history):
    assert "recovered" in history, "needs the recovered history of the previous test"
    zone, tmp = history["zone"], history["tmp"]
    wh, home = tmp / "wh2" / "siyu.duckdb", tmp / "home2"
    # the same name key as the history compared with (a moved warehouse takes its key along:
    # docs/quality-and-privacy.md, "Names"); another key hashes raw.pos__members' names apart
    shutil.copytree(history["wh"].parent / "keys", wh.parent / "keys")
    # 1. killed while ingesting: some raw entities written, others not
    proc = start_siyu("run", data_dir=zone, warehouse=wh, home=home)
    assert kill_when(proc, lambda: sum('"raw"' in k for k in materialized(home)) >= 4)
    assert not any("dbt" in c for _, c in descendants(proc.pid))
    # 2. killed while dbt builds the marts (identity resolved, the marts' dbt build running)
    proc = start_siyu("run", data_dir=zone, warehouse=wh, home=home)
    assert kill_when(proc, lambda: any('"identity"' in k for k in materialized(home))
                     and any(" build" in c and "dbt" in c for _, c in descendants(proc.pid)))
    # 3. run again; a second writer arriving while it runs is turned away and writes nothing
    proc = start_siyu("run", data_dir=zone, warehouse=wh, home=home)
    while not any("dbt" in c for _, c in descendants(proc.pid)) and proc.poll() is None:
        time.sleep(0.05)
    busy = siyu("run", data_dir=zone, warehouse=wh, home=tmp / "home3")
    out, _ = proc.communicate(timeout=900)
    assert busy.returncode == 1 and "warehouse busy" in busy.stdout + busy.stderr
    assert proc.returncode == 0, out[-4000:]
    after = {k: v for k, v in table_hashes(wh, COMPARED).items() if k not in HISTORY_TABLES}
    assert diff(after, history["recovered"]) == []
    keys = "SELECT id_type, id_value FROM identity.identifier_keys ORDER BY 1, 2"
    with connect(wh, read_only=True) as a, connect(history["wh"], read_only=True) as b:
        assert a.execute(keys).fetchall() == b.execute(keys).fetchall() != []

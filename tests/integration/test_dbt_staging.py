"""dbt staging over the hand-made landing zone plus a second day of re-deliveries.

Day 1 is `tests.fixtures.handmade`; day 2 (written here) re-delivers records with changes, so
the assertions can tell which version won: newest `dt`, then the later file, then the last
line; children (order items, follow users, tags, remark mobiles) from the parent's winning
delivery only; fen → yuan; the unified order status vocabulary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.platform.warehouse import connect, open_connection
from tests.conftest import load_all
from tests.dbt import DBT_DIR, dbt
from tests.fixtures.handmade import write_handmade

DAY2 = "2024-05-02"

TMALL_HEADER = "订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,订单付款时间,收货人手机号,退款金额,店铺名称\n"
TMALL_ORDERS_DAY2 = TMALL_HEADER + "".join(
    f"{oid},nick,OU1,{payable},{paid},{status},2024-05-01 08:00:00,{paid_at},138****8001,{refund},旗舰店\n"
    for oid, payable, paid, status, paid_at, refund in [
        # after-sale full refund of a completed order
        ('="3912345678901234"', "199.00", "199.00", "交易成功", "2024-05-01 08:01:00", "199.00"),
        # closed by a refund
        ("3912345678901235", "59.00", "59.00", "交易关闭", "2024-05-01 08:02:00", "59.00"),
        ("3912345678901237", "199.00", "199.00", "交易成功", "2024-05-02 08:01:00", "50.00"),
        ("3912345678901238", "99.00", "0.00", "等待买家付款", "", "0.00"),
        ("3912345678901239", "99.00", "99.00", "卖家已发货，等待买家确认", "2024-05-02 09:00:00", ""),
        ("3912345678901240", "99.00", "0.00", "交易关闭", "", "0.00"),
    ]
)


def _mp_order(order_no: str, status: str, items: list[dict], **fees) -> dict:
    base = {"order_no": order_no, "openid": "o1", "created_at": "2024-05-02T10:00:00+08:00",
            "paid_at": "2024-05-02T10:01:00+08:00", "status": status, "total_fee": 5997,
            "discount_fee": 0, "payer_total": 5997, "refund_fee": 0, "store_id": None,
            "items": items}
    return {**base, **fees}


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_day2(root: Path) -> None:
    def put(rel: str, text: str, encoding: str = "utf-8") -> None:
        p = root / "landing" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode(encoding))

    members = "member_card_no,mobile,name,gender,birthday,store_id,registered_at\n"
    # C001 moved store; C002 appears in two files of one day and twice in the later file
    put(f"pos/members/dt={DAY2}/a.csv",
        members + "C001,13800138011,张三,M,1990-01-02,S02,2024-05-01 10:00:00\n"
                  "C002,13900138002,李四,M,,S09,2024-05-01 11:00:00\n")
    put(f"pos/members/dt={DAY2}/b.csv",
        members + "C002,13900138002,李四,M,,S08,2024-05-01 11:00:00\n"
                  "C002,13900138002,李四,,,S02,2024-05-01 11:00:00\n")
    # P1's lines re-delivered: only line 2 now
    put(f"pos/order_items/dt={DAY2}/items.csv",
        "order_id,line_no,sku,quantity,unit_price,line_amount\nP1,2,SKU2,1,50.00,50.00\n")
    put(f"tmall/orders/dt={DAY2}/orders.csv", TMALL_ORDERS_DAY2, "gbk")
    put(f"tmall/order_items/dt={DAY2}/items.csv",
        "订单编号,商品编码,商品标题,购买数量,价格,退款状态\n"
        '="3912345678901234",SKU2,商品二,2,50.00,退款成功\n', "gbk")
    put(f"miniprogram/orders/dt={DAY2}/orders.jsonl", _jsonl([
        # W1 refunded, and re-delivered with a different item list
        _mp_order("W1", "REFUND", [{"sku": "SKU2", "quantity": 3, "price": 1999}],
                  created_at="2024-05-01T10:00:00+08:00", total_fee=19900, discount_fee=1000,
                  payer_total=18900, refund_fee=18900),
        _mp_order("W3", "NOTPAY", [{"sku": "SKU1", "quantity": 1, "price": 5997}],
                  paid_at=None, discount_fee=None, payer_total=None, refund_fee=None),
        _mp_order("W4", "PARTIAL_REFUND", [{"sku": "SKU1", "quantity": 1, "price": 5997}],
                  refund_fee=1999),
        _mp_order("W5", "CLOSED", [], paid_at=None, payer_total=0),
    ]))
    # the day-1 event file delivered again under another name and day
    put(f"miniprogram/events/dt={DAY2}/events-resent.jsonl", _jsonl([
        {"openid": "o1", "event": "view_item", "sku": "SKU1", "ts": "2024-05-01T10:00:00+08:00"},
    ]))
    # wm1: staff1 removed the contact, staff2 added it; gender now unknown (0)
    put(f"wecom/external_contacts/dt={DAY2}/contacts.jsonl", _jsonl([
        {"external_contact": {"external_userid": "wm1", "name": "张三", "type": 1, "gender": 0,
                              "unionid": "u1"},
         "follow_user": [{"userid": "staff2", "remark": "", "createtime": 1714615200,
                          "tags": [], "remark_mobiles": ["13800138001"], "add_way": 1,
                          "state": "campaign_618"}]},
    ]))
    put(f"wecom/contact_events/dt={DAY2}/events.jsonl", _jsonl([
        {"ChangeType": "add_external_contact", "UserID": "staff1", "ExternalUserID": "wm1",
         "State": "store_S01", "CreateTime": 1714528800},
        {"ChangeType": "del_follow_user", "UserID": "staff1", "ExternalUserID": "wm1",
         "CreateTime": 1714615200},
    ]))


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    tmp = tmp_path_factory.mktemp("dbt_staging")
    root = write_handmade(tmp / "zone")
    write_day2(root)
    warehouse = tmp / "w.duckdb"
    load_all(root, warehouse)
    proc = dbt("build", "--select", "staging", "source:raw", warehouse=warehouse, workdir=tmp)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "WARN=0 ERROR=0" in proc.stdout, proc.stdout[-4000:]
    con = open_connection(warehouse, read_only=True)
    yield con
    con.close()


def q(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_newest_dt_then_later_file_then_last_line_wins(staged):
    rows = dict(q(staged, "select member_card_no, registered_store_id from staging.stg_pos__members"))
    assert rows["C001"] == "S02"  # day 2 beats day 1
    assert rows["C002"] == "S02"  # b.csv beats a.csv, last line of b.csv beats its first
    assert rows["C004"] == "S02"  # only delivered on day 1: kept
    (gender, file, line), = q(staged, "select gender, _source_file, _source_line "
                                      "from staging.stg_pos__members where member_card_no = 'C002'")
    assert (gender, file.rsplit("/", 1)[-1], line) == ("unknown", "b.csv", 3)
    # one row per key everywhere
    assert q(staged, "select count(*), count(distinct order_id) from staging.stg_tmall__orders") == [(6, 6)]


def test_fen_to_yuan(staged):
    w1 = q(staged, "select gross_amount, discount_amount, paid_amount, refund_amount "
                   "from staging.stg_miniprogram__orders where order_id = 'W1'")
    assert w1 == [(Decimal("199.00"), Decimal("10.00"), Decimal("189.00"), Decimal("189.00"))]
    w3 = q(staged, "select discount_amount, paid_amount, refund_amount "
                   "from staging.stg_miniprogram__orders where order_id = 'W3'")
    assert w3 == [(Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))]
    types = dict(q(staged, "select column_name, data_type from information_schema.columns "
                           "where table_schema = 'staging' and table_name = 'stg_miniprogram__order_items'"))
    assert types["unit_price"] == types["line_amount"] == "DECIMAL(18,2)"


def test_status_mapping(staged):
    tmall = dict(q(staged, "select right(order_id, 3), order_status from staging.stg_tmall__orders"))
    assert tmall == {
        "234": "refunded", "235": "refunded", "237": "partially_refunded",
        "238": "pending", "239": "shipped", "240": "closed",
    }
    mp = dict(q(staged, "select order_id, order_status from staging.stg_miniprogram__orders"))
    assert mp == {"W1": "refunded", "W3": "pending", "W4": "partially_refunded", "W5": "closed"}
    pos = q(staged, "select order_id, order_status, order_type from staging.stg_pos__orders order by 1")
    assert pos == [("P1", "completed", "sale"), ("P2", "completed", "sale"), ("P3", "completed", "return")]
    src = dict(q(staged, "select order_id, source_status from staging.stg_miniprogram__orders"))
    assert src["W4"] == "PARTIAL_REFUND"


def test_children_follow_the_winning_parent_delivery(staged):
    # mini-program: W1's day-2 delivery lists other items
    assert q(staged, "select line_no, sku, quantity, unit_price, line_amount "
                     "from staging.stg_miniprogram__order_items where order_id = 'W1'") == [
        (1, "SKU2", 3, Decimal("19.99"), Decimal("59.97"))]
    assert q(staged, "select count(*) from staging.stg_miniprogram__order_items "
                     "where order_id = 'W5'") == [(0,)]
    # WeCom: staff1 (and its tag and mobiles) left with the day-1 response
    assert q(staged, "select staff_userid, store_id from staging.stg_wecom__follow_users "
                     "where external_userid = 'wm1'") == [("staff2", None)]
    assert q(staged, "select count(*) from staging.stg_wecom__follow_user_tags") == [(0,)]
    assert q(staged, "select staff_userid, mobile_status from "
                     "staging.stg_wecom__follow_user_remark_mobiles") == [("staff2", "valid")]
    assert q(staged, "select gender from staging.stg_wecom__external_contacts "
                     "where external_userid = 'wm1'") == [("unknown",)]
    # line files: an order's lines come from its newest delivery only
    assert q(staged, "select line_no, sku from staging.stg_pos__order_items "
                     "where order_id = 'P1'") == [(2, "SKU2")]
    assert q(staged, "select sku, line_amount from staging.stg_tmall__order_items "
                     "where order_id = '3912345678901234'") == [("SKU2", Decimal("100.00"))]


def test_events_delivered_twice_count_once(staged):
    assert q(staged, "select count(*) from staging.stg_miniprogram__events") == [(1,)]
    assert q(staged, "select change_type, store_id from staging.stg_wecom__contact_events "
                     "order by event_at") == [("add_external_contact", "S01"), ("del_follow_user", None)]


def test_day1_only_reference_and_genders(staged):
    assert q(staged, "select gender from staging.stg_pos__members where member_card_no = 'C001'") == [("male",)]
    assert q(staged, "select count(*) from staging.stg_reference__stores") == [(2,)]


def test_models_are_portable_sql():
    lint = DBT_DIR / "scripts" / "check_portable_sql.py"
    ok = subprocess.run([sys.executable, str(lint)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    sys.path.insert(0, str(lint.parent))
    try:
        from check_portable_sql import check_text
    finally:
        sys.path.remove(str(lint.parent))
    bad = "select a::int from {{ ref('x') }} qualify row_number() over (order by a) = 1 -- '::'"
    assert [f.rule.name for f in check_text(bad)] == ["double-colon-cast", "qualify"]
    assert check_text("select cast(a as int), '[::]' from t -- qualify") == []


SELECTED = ("staging", "int_orders__items_unioned")
KEYED_INCREMENTAL = ["stg_pos__members", "stg_pos__orders", "stg_pos__order_items",
                     "stg_tmall__members", "stg_tmall__orders", "stg_tmall__order_items",
                     "stg_miniprogram__orders", "stg_miniprogram__users",
                     "stg_wecom__external_contacts", "stg_miniprogram__events"]


def _staging_rows_differ(inc: Path, full: Path) -> dict[str, int]:
    """staging table (and the order lines built on them) → rows in one warehouse and not the
    other (multiset, both ways)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{inc}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{full}' AS rebuilt (READ_ONLY)")
    tables = [f"{r[0]}.{r[1]}" for r in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'rebuilt' "
        "AND (schema_name = 'staging' OR table_name = 'int_orders__items_unioned')").fetchall()]
    out = {}
    for t in tables:
        a, b = f"inc.{t}", f"rebuilt.{t}"
        out[t] = sum(con.execute(f"SELECT count(*) FROM (SELECT * FROM {x} EXCEPT ALL "
                                 f"SELECT * FROM {y})").fetchall()[0][0] for x, y in ((a, b), (b, a)))
    return out


def test_incremental_staging_equals_a_rebuild_after_new_and_corrected_days(tmp_path: Path):
    """Night 1, night 2 (new versions of known keys), then day 2 re-delivered without some
    keys: each keyed staging table must fall back to the day-1 version (C001, P1's lines) or
    drop the key (an order only day 2 had), exactly like a full rebuild of the same raw; so
    must the incremental order lines built on them (int_orders__items_unioned)."""
    from datetime import date, datetime

    root = write_handmade(tmp_path / "zone")
    inc = tmp_path / "inc.duckdb"
    load_all(root, inc, ingested_at=datetime(2024, 5, 2, 1, 0))
    proc = dbt("run", "--select", *SELECTED, warehouse=inc, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    write_day2(root)
    load_all(root, inc, dts=[date(2024, 5, 2)], ingested_at=datetime(2024, 5, 3, 1, 0))
    proc = dbt("run", "--select", *SELECTED, warehouse=inc, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with connect(inc, read_only=True) as con:
        assert q(con, "SELECT registered_store_id FROM staging.stg_pos__members "
                      "WHERE member_card_no = 'C001'") == [("S02",)]  # night 2 took day 2
        assert q(con, "SELECT sku FROM intermediate.int_orders__items_unioned "
                      "WHERE order_key = 'pos:P1'") == [("SKU2",)]

    # day 2 corrected: C001 and P1's lines no longer in it, order ...238 never existed
    landing = root / "landing"
    a = landing / f"pos/members/dt={DAY2}/a.csv"
    a.write_text("\n".join(line for line in a.read_text().splitlines()
                           if not line.startswith("C001")) + "\n")
    (landing / f"pos/order_items/dt={DAY2}/items.csv").write_text(
        "order_id,line_no,sku,quantity,unit_price,line_amount\n")
    orders = landing / f"tmall/orders/dt={DAY2}/orders.csv"
    orders.write_bytes("".join(line for line in orders.read_bytes().decode("gbk").splitlines(True)
                               if not line.startswith("3912345678901238")).encode("gbk"))
    load_all(root, inc, dts=[date(2024, 5, 2)], ingested_at=datetime(2024, 5, 4, 1, 0))
    proc = dbt("run", "--select", *SELECTED, warehouse=inc, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with connect(inc, read_only=True) as con:
        assert q(con, "SELECT registered_store_id, _dt FROM staging.stg_pos__members "
                      "WHERE member_card_no = 'C001'") == [("S01", date(2024, 5, 1))]
        assert q(con, "SELECT line_no FROM staging.stg_pos__order_items "
                      "WHERE order_id = 'P1' ORDER BY 1") == [(1,)]
        assert q(con, "SELECT count(*) FROM staging.stg_tmall__orders "
                      "WHERE order_id = '3912345678901238'") == [(0,)]
        assert q(con, "SELECT sku, quantity FROM intermediate.int_orders__items_unioned "
                      "WHERE order_key = 'pos:P1'") == [("SKU1", 2)]
        kinds = dict(q(con, "SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_schema = 'staging'"))
    assert all(kinds[t] == "BASE TABLE" for t in KEYED_INCREMENTAL)

    full = tmp_path / "full.duckdb"
    full.write_bytes(inc.read_bytes())
    proc = dbt("run", "--select", *SELECTED, "--full-refresh", warehouse=full, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    differ = _staging_rows_differ(inc, full)
    assert {f"staging.{t}" for t in KEYED_INCREMENTAL} <= set(differ)
    assert "intermediate.int_orders__items_unioned" in differ
    assert {t: n for t, n in differ.items() if n} == {}

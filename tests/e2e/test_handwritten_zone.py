"""A landing zone written by hand from the landing contract — not by `siyu generate` — through
`siyu run`, end to end (issue 19). Each case once stopped a night or split a person:

1. a POS return whose item line carries the minus sign on the price
   (`P4,1,SKU1,1,-100.00,-100.00`): contract-valid, it used to fail the blocking raw suite;
2. phones typed with no-break spaces (U+00A0, as Excel and web forms paste them) on a POS card
   and in WeCom `remark_mobiles`: they must hash like the same number typed plainly, so each
   person is ONE member;
3. a warehouse file named after one of the warehouse's schemas (`identity.duckdb`, given by
   the `--warehouse` flag alone; `siyu forget` and `siyu export` open it the same way —
   every other schema name is covered faster in tests/integration/test_warehouse_names.py);
4. a Tmall order paid 800 yuan and first delivered already refunded in full (`交易关闭`,
   `退款金额` 800): the refund reverses the upgrade it paid for — the member ends 普卡 with
   growth 0, not 金卡 until the next review day.

Plus one row fault (a POS sale with a negative amount) that is quarantined while the night goes
on. Every member id, identifier, growth value and tier below is computed by hand from the
rules in docs/member-value.md and the OneID minting rule (docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.identity import mint_id
from pipelines.lib.platform.warehouse import CATALOG, connect
from tests.e2e.runs import ROOT, env_for
from tests.integration.test_warehouse_names import WAREHOUSE_SCHEMAS

pytestmark = pytest.mark.slow

NBSP = "\u00a0"
D1, D2 = "2024-05-01", "2024-05-02"


def sha(mobile: str) -> str:
    return hashlib.sha256(mobile.encode()).hexdigest()


POS_MEMBERS = (
    "member_card_no,mobile,name,gender,birthday,store_id,registered_at\r\n"
    f"C100,137{NBSP}1807{NBSP}7735,张一,F,1990-02-03,S01,2024-05-01 10:00:00\r\n"
    "C200,139 1234 5678,王二,M,,S02,2024-05-01 11:00:00\r\n"
)
POS_ORDERS_D1 = (
    "order_id,store_id,member_card_no,order_time,total_amount,discount_amount,paid_amount,"
    "payment_method,order_type,original_order_id\r\n"
    "P1,S01,C100,2024-05-01 10:05:00,100.00,0.00,100.00,wechat,sale,\r\n"
    "P2,S02,C200,2024-05-01 11:05:00,650.00,0.00,650.00,cash,sale,\r\n"
    # a row fault: a sale cannot have negative amounts (quarantined, the night goes on)
    "P3,S02,C200,2024-05-01 11:06:00,-5.00,0.00,-5.00,cash,sale,\r\n"
)
POS_ITEMS_D1 = (
    "order_id,line_no,sku,quantity,unit_price,line_amount\r\n"
    "P1,1,SKU1,1,100.00,100.00\r\n"
    "P2,1,SKU2,13,50.00,650.00\r\n"
)
# day 2: P1 returned; its return line carries the minus sign on the PRICE (case 1)
POS_ORDERS_D2 = (
    "order_id,store_id,member_card_no,order_time,total_amount,discount_amount,paid_amount,"
    "payment_method,order_type,original_order_id\n"
    "P4,S01,C100,2024-05-02 15:00:00,-100.00,0.00,-100.00,wechat,return,P1\n"
)
POS_ITEMS_D2 = "order_id,line_no,sku,quantity,unit_price,line_amount\nP4,1,SKU1,1,-100.00,-100.00\n"
TMALL_MEMBERS = "ouid,手机号哈希,入会时间,会员等级\nOU1,{h},2024-04-20 09:00:00,1\n"
# case 4: first delivered (day 2) already closed with a full refund of the 800 yuan paid on day 1
TMALL_ORDERS_D2 = (
    "订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,订单付款时间,"
    "收货人手机号,退款金额,店铺名称\r\n"
    '="3900000000000001",tb_buyer,OU1,800.00,800.00,交易关闭,2024-05-01 20:00:00,'
    "2024-05-01 20:01:00,132****3399,800.00,旗舰店\r\n"
)
TMALL_ITEMS_D2 = "订单编号,商品编码,商品标题,购买数量,价格,退款状态\r\n" \
                 '"=""3900000000000001""",SKU1,面霜,4,200.00,退款成功\r\n'
MP_USERS = [{"openid": "o1", "unionid": None,
             "phone_info": {"phoneNumber": "+8613718077735", "purePhoneNumber": "13718077735",
                            "countryCode": "86"},
             "nickname": "一一", "created_at": "2024-05-01T12:00:00+08:00"}]
WECOM_CONTACTS = [{
    "external_contact": {"external_userid": "wm1", "name": "顾客", "type": 1, "gender": 2},
    "follow_user": [{"userid": "staff1", "remark": "", "createtime": 1714536000,
                     "tags": [], "remark_mobiles": [f"132{NBSP}0887{NBSP}3399"],
                     "add_way": 1, "state": "store_S01"}],
}]


def write_zone(root: Path) -> Path:
    def put(rel: str, text: str, encoding: str = "utf-8") -> None:
        p = root / "landing" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode(encoding))

    def jsonl(rows: list[dict]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows)

    put(f"pos/members/dt={D1}/members.csv", POS_MEMBERS)
    put(f"pos/orders/dt={D1}/orders.csv", POS_ORDERS_D1)
    put(f"pos/order_items/dt={D1}/items.csv", POS_ITEMS_D1)
    put(f"pos/orders/dt={D2}/orders.csv", POS_ORDERS_D2)
    put(f"pos/order_items/dt={D2}/items.csv", POS_ITEMS_D2)
    put(f"tmall/members/dt={D1}/members.csv", TMALL_MEMBERS.format(h=sha("13208873399")), "gbk")
    put(f"tmall/orders/dt={D2}/orders.csv", TMALL_ORDERS_D2, "gbk")
    put(f"tmall/order_items/dt={D2}/items.csv", TMALL_ITEMS_D2, "gbk")
    put(f"miniprogram/users/dt={D1}/users.jsonl", jsonl(MP_USERS))
    put(f"wecom/external_contacts/dt={D1}/contacts.jsonl", jsonl(WECOM_CONTACTS))
    ref = root / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "stores.csv").write_text("store_id,store_name,city,province,opened_at\n"
                                    "S01,南京西路店,上海,上海,2020-01-01\n"
                                    "S02,春熙路店,成都,四川,2021-06-01\n", encoding="utf-8")
    (ref / "products.csv").write_text("sku,product_name,category,list_price,unit_cost\n"
                                      "SKU1,面霜,护肤,200.00,60.00\n"
                                      "SKU2,口红,彩妆,50.00,15.00\n", encoding="utf-8")
    return root


HUBS = {"mobile_sha256", "wechat_unionid"}


def member_of(*identifiers: tuple[str, str]) -> str:
    """The id minted from the member's founder: accounts before hubs, then the day first
    delivered (day 1 for every identifier here), then type, then value."""
    founder = min(identifiers, key=lambda t: (t[0] in HUBS, t[0], t[1]))
    return mint_id("\x1f".join(founder))


A = (("pos_card", "C100"), ("mobile_sha256", sha("13718077735")), ("mp_openid", "o1"))
B = (("tmall_ouid", "OU1"), ("mobile_sha256", sha("13208873399")),
     ("wecom_external_userid", "wm1"))
C = (("pos_card", "C200"), ("mobile_sha256", sha("13912345678")))


def siyu(zone: Path, wh: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = env_for(zone, wh, home)
    del env["SIYU_WAREHOUSE"]  # the flag alone names the file
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--warehouse", str(wh)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("handwritten")
    zone = write_zone(tmp / "zone")
    wh = tmp / "wh" / "identity.duckdb"  # case 3: the file is named after a schema
    proc = siyu(zone, wh, tmp / "home", "run")
    return proc, wh, zone, tmp


def rows(wh: Path, sql: str) -> list[tuple]:
    with connect(wh, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_night_succeeds(run):
    proc, *_ = run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]


def test_each_person_is_one_member_with_the_id_computed_by_hand(run):
    _, wh, *_ = run
    got: dict[str, set] = {}
    for member_id, id_type, id_value in rows(
            wh, "SELECT member_id, id_type, id_value FROM marts.member_identities"):
        got.setdefault(member_id, set()).add((id_type, id_value))
    assert got == {member_of(*A): set(A), member_of(*B): set(B), member_of(*C): set(C)}


def test_tiers_and_growth_as_computed_by_hand(run):
    _, wh, *_ = run
    tiers = dict((m, (g, t)) for m, g, t in rows(
        wh, "SELECT member_id, growth_value, tier_code FROM marts.member_tiers"))
    assert tiers == {
        member_of(*A): (0, "regular"),  # P1 100 yuan = 1,000 points, returned in full (P4)
        member_of(*B): (0, "regular"),  # 800 yuan earned 8,000 (gold), refunded in full
        member_of(*C): (6500, "gold"),  # P2 650 yuan = 6,500 points ≥ 6,000
    }
    history = rows(wh, "SELECT tier_code, valid_from, valid_to, change_reason "
                       f"FROM marts.member_tier_history WHERE member_id = '{member_of(*B)}' "
                       "ORDER BY valid_from")
    assert [h[0] for h in history] == ["regular", "gold", "regular"]
    assert history[-1][3] == "refund_downgrade"


def test_the_return_line_with_a_negative_price_is_loaded_and_normalised(run):
    _, wh, *_ = run
    assert rows(wh, "SELECT quantity, unit_price, line_amount FROM staging.stg_pos__order_items "
                    "WHERE order_id = 'P4'") == [(-1, 100, -100)]
    assert rows(wh, "SELECT status, refund_amount, net_amount FROM marts.fct_orders "
                    "WHERE order_key = 'pos:P1'") == [("refunded", 100, 0)]


def test_the_row_fault_is_quarantined_with_its_reason(run):
    _, wh, *_ = run
    assert rows(wh, "SELECT source_file, source_line, reason FROM quarantine.rejected_rows") == [(
        f"landing/pos/orders/dt={D1}/orders.csv", 4,
        "total_amount: negative on a sale (a return is order_type=return) '-5.00'; "
        "paid_amount: negative on a sale (a return is order_type=return) '-5.00'")]


def test_the_warehouse_named_identity_holds_every_schema_under_the_catalog_siyu(run):
    _, wh, zone, tmp = run
    with connect(wh, read_only=True) as con:
        assert con.execute("SELECT current_database()").fetchall() == [(CATALOG,)]
        schemas = {r[0] for r in con.execute(
            "SELECT DISTINCT schema_name FROM information_schema.schemata "
            "WHERE catalog_name = current_database()").fetchall()}
    # the integration test covers every schema the run created
    assert "identity" in schemas
    assert schemas - {"information_schema", "pg_catalog"} <= set(WAREHOUSE_SCHEMAS)
    # the other commands open the same file the same way (run last: forget changes the data)
    export = siyu(zone, wh, tmp / "home", "export", "--out", str(tmp / "export"))
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    forget = siyu(zone, wh, tmp / "home", "forget", "--identifier", "pos_card:C200")
    assert forget.returncode == 0, forget.stdout[-2000:] + forget.stderr[-2000:]
    with connect(wh, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM privacy.erasure_requests").fetchall() == [(1,)]
        assert con.execute("SELECT count(*) FROM marts.member_tiers WHERE member_id = ?",
                           [member_of(*C)]).fetchall() == [(0,)]
    # and in the serving database BI reads, at once: member rows gone, orders kept as guests
    import psycopg

    from pipelines.lib.serving import ensure_running

    with psycopg.connect(ensure_running().url) as pg:
        assert pg.execute("SELECT count(*) FROM marts.dim_member WHERE member_id = %s",
                          [member_of(*C)]).fetchall() == [(0,)]
        assert pg.execute("SELECT count(*) FROM bi.orders WHERE member_id = %s",
                          [member_of(*C)]).fetchall() == [(0,)]
        # P1 and the Tmall order stay their members'; C200's P2 stays, as a guest's order
        assert pg.execute("SELECT count(*), count(member_id) FROM bi.orders").fetchall() == [(3, 2)]

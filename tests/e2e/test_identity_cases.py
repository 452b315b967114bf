"""OneID on hand-built identity cases, through ingestion, dbt and the identity asset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.platform.warehouse import open_connection
from pipelines.lib.privacy.phones import hash_mobile

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DT = "2024-06-01"


def _write(root: Path) -> None:
    def put(rel: str, text: str, enc: str = "utf-8") -> None:
        p = root / "landing" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode(enc))

    pos = ["member_card_no,mobile,name,gender,birthday,store_id,registered_at"]
    pos += ["V1,138 0013 8101,甲,F,,S01,2024-06-01 09:00:00",
            "I1,1380013810,乙,F,,S01,2024-06-01 09:00:00",
            "I2,1380013810,丙,M,,S01,2024-06-01 09:00:00",
            "Z1,13800138000,丁,F,,S01,2024-06-01 09:00:00",
            "Z2,13800138000,戊,M,,S01,2024-06-01 09:00:00",
            "P1,13500000001,己,F,,S01,2024-06-01 09:00:00",
            "T1,13300000001,庚,F,,S01,2024-06-01 09:00:00"]
    pos += [f"C{i},137-0000-0001,客{i},F,,S01,2024-06-01 10:0{i}:00" for i in range(1, 6)]
    put(f"pos/members/dt={DT}/m.csv", "\n".join(pos) + "\n")
    put(f"pos/orders/dt={DT}/o.csv", "order_id,store_id,member_card_no,order_time,total_amount,"
        "discount_amount,paid_amount,payment_method,order_type,original_order_id\n"
        "PO1,S01,V1,2024-06-01 11:00:00,10.00,0.00,10.00,cash,sale,\n")
    put(f"pos/order_items/dt={DT}/i.csv", "order_id,line_no,sku,quantity,unit_price,line_amount\n"
        "PO1,1,SKU1,1,10.00,10.00\n")
    put(f"tmall/members/dt={DT}/m.csv", "ouid,手机号哈希,入会时间,会员等级\n"
        f"OV,{hash_mobile('13800138101')},2024-06-01 08:00:00,1\n"
        f"OT,{hash_mobile('13300000002')},2024-06-01 08:00:00,1\n", "gbk")
    put(f"tmall/orders/dt={DT}/o.csv", "订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,"
        "订单创建时间,订单付款时间,收货人手机号,退款金额,店铺名称\n"
        "3900000000000001,nick,,10.00,10.00,交易成功,2024-06-01 08:00:00,2024-06-01 08:01:00,"
        "138****8101,0.00,店\n", "gbk")
    put(f"tmall/order_items/dt={DT}/i.csv", "订单编号,商品编码,商品标题,购买数量,价格,退款状态\n"
        "3900000000000001,SKU1,t,1,10.00,\n", "gbk")

    def user(openid, unionid, phone):
        info = None if phone is None else {"phoneNumber": phone, "purePhoneNumber": phone[-11:],
                                           "countryCode": "86"}
        return json.dumps({"openid": openid, "unionid": unionid, "phone_info": info,
                           "nickname": "n", "created_at": "2024-06-01T09:00:00+08:00"})

    put(f"miniprogram/users/dt={DT}/u.jsonl", "\n".join([
        user("oV", None, "+8613800138101"), user("oM1", None, "13500000001"),
        user("oT", "uT", "13300000002")]) + "\n")
    put(f"miniprogram/orders/dt={DT}/o.jsonl", "")
    put(f"miniprogram/events/dt={DT}/e.jsonl", "")

    def contact(ext, unionid, staff, mobiles):
        return json.dumps({"external_contact": {"external_userid": ext, "name": "x", "type": 1,
                                                "gender": 1, **({"unionid": unionid} if unionid else {})},
                           "follow_user": [{"userid": staff, "remark": "", "createtime": 1717200000,
                                            "tags": [], "remark_mobiles": mobiles, "add_way": 1,
                                            "state": ""}]}, ensure_ascii=False)

    put(f"wecom/external_contacts/dt={DT}/c.jsonl", "\n".join([
        contact("wV", None, "s9", ["１３８００１３８１０１"]),
        contact("wT", "uT", "s9", ["13300000001"]),
        *[contact(f"wS{i}", None, "s1", [f"1390000000{i}", "13600000001"]) for i in range(1, 4)],
    ]) + "\n")
    put(f"wecom/contact_events/dt={DT}/e.jsonl", "")
    ref = root / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "stores.csv").write_text("store_id,store_name,city,province,opened_at\n"
                                    "S01,店,上海,上海,2020-01-01\n")
    (ref / "products.csv").write_text("sku,product_name,category,list_price,unit_cost\n"
                                      "SKU1,p,c,10.00,4.00\n")


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cases")
    _write(tmp / "zone")
    wh = tmp / "w.duckdb"
    env = {**os.environ, "SIYU_DATA_DIR": str(tmp / "zone"), "SIYU_WAREHOUSE": str(wh),
           "DAGSTER_HOME": str(tmp / "home")}
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    con = open_connection(wh, read_only=True)
    rows = con.execute("SELECT id_value, member_id FROM marts.member_identities").fetchall()
    out = dict(rows)
    out["_shared"] = {r[0]: r[1] for r in con.execute(
        "SELECT id_value, flag_kind || ': ' || reason FROM marts.shared_identifiers").fetchall()}
    out["_flagged"] = {r[0] for r in con.execute(
        "SELECT member_id FROM marts.dim_member WHERE is_shared_identifier_flagged").fetchall()}
    out["_orders"] = dict(con.execute(
        "SELECT channel || ':' || source_order_id, member_id FROM marts.fct_orders").fetchall())
    return out


def test_every_phone_variant_is_one_member(members):
    # POS "138 0013 8101", Tmall hash, mini-program "+86…", WeCom full-width digits
    assert members["V1"] == members["OV"] == members["oV"] == members["wV"]


def test_invalid_phones_never_merge(members):
    assert members["I1"] != members["I2"]


def test_masked_tmall_mobile_never_links(members):
    # the Tmall order shows 138****8101 but has no ouid: it stays a guest's order — not V1's
    # (whose phone the mask matches), not anybody's — while V1's own POS order is V1's
    assert members["_orders"]["tmall:3900000000000001"] is None
    assert members["_orders"]["pos:PO1"] == members["V1"]


def test_counter_phone_does_not_glue_strangers(members):
    assert len({members[f"C{i}"] for i in range(1, 6)}) == 5
    assert hash_mobile("13700000001") in members["_shared"]
    assert members["C1"] in members["_flagged"]


def test_staff_phone_does_not_glue_strangers(members):
    assert len({members[f"wS{i}"] for i in range(1, 4)}) == 3
    assert "one staff member" in members["_shared"][hash_mobile("13600000001")]


def test_placeholder_number_does_not_glue_strangers(members):
    assert members["Z1"] != members["Z2"]
    assert "known placeholder number" in members["_shared"][hash_mobile("13800138000")]


def test_miniprogram_user_without_unionid_links_through_phone(members):
    assert members["oM1"] == members["P1"]


def test_two_phones_linked_through_a_unionid_are_one_member(members):
    # T1 (phone A) — wT (remark A, unionid uT) — oT (unionid uT, phone B) — OT (hash of B)
    assert members["T1"] == members["wT"] == members["oT"] == members["OT"] == members["uT"]

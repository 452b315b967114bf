"""The synthetic landing zone: contract shapes, dirt, truth, determinism."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest

from pipelines.lib.generator import generate
from pipelines.lib.phones import hash_mobile, normalize_mobile

HEADERS = {
    "pos/members": "member_card_no,mobile,name,gender,birthday,store_id,registered_at",
    "pos/orders": "order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
    "paid_amount,payment_method,order_type,original_order_id",
    "pos/order_items": "order_id,line_no,sku,quantity,unit_price,line_amount",
    "tmall/members": "ouid,手机号哈希,入会时间,会员等级",
    "tmall/orders": "订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,"
    "订单付款时间,收货人手机号,退款金额,店铺名称",
    "tmall/order_items": "订单编号,商品编码,商品标题,购买数量,价格,退款状态",
}
JSON_KEYS = {
    "miniprogram/users": {"openid", "unionid", "phone_info", "nickname", "created_at"},
    "miniprogram/orders": {"order_no", "openid", "created_at", "paid_at", "status", "total_fee",
                           "discount_fee", "payer_total", "refund_fee", "store_id", "items"},
    "miniprogram/events": {"openid", "event", "sku", "ts"},
    "wecom/external_contacts": {"external_contact", "follow_user"},
    "wecom/contact_events": {"ChangeType", "UserID", "ExternalUserID", "State", "CreateTime"},
}


@pytest.fixture(scope="module")
def zone(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "zone"
    generate(out, members=1500, days=60, seed=3)
    return out


def read(p: Path, encoding: str = "utf-8") -> str:
    data = p.read_bytes()
    if p.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig" if encoding == "utf-8" else encoding)


def files(zone: Path, entity: str) -> list[Path]:
    return sorted((zone / "landing" / entity).rglob("part-*"))


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, members=300, days=20, seed=5)
    generate(b, members=300, days=20, seed=5)
    generate(c, members=300, days=20, seed=6)

    def digest(root: Path) -> str:
        h = hashlib.sha256()
        for f in sorted(root.rglob("*")):
            if f.is_file():
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
        return h.hexdigest()

    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_all_eleven_entities_with_contract_headers(zone: Path):
    for entity, header in HEADERS.items():
        fs = files(zone, entity)
        assert fs, entity
        enc = "gbk" if entity.startswith("tmall") else "utf-8"
        assert read(fs[0], enc).split("\n", 1)[0] == header
    for entity, keys in JSON_KEYS.items():
        fs = files(zone, entity)
        assert fs, entity
        first = json.loads(read(fs[0]).split("\n", 1)[0])
        assert keys <= set(first) | {"State"}, entity
    assert (zone / "reference" / "stores.csv").exists()
    assert (zone / "reference" / "products.csv").exists()


def test_tmall_is_gbk_with_excel_wrapped_ids(zone: Path):
    raw = b"".join(gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
                   for f in files(zone, "tmall/orders"))
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    assert '"=""39' in text  # ="3912…" as Excel writes it, CSV-quoted
    assert "交易成功" in text and "交易关闭" in text


def test_phone_variants_invalid_and_empty_present(zone: Path):
    rows = []
    for f in files(zone, "pos/members"):
        rows += list(csv.DictReader(io.StringIO(read(f))))
    mobiles = [r.get("mobile") or "" for r in rows]
    assert any(" " in m for m in mobiles) and any("-" in m for m in mobiles)
    assert any(m.startswith("+86") for m in mobiles)
    assert any(any("０" <= ch <= "９" for ch in m) for m in mobiles)
    assert any(m == "" for m in mobiles)
    assert any(m and normalize_mobile(m) is None for m in mobiles)
    assert sum(normalize_mobile(m) is not None for m in mobiles) > 0.8 * len(mobiles)


def test_dirt_present_at_a_low_rate(zone: Path):
    manifest = json.loads((zone / "_truth" / "manifest.json").read_text())
    for entity, d in manifest["dirt"].items():
        rows = manifest["rows"][entity]
        assert d["malformed"] < 0.2 * rows + 60, entity
    assert sum(d["malformed"] for d in manifest["dirt"].values()) > 0
    assert sum(d["gzipped"] for d in manifest["dirt"].values()) > 0
    assert sum(d["resent"] for d in manifest["dirt"].values()) > 0


def test_truth_covers_landing_identifiers(zone: Path):
    with open(zone / "_truth" / "identifiers.csv", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    by_type = {}
    for r in truth:
        by_type.setdefault(r["id_type"], set()).add(r["id_value"])
    assert set(by_type) == {"pos_card", "tmall_ouid", "mp_openid", "wechat_unionid",
                            "wecom_external_userid", "mobile_sha256"}
    cards = set()
    for f in files(zone, "pos/members"):
        for r in csv.DictReader(io.StringIO(read(f))):
            ts = r.get("registered_at") or ""
            if None not in r and r.get("member_card_no") and ts[:2] == "20" and \
                    not ts.startswith("2024-13"):
                cards.add(r["member_card_no"])
    assert cards <= by_type["pos_card"]
    with open(zone / "_truth" / "shared_mobiles.csv", encoding="utf-8") as fh:
        shared = {r["mobile_sha256"] for r in csv.DictReader(fh)}
    assert not shared & by_type["mobile_sha256"]
    plaintext = (zone / "_truth" / "plaintext_mobiles.txt").read_text().split()
    assert all(normalize_mobile(p) == p for p in plaintext)
    typed = set()
    for f in files(zone, "pos/members"):
        for r in csv.DictReader(io.StringIO(read(f))):
            n = normalize_mobile(r.get("mobile") or "")
            if n:
                typed.add(n)
    assert typed <= set(plaintext)  # the privacy scan's list is complete for POS
    assert by_type["mobile_sha256"] - {hash_mobile(p) for p in plaintext}  # Tmall: hash only


def test_amounts_consistent_and_statuses_in_vocabulary(zone: Path):
    for f in files(zone, "miniprogram/orders"):
        for line in read(f).splitlines():
            try:
                o = json.loads(line)
            except json.JSONDecodeError:
                continue  # deliberately cut lines
            if not isinstance(o, dict) or "items" not in o:
                continue
            assert o["status"] in {"NOTPAY", "PAID", "REFUND", "PARTIAL_REFUND", "CLOSED"}
            assert sum(i["price"] * i["quantity"] for i in o["items"]) == o["total_fee"]
            if o["status"] != "NOTPAY" and o["status"] != "CLOSED":
                assert o["payer_total"] == o["total_fee"] - o["discount_fee"]
    for f in files(zone, "pos/orders"):
        for r in csv.DictReader(io.StringIO(read(f))):
            try:
                total, disc, paid = (float(r[k]) for k in ("total_amount", "discount_amount",
                                                          "paid_amount"))
            except (TypeError, ValueError):
                continue  # deliberately malformed rows
            if None in r or r["order_type"] is None:
                continue  # wrong field count (deliberate)
            assert r["order_type"] in {"sale", "return"}
            assert abs(total - disc - paid) < 0.011


@pytest.mark.parametrize("members", [1, 2, 5])
def test_tiny_populations_with_empty_channels_do_not_crash(tmp_path: Path, members: int):
    # regression: numpy's string replace failed on an empty channel (no rows that day)
    summary = generate(tmp_path / "z", members=members, days=2, seed=1)
    assert summary["persons"] == members

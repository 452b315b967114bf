"""The synthetic landing zone: contract shapes, realism, dirt, ground truth, determinism."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from pipelines.lib.privacy.phones import normalize_mobile
from siyu_generator import ENTITIES, GeneratorConfig, generate
from siyu_generator.config import PLACEHOLDER_MOBILES
from siyu_generator.identity_cases import Spare, _counter_groups, plan_counter_phones

END = date(2026, 11, 20)  # the window holds 双11
DAYS = 60
SHANGHAI = timezone(timedelta(hours=8))

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
    "miniprogram/users": ["openid", "unionid", "phone_info", "nickname", "created_at"],
    "miniprogram/orders": ["order_no", "openid", "created_at", "paid_at", "status", "total_fee",
                           "discount_fee", "payer_total", "refund_fee", "store_id", "items"],
    "miniprogram/events": ["openid", "event", "sku", "ts"],
    "wecom/external_contacts": ["external_contact", "follow_user"],
}
TMALL_STATUSES = {"等待买家付款", "买家已付款，等待卖家发货", "卖家已发货，等待买家确认", "交易成功",
                  "交易关闭"}
MP_STATUSES = {"NOTPAY", "PAID", "REFUND", "PARTIAL_REFUND", "CLOSED"}
FILE_NAME = re.compile(r"^part-\d{4}(-resend)?\.(csv|jsonl)(\.gz)?$")
FULLWIDTH = str.maketrans("０１２３４５６７８９＋", "0123456789+")
#: Unicode spaces and full-width punctuation typists put inside numbers, as ASCII.
UNICODE_SEPARATORS = {"\u00a0": " ", "\u3000": " ", "\u2009": " ", "\t": " ", "（": "(",
                      "）": ")", "－": "-", "．": ".", "＋": "+"}
TO_ASCII = str.maketrans({**{c: a for c, a in UNICODE_SEPARATORS.items()},
                          **{chr(0xFF10 + i): str(i) for i in range(10)}})


# ------------------------------------------------------------------------------- helpers


def normalize(value: str | None) -> str | None:
    """Landing contract normalisation, written independently of the warehouse code."""
    if not value:
        return None
    s = re.sub(r"[\s\-.()（）－．]", "", value.translate(FULLWIDTH))
    for prefix in ("+86", "0086", "86"):
        if s.startswith(prefix) and len(s) == len(prefix) + 11:
            s = s[len(prefix):]
    return s if re.fullmatch(r"1[3-9]\d{9}", s) else None


def sha(mobile: str) -> str:
    return hashlib.sha256(mobile.encode()).hexdigest()


def unwrap(order_id: str) -> str:
    return order_id[2:-1] if order_id.startswith('="') else order_id


class Zone:
    """Intact rows of a generated zone (malformed lines skipped by `_truth`'s list)."""

    def __init__(self, root: Path):
        self.root = root
        self.truth = root / "_truth"
        self.manifest = json.loads((self.truth / "manifest.json").read_text(encoding="utf-8"))
        self.malformed = defaultdict(dict)
        with open(self.truth / "malformed_rows.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                self.malformed[r["file"]][int(r["line"])] = r["kind"]
        self._rows: dict[str, list] = {}

    def files(self, entity: str, resends: bool = False) -> list[Path]:
        out = sorted(p for p in (self.root / "landing" / entity).rglob("part-*"))
        return out if resends else [p for p in out if "-resend" not in p.name]

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root / "landing").as_posix()

    def raw(self, path: Path) -> bytes:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data

    def text(self, path: Path) -> str:
        enc = "gbk" if "tmall" in path.parts else "utf-8-sig"
        return self.raw(path).decode(enc)

    def lines(self, path: Path) -> list[str]:
        """The file's lines without their ends; a file ends every line in LF or every line in
        CRLF, never a mix."""
        text = self.text(path)
        if "\r" in text:
            assert text.count("\r\n") == text.count("\n") == text.count("\r"), path
            text = text.replace("\r\n", "\n")
        return text.split("\n")[:-1]

    def rows(self, entity: str) -> list[tuple[str, dict]]:
        """(dt, row) of intact rows in file order; CSV rows as dicts, JSON rows as objects."""
        if entity not in self._rows:
            out = []
            for f in self.files(entity):
                dt = f.parent.name[3:]
                bad = self.malformed.get(self.rel(f), {})
                lines = self.lines(f)
                if f.name.split(".")[1] == "csv":
                    header = next(csv.reader([lines[0]]))
                    for i, line in enumerate(lines[1:], start=2):
                        if i not in bad:
                            out.append((dt, dict(zip(header, next(csv.reader([line])),
                                                     strict=True))))
                else:
                    out += [(dt, json.loads(line)) for i, line in enumerate(lines, start=1)
                            if i not in bad]
            self._rows[entity] = out
        return self._rows[entity]

    def truth_ids(self) -> dict[str, dict[str, set[str]]]:
        out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        with open(self.truth / "identifiers.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                out[r["id_type"]][r["id_value"]].add(r["person_id"])
        return out

    def shared(self) -> dict[str, tuple[str, int]]:
        with open(self.truth / "shared_mobiles.csv", encoding="utf-8") as fh:
            return {r["mobile_sha256"]: (r["kind"], int(r["n_persons"]))
                    for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def zone(tmp_path_factory) -> Zone:
    out = tmp_path_factory.mktemp("gen") / "zone"
    generate(out, members=3000, days=DAYS, seed=7, end_date=END,
             config=GeneratorConfig(block_persons=1500), chunk_persons=1500)
    return Zone(out)


def pos_mobiles(z: Zone) -> list[str]:
    return [r["mobile"] for _, r in z.rows("pos/members")]


def remark_mobiles(z: Zone) -> list[str]:
    return [m for _, c in z.rows("wecom/external_contacts") for fu in c["follow_user"]
            for m in fu["remark_mobiles"]]


# ------------------------------------------------------------------------------- tests


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path):
    def digest(root: Path) -> str:
        h = hashlib.sha256()
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.name != "manifest.json":  # it records the config
                h.update(f.relative_to(root).as_posix().encode())
                h.update(f.read_bytes())
        return h.hexdigest()

    one_thread = GeneratorConfig(workers=1)  # the bytes do not depend on thread scheduling
    a, b, c = (generate(tmp_path / name, members=300, days=20, seed=seed, config=cfg)
               for name, seed, cfg in (("a", 5, None), ("b", 5, one_thread), ("c", 6, None)))
    assert a == b != c
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
    json.dumps(a)  # the summary is JSON-serialisable


def test_chunked_generation_writes_the_same_bytes_as_one_pass(tmp_path: Path, monkeypatch):
    """Issue 22: persons are held in memory a chunk at a time; the chunk size bounds the
    memory and never changes a byte. 3,500 persons in blocks of 1,000 (the last one short),
    written one block per chunk and all in one chunk: every file (landing, reference, truth,
    manifest) has the same sha256 — landing days split into parts, groups spanning blocks."""
    cfg = GeneratorConfig(block_persons=1000, max_rows_per_file=150)

    def digests(root: Path) -> dict[str, str]:
        return {f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
                for f in sorted(root.rglob("*")) if f.is_file()}

    one = generate(tmp_path / "one", members=3500, days=30, seed=11, config=cfg,
                   chunk_persons=3500)
    # chunks of one block, rendered text flushed after every part, group lists in batches
    # of about 50 entries: the same bytes
    monkeypatch.setattr("siyu_generator.writer.FLUSH_BYTES", 1)
    monkeypatch.setattr("siyu_generator.groups.CHAT_BATCH_ENTRIES", 50)
    chunked = generate(tmp_path / "chunked", members=3500, days=30, seed=11, config=cfg,
                       chunk_persons=1000)
    assert chunked == one
    a, b = digests(tmp_path / "chunked"), digests(tmp_path / "one")
    assert a == b
    assert len(a) > 300 and any("part-0002" in f for f in a)  # big days did split
    assert not (tmp_path / "one" / "_staging").exists()
    # the groups mix persons of different blocks (the zone's groups, not one per block)
    with open(tmp_path / "one" / "_truth" / "group_spells.csv", encoding="utf-8") as fh:
        blocks_per_chat: dict[str, set[int]] = defaultdict(set)
        for r in csv.DictReader(fh):
            blocks_per_chat[r["chat_id"]].add((int(r["person_id"][1:]) - 1) // 1000)
    assert max(len(b) for b in blocks_per_chat.values()) >= 3


def test_layout_headers_and_json_keys(zone: Zone):
    landing = zone.root / "landing"
    first = END - timedelta(days=DAYS - 1)
    for entity in ENTITIES:
        folders = sorted((landing / entity).iterdir())
        # most days have every entity; a customer group is delivered only on days it changed
        share = 0.5 if entity.startswith("wecom/group_") else 0.9
        assert len(folders) >= DAYS * share, entity
        for folder in folders:
            assert first <= date.fromisoformat(folder.name.removeprefix("dt=")) <= END
            assert all(FILE_NAME.match(f.name) for f in folder.iterdir()), folder
    for entity, header in HEADERS.items():
        for f in zone.files(entity):
            assert zone.lines(f)[0] == header, f
    for entity, keys in JSON_KEYS.items():
        assert all(list(r) == keys for _, r in zone.rows(entity)), entity
    for _, u in zone.rows("miniprogram/users"):
        assert u["phone_info"] is None or list(u["phone_info"]) == [
            "phoneNumber", "purePhoneNumber", "countryCode"]
    for _, o in zone.rows("miniprogram/orders"):
        assert o["items"] and all(list(i) == ["sku", "quantity", "price"] for i in o["items"])
    for _, c in zone.rows("wecom/external_contacts"):
        assert list(c["external_contact"])[:4] == ["external_userid", "name", "type", "gender"]
        assert set(c["external_contact"]) <= {"external_userid", "name", "type", "gender",
                                              "unionid"}
        for fu in c["follow_user"]:
            assert list(fu) == ["userid", "remark", "createtime", "tags", "remark_mobiles",
                                "add_way", "state"]
            assert all(list(t) == ["group_name", "tag_name", "type"] for t in fu["tags"])
    for _, e in zone.rows("wecom/contact_events"):
        assert [k for k in e if k != "State"] == ["ChangeType", "UserID", "ExternalUserID",
                                                  "CreateTime"]
        assert "State" not in e or e["ChangeType"] == "add_external_contact"


def test_reference_files(zone: Zone):
    with open(zone.root / "reference" / "stores.csv", encoding="utf-8") as fh:
        stores = list(csv.DictReader(fh))
    with open(zone.root / "reference" / "products.csv", encoding="utf-8") as fh:
        products = list(csv.DictReader(fh))
    assert list(stores[0]) == ["store_id", "store_name", "city", "province", "opened_at"]
    assert list(products[0]) == ["sku", "product_name", "category", "list_price", "unit_cost"]
    assert 45 <= len(stores) <= 60 and len({s["city"] for s in stores}) >= 20
    assert 200 <= len(products) <= 1000 and len({p["category"] for p in products}) >= 5
    assert all(0 < float(p["unit_cost"]) < float(p["list_price"]) for p in products)
    store_ids, skus = {s["store_id"] for s in stores}, {p["sku"] for p in products}
    assert {r["store_id"] for _, r in zone.rows("pos/orders")} <= store_ids
    assert {r["sku"] for _, r in zone.rows("pos/order_items")} <= skus
    assert {i["sku"] for _, o in zone.rows("miniprogram/orders") for i in o["items"]} <= skus


def test_csv_files_parse_with_pyarrow(zone: Zone):
    """Every CSV parses; the only unsplittable lines are the listed field_count ones."""
    for entity in HEADERS:
        for f in zone.files(entity, resends=True):
            skipped = []
            enc = "gbk" if entity.startswith("tmall") else "utf8"
            table = pacsv.read_csv(
                io.BytesIO(zone.raw(f)),
                read_options=pacsv.ReadOptions(encoding=enc),
                convert_options=pacsv.ConvertOptions(column_types={
                    c: "string" for c in HEADERS[entity].split(",")}),
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=lambda row, s=skipped: s.append(row) or "skip"))
            assert table.column_names == HEADERS[entity].split(",")
            listed = zone.malformed.get(zone.rel(f).replace("-resend", ""), {})
            assert len(skipped) == sum(k == "field_count" for k in listed.values()), f


def test_jsonl_lines_parse_except_cut_ones(zone: Zone):
    for entity in [*JSON_KEYS, "wecom/contact_events"]:
        for f in zone.files(entity):
            broken = set()
            for i, line in enumerate(zone.lines(f), start=1):
                try:
                    json.loads(line)
                except json.JSONDecodeError:
                    broken.add(i)
            listed = zone.malformed.get(zone.rel(f), {})
            assert broken == {i for i, k in listed.items() if k == "cut_line"}, f


def test_tmall_files_are_gbk_with_excel_wrapped_ids(zone: Zone):
    raw = b"".join(zone.raw(f) for f in zone.files("tmall/orders"))
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b'"=""39' in raw  # ="39…" as Excel writes it, CSV-quoted
    assert re.search(rb'(^|\n)="39\d{17}",', raw)  # and raw, unquoted: the same value
    items = b"".join(zone.raw(f) for f in zone.files("tmall/order_items"))
    assert b'"=""39' in items and re.search(rb'(^|\n)="39\d{17}",', items)
    for entity in ("tmall/orders", "tmall/order_items"):
        ids = [r["订单编号"] for _, r in zone.rows(entity)]
        wrapped = sum(i.startswith('="') and i.endswith('"') for i in ids)
        assert 0.2 < wrapped / len(ids) < 0.8
        assert all(re.fullmatch(r"\d{19}", unwrap(i)) for i in ids)
    orders = [r for _, r in zone.rows("tmall/orders")]
    assert all(re.fullmatch(r"1\d{2}\*{4}\d{4}", r["收货人手机号"]) for r in orders)
    assert {r["订单状态"] for r in orders} == TMALL_STATUSES
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["手机号哈希"])
               for _, r in zone.rows("tmall/members"))
    assert any(r["ouid"] == "" for r in orders) and any(r["ouid"] for r in orders)


def test_every_phone_variant_and_invalid_values(zone: Zone):
    typed = pos_mobiles(zone) + remark_mobiles(zone)
    shapes = {
        "plain": r"1[3-9]\d{9}", "spaces": r"1\d{2} \d{4} \d{4}", "dashes": r"1\d{2}-\d{4}-\d{4}",
        "+86 spaced": r"\+86 1\d{2} \d{4} \d{4}", "+86": r"\+861\d{10}",
        "0086": r"0086 1\d{10}", "86": r"861[3-9]\d{9}", "brackets": r"\(1\d{2}\)\d{8}",
        "dots": r"1\d{2}\.\d{4}\.\d{4}", "full-width": r"１[３-９][０-９]{9}",
    }
    for name, shape in shapes.items():
        assert any(re.fullmatch(shape, m) for m in typed), name
    pos = pos_mobiles(zone)
    assert any(m == "" for m in pos)
    invalid = [m for m in typed if m and normalize(m) is None]
    assert any(re.fullmatch(r"0\d{2,3}-\d{8}", m) for m in invalid)  # landline
    assert any(re.fullmatch(r"\d{10}", m) for m in invalid)  # a digit short
    assert any(re.search(r"[A-Za-z]", m) for m in invalid)  # a letter
    assert 0.005 < len(invalid) / len(typed) < 0.05
    assert sum(normalize(m) is not None for m in pos) > 0.85 * len(pos)


def test_truth_covers_every_identifier_in_landing(zone: Zone):
    t = zone.truth_ids()
    shared = zone.shared()
    assert set(t) == {"pos_card", "tmall_ouid", "mp_openid", "wechat_unionid",
                      "wecom_external_userid", "mobile_sha256"}
    assert not set(shared) & set(t["mobile_sha256"])
    seen: dict[str, set[str]] = defaultdict(set)
    seen["pos_card"] |= {r["member_card_no"] for _, r in zone.rows("pos/members")}
    seen["tmall_ouid"] |= {r["ouid"] for _, r in zone.rows("tmall/members")}
    seen["mp_openid"] |= {r["openid"] for _, r in zone.rows("miniprogram/users")}
    seen["wechat_unionid"] |= {r["unionid"] for _, r in zone.rows("miniprogram/users")
                               if r["unionid"]}
    seen["wechat_unionid"] |= {c["external_contact"]["unionid"]
                               for _, c in zone.rows("wecom/external_contacts")
                               if "unionid" in c["external_contact"]}
    seen["wecom_external_userid"] |= {c["external_contact"]["external_userid"]
                                      for _, c in zone.rows("wecom/external_contacts")}
    group_members = [m for _, g in zone.rows("wecom/group_chats")
                     for m in g["group_chat"]["member_list"] if m["type"] == 2]
    seen["wecom_external_userid"] |= {m["userid"] for m in group_members}
    seen["wechat_unionid"] |= {m["unionid"] for m in group_members if "unionid" in m}
    mobiles = [normalize(m) for m in pos_mobiles(zone) + remark_mobiles(zone)]
    mobiles += [u["phone_info"]["purePhoneNumber"] for _, u in zone.rows("miniprogram/users")
                if u["phone_info"]]
    hashes = {sha(m) for m in mobiles if m} | {r["手机号哈希"] for _, r in zone.rows("tmall/members")}
    seen["mobile_sha256"] = hashes - set(shared)
    for id_type, values in seen.items():
        assert values == set(t[id_type]), id_type  # exactly what the landing zone shows
    assert hashes & set(shared)  # shared numbers do appear, they are just not identifiers
    # orders and events only reference known members
    assert {r["member_card_no"] for _, r in zone.rows("pos/orders")} - {""} <= seen["pos_card"]
    assert {r["ouid"] for _, r in zone.rows("tmall/orders")} - {""} <= seen["tmall_ouid"]
    assert {o["openid"] for _, o in zone.rows("miniprogram/orders")} <= seen["mp_openid"]
    assert {e["openid"] for _, e in zone.rows("miniprogram/events")} <= seen["mp_openid"]
    # one person per identifier (shared numbers excluded above)
    assert all(len(p) == 1 for ids in t.values() for p in ids.values())


def test_plaintext_mobiles_list_is_exactly_what_the_zone_shows(zone: Zone):
    listed = set((zone.truth / "plaintext_mobiles.txt").read_text().split())
    found = set()
    for entity in ("pos/members", "miniprogram/users", "wecom/external_contacts"):
        for f in zone.files(entity):
            text = zone.text(f).translate(TO_ASCII)
            for m in re.findall(r"(?<![0-9])(?:\+?86|0086)?[ -]?(1[3-9][0-9][ .\-)]?[0-9]{4}"
                                r"[ .\-]?[0-9]{4})(?![0-9])|\((1[3-9][0-9])\)([0-9]{8})", text):
                n = normalize("".join(m))
                if n:
                    found.add(n)
    assert found == listed
    for entity in ("pos/orders", "pos/order_items", "tmall/orders", "tmall/order_items",
                   "miniprogram/orders", "miniprogram/events", "wecom/contact_events"):
        for f in zone.files(entity):  # ids, amounts, timestamps never look like a mobile
            text = re.sub(r"[ .()+\-]", "", zone.text(f))
            assert not set(re.findall(r"1[3-9][0-9]{9}", text)) & listed, f


def test_shared_numbers(zone: Zone):
    shared = zone.shared()
    kinds = Counter(k for k, _ in shared.values())
    assert set(kinds) == {"couple", "counter", "placeholder", "staff"}
    assert all(n == 2 for k, n in shared.values() if k == "couple")
    placeholders = {h for h, (k, _) in shared.items() if k == "placeholder"}
    assert placeholders <= {sha(m) for m in PLACEHOLDER_MOBILES}
    staff = [n for k, n in shared.values() if k == "staff"]
    assert max(staff) >= 3  # a habitual staff member types their phone for many contacts
    # counter phones group 20–60 cards each in a busy store, over blocks: three stores with
    # 400, 90 and 35 counter cards, cut into blocks of 150/40/10 cards and the rest
    rng = np.random.default_rng(0)
    counts = np.array([400, 90, 35])
    cfg = GeneratorConfig()
    plan = plan_counter_phones(rng, counts, cfg, Spare(np.arange(1000, 2000)))
    first_block = np.array([150, 40, 10])
    groups = np.concatenate([
        _counter_groups(rng, np.repeat([0, 1, 2], first_block), plan, np.zeros(3, int)),
        _counter_groups(rng, np.repeat([0, 1, 2], counts - first_block), plan, first_block)])
    sizes = np.bincount(groups)
    assert len(sizes) == plan.n_phones.sum() >= 8 and sizes.min() >= 13 and sizes.max() <= 90
    # cut evenly over the zone: a store's phones differ by at most one card
    for st in range(3):
        mine = sizes[plan.first[st]:plan.first[st] + plan.n_phones[st]]
        assert mine.sum() == counts[st] and mine.max() - mine.min() <= 1


def test_identity_hard_cases(zone: Zone):
    t = zone.truth_ids()
    # phone change: the same card on a later dt with another valid number
    by_card = defaultdict(list)
    for dt, r in zone.rows("pos/members"):
        by_card[r["member_card_no"]].append((dt, normalize(r["mobile"])))
    changed = [v for v in by_card.values()
               if len({m for _, m in v if m}) >= 2 and v == sorted(v)]
    assert changed
    # two phones: the POS card's number differs from the same person's mini-program number
    person_of_card = {v: next(iter(p)) for v, p in t["pos_card"].items()}
    person_of_openid = {v: next(iter(p)) for v, p in t["mp_openid"].items()}
    pos_phone = {person_of_card[r["member_card_no"]]: normalize(r["mobile"])
                 for _, r in zone.rows("pos/members") if normalize(r["mobile"])}
    mp_phone = {person_of_openid[u["openid"]]: u["phone_info"]["purePhoneNumber"]
                for _, u in zone.rows("miniprogram/users") if u["phone_info"]}
    assert any(pos_phone[p] != mp_phone[p] for p in set(pos_phone) & set(mp_phone))
    # deletions arrive only as callbacks, after the contact's last export
    last_export = {c["external_contact"]["external_userid"]: dt
                   for dt, c in zone.rows("wecom/external_contacts")}
    deletions = [(dt, e) for dt, e in zone.rows("wecom/contact_events")
                 if e["ChangeType"] in ("del_external_contact", "del_follow_user")]
    assert deletions
    assert all(dt > last_export[e["ExternalUserID"]] for dt, e in deletions
               if e["ExternalUserID"] in last_export)
    assert any(e["ChangeType"] == "edit_external_contact"
               for _, e in zone.rows("wecom/contact_events"))
    assert any(e.get("State", "").startswith("store_S")
               for _, e in zone.rows("wecom/contact_events"))
    assert any(len(c["follow_user"]) == 2 for _, c in zone.rows("wecom/external_contacts"))


def test_unionid_only_after_the_open_platform_binding(zone: Zone):
    binding = zone.manifest["open_platform_binding_date"]
    first = {}
    for dt, u in zone.rows("miniprogram/users"):
        first.setdefault(u["openid"], (dt, u))
    before = [u for _, u in first.values() if u["created_at"][:10] < binding]
    after = [u for _, u in first.values() if u["created_at"][:10] >= binding]
    assert before and after
    assert all(u["unionid"] is None for u in before)
    assert all(u["unionid"] for u in after)
    backfilled = {u["openid"] for dt, u in zone.rows("miniprogram/users")
                  if u["unionid"] and u["created_at"][:10] < binding}
    assert backfilled  # re-delivered with the unionid later


def _cents(text: str) -> int:
    assert re.fullmatch(r"-?\d+\.\d{2}", text), text
    return round(float(text) * 100)


def test_amounts_are_consistent(zone: Zone):
    pos = [r for _, r in zone.rows("pos/orders")]
    items = defaultdict(int)
    for _, li in zone.rows("pos/order_items"):
        assert _cents(li["line_amount"]) == int(li["quantity"]) * _cents(li["unit_price"])
        items[li["order_id"]] += _cents(li["line_amount"])
    sales = {r["order_id"]: r for r in pos if r["order_type"] == "sale"}
    for r in pos:
        total, disc, paid = (_cents(r[k]) for k in ("total_amount", "discount_amount",
                                                     "paid_amount"))
        assert total - disc == paid
        if r["order_type"] == "sale":
            assert items[r["order_id"]] == total and 0 <= disc < total and not r[
                "original_order_id"]
        else:  # a return lists its returned lines (summing to its total) or none
            assert items.get(r["order_id"], 0) in (0, total)
            assert r["order_type"] == "return" and paid < 0 and total < 0 and disc <= 0
            sale = sales[r["original_order_id"]]
            assert -paid <= _cents(sale["paid_amount"])
            assert r["order_time"] > sale["order_time"]
    assert {r["order_type"] for r in pos} == {"sale", "return"}
    assert any(r["member_card_no"] == "" for r in pos)  # guests
    assert len({r["payment_method"] for r in pos}) >= 3

    lines = defaultdict(lambda: defaultdict(int))
    for dt, li in zone.rows("tmall/order_items"):
        lines[(unwrap(li["订单编号"]), dt)][li["商品编码"]] += 1
        lines[(unwrap(li["订单编号"]), dt)]["_sum"] += int(li["购买数量"]) * _cents(li["价格"])
    for dt, r in zone.rows("tmall/orders"):
        payable, paid = _cents(r["买家应付货款"]), _cents(r["买家实际支付金额"])
        assert lines[(unwrap(r["订单编号"]), dt)]["_sum"] == payable
        assert all(v == 1 for k, v in lines[(unwrap(r["订单编号"]), dt)].items() if k != "_sum")
        assert 0 <= paid <= payable and 0 <= _cents(r["退款金额"]) <= paid
        assert (paid == 0) == (r["订单付款时间"] == "")

    for _, o in zone.rows("miniprogram/orders"):
        assert all(isinstance(o[k], int) for k in ("total_fee", "discount_fee", "payer_total",
                                                  "refund_fee"))
        assert sum(i["price"] * i["quantity"] for i in o["items"]) == o["total_fee"]
        assert len({i["sku"] for i in o["items"]}) == len(o["items"])
        if o["status"] in ("PAID", "REFUND", "PARTIAL_REFUND"):
            assert o["payer_total"] == o["total_fee"] - o["discount_fee"] and o["paid_at"]
        else:
            assert o["payer_total"] == 0 and o["paid_at"] is None
        assert o["refund_fee"] == (o["payer_total"] if o["status"] == "REFUND" else
                                   o["refund_fee"])
        assert o["status"] != "PARTIAL_REFUND" or 0 < o["refund_fee"] < o["payer_total"]


def test_status_vocabularies_and_progressions(zone: Zone):
    tm = defaultdict(list)
    for dt, r in zone.rows("tmall/orders"):
        tm[unwrap(r["订单编号"])].append((dt, r["订单状态"], _cents(r["退款金额"])))
    assert all(len({dt for dt, _, _ in v}) == len(v) for v in tm.values())  # one row per dt
    firsts = Counter(v[0][1] for v in tm.values())
    assert firsts["买家已付款，等待卖家发货"] > firsts["等待买家付款"] > 0
    assert any([s for _, s, _ in v][:2] == ["买家已付款，等待卖家发货", "交易成功"]
               or [s for _, s, _ in v][:3] == ["买家已付款，等待卖家发货", "卖家已发货，等待买家确认",
                                               "交易成功"] for v in tm.values())
    assert any(v[-1][1] == "交易关闭" and v[-1][2] > 0 for v in tm.values())  # full refund
    assert any(v[-1][1] == "交易成功" and v[-1][2] > 0 for v in tm.values())  # partial
    assert any([s for _, s, _ in v] == ["等待买家付款", "交易关闭"] for v in tm.values())
    refund_lines = {r["退款状态"] for _, r in zone.rows("tmall/order_items")}
    assert refund_lines == {"", "退款成功"}

    mp = defaultdict(list)
    for dt, o in zone.rows("miniprogram/orders"):
        mp[o["order_no"]].append((dt, o["status"]))
    assert {s for v in mp.values() for _, s in v} == MP_STATUSES
    seqs = {tuple(s for _, s in v) for v in mp.values()}
    assert {("NOTPAY", "PAID"), ("NOTPAY", "CLOSED"), ("PAID",)} <= seqs
    assert any(s[-1] in ("REFUND", "PARTIAL_REFUND") for s in seqs)
    assert all(v == sorted(v) and len({d for d, _ in v}) == len(v) for v in mp.values())
    events = Counter(e["event"] for _, e in zone.rows("miniprogram/events"))
    assert set(events) == {"view_item", "add_to_cart", "favorite", "share", "coupon_claim"}


def test_timestamps_are_shanghai_and_on_their_dt(zone: Zone):
    for dt, r in zone.rows("pos/orders"):
        assert r["order_time"][:10] == dt
    for dt, e in zone.rows("miniprogram/events"):
        assert e["ts"].endswith("+08:00") and e["ts"][:10] == dt
    for dt, e in zone.rows("wecom/contact_events"):
        assert datetime.fromtimestamp(e["CreateTime"], SHANGHAI).date().isoformat() == dt


def test_dirt_is_present_at_a_low_rate(zone: Zone):
    m = zone.manifest
    rows = sum(m["rows"].values())
    malformed = sum(d["malformed"] for d in m["dirt"].values())
    assert 0 < malformed < 0.03 * rows
    kinds = Counter(k for file in zone.malformed.values() for k in file.values())
    assert set(kinds) == {"field_count", "cut_line", "bad_amount", "bad_timestamp", "empty_key"}
    assert sum(d["gzipped"] for d in m["dirt"].values()) > 0
    assert sum(d["resent"] for d in m["dirt"].values()) > 0
    boms = [f for e in ENTITIES for f in zone.files(e) if zone.raw(f)[:3] == b"\xef\xbb\xbf"]
    assert boms and all(f.parts[-4] == "pos" for f in boms)
    for e in ENTITIES:
        for f in zone.files(e, resends=True):
            if "-resend" in f.name:
                assert f.read_bytes() == f.with_name(f.name.replace("-resend", "")).read_bytes()


def test_seasonality_and_events_follow_purchases(zone: Zone):
    per_day = Counter(dt for dt, r in zone.rows("tmall/orders") if r["订单状态"] != "交易成功")
    october = [per_day[f"2026-10-{d:02d}"] for d in range(1, 20)]
    assert per_day["2026-11-11"] > 3 * np.mean(october)
    buyers = {o["openid"] for _, o in zone.rows("miniprogram/orders")}
    users = {u["openid"] for _, u in zone.rows("miniprogram/users")}
    events = Counter(e["openid"] for _, e in zone.rows("miniprogram/events"))
    rate_buyers = np.mean([events[u] for u in users & buyers])
    rate_others = np.mean([events[u] for u in users - buyers])
    assert rate_buyers > 2 * rate_others


@pytest.mark.parametrize("members", [1, 2, 5])
def test_tiny_populations_do_not_crash(tmp_path: Path, members: int):
    summary = generate(tmp_path / "z", members=members, days=2, seed=1)
    assert summary["persons"] == members
    assert (tmp_path / "z" / "_truth" / "identifiers.csv").exists()


def test_config_changes_rates_and_big_days_split_into_parts(tmp_path: Path):
    clean = GeneratorConfig(malformed_rows_per_file=0, p_resend_file=0, p_gzip_day=0, p_bom=0,
                            p_crlf_day=(0, 0, 0, 0))
    s = generate(tmp_path / "z", members=300, days=10, seed=2, config=clean)
    assert all(d["malformed"] == d["resent"] == d["gzipped"] == d["bom"] == d["crlf"] == 0
               for d in s["dirt"].values())
    assert not [f for f in (tmp_path / "z" / "landing").rglob("part-*")
                if b"\r" in f.read_bytes()]
    split = generate(tmp_path / "s", members=300, days=10, seed=2,
                     config=GeneratorConfig(max_rows_per_file=20))
    assert split["rows"] == s["rows"]
    parts = list((tmp_path / "s" / "landing").rglob("part-0002.*"))
    assert parts and all(p.with_name(p.name.replace("0002", "0001")).exists() for p in parts)


# ------------------------------------------------------- the contract's latitude (issue 19)


def test_pos_returns_with_lines_in_both_conventions_and_without(zone: Zone):
    receipts = {r["order_id"]: r for _, r in zone.rows("pos/orders")}
    lines = defaultdict(list)
    for _, li in zone.rows("pos/order_items"):
        lines[li["order_id"]].append(li)
    returns = [r for r in receipts.values() if r["order_type"] == "return"]
    with_lines = [r for r in returns if r["order_id"] in lines]
    assert [r for r in returns if r["order_id"] not in lines]  # refunded without lines
    assert 0.4 < len(with_lines) / len(returns) < 0.95
    convention: dict[str, set[str]] = defaultdict(set)
    for r in with_lines:
        ls = lines[r["order_id"]]
        assert [int(li["line_no"]) for li in ls] == list(range(1, len(ls) + 1))
        assert sum(_cents(li["line_amount"]) for li in ls) == _cents(r["total_amount"])
        sale = {li["sku"]: li for li in lines[r["original_order_id"]]}
        for li in ls:
            qty, price = int(li["quantity"]), _cents(li["unit_price"])
            assert (qty < 0 < price) or (price < 0 < qty), li
            assert _cents(li["line_amount"]) == qty * price < 0
            assert li["sku"] in sale and abs(qty) <= int(sale[li["sku"]]["quantity"])
            assert abs(price) == _cents(sale[li["sku"]]["unit_price"])
            convention[r["store_id"]].add("negative quantity" if qty < 0 else "negative price")
    # one convention per till (store), both in the zone
    assert all(len(c) == 1 for c in convention.values()), convention
    assert {c for cs in convention.values() for c in cs} == {"negative quantity",
                                                             "negative price"}
    # a partial return lists just the returned line
    assert any(len(lines[r["order_id"]]) < len(lines[r["original_order_id"]])
               for r in with_lines)


def test_phones_typed_with_unicode_spaces_and_full_width_punctuation(zone: Zone):
    t = zone.truth_ids()
    known = set(t["mobile_sha256"]) | set(zone.shared())
    pos, remarks = pos_mobiles(zone), remark_mobiles(zone)
    for ch in ("\u00a0", "\u3000", "\u2009", "\t", "（", "－", "．", "＋"):
        spelled = [m for m in pos if ch in m]
        assert spelled, repr(ch)
        for m in spelled:  # the digits are a valid number the truth knows
            digits = re.sub(r"[^0-9]", "", m.translate(FULLWIDTH))
            number = digits[-11:]
            assert re.fullmatch(r"1[3-9]\d{9}", number) and digits[:-11] in ("", "86"), m
            assert sha(number) in known, m
    assert any(set(m) & set(UNICODE_SEPARATORS) for m in remarks)  # WeCom staff type them too
    # the warehouse's normaliser reads every spelling as this test's reading of the contract
    assert all(normalize_mobile(m) == normalize(m) for m in pos + remarks if m)
    unicode_share = sum(bool(set(m) & set(UNICODE_SEPARATORS)) for m in pos) / len(pos)
    assert 0.005 < unicode_share < 0.08  # a modest rate
    # NBSP as bytes in the raw files (CSV and JSON Lines)
    assert any(b"\xc2\xa0" in zone.raw(f) for f in zone.files("pos/members"))
    assert any(b"\xe3\x80\x80" in zone.raw(f) for f in zone.files("pos/members"))


def test_crlf_and_bom_deliveries(zone: Zone):
    def crlf(f: Path) -> bool:
        return b"\r\n" in zone.raw(f)

    by_channel_day: dict[tuple[str, str], set[bool]] = defaultdict(set)
    for e in ENTITIES:
        for f in zone.files(e, resends=True):
            zone.lines(f)  # every line of a file ends the same way
            by_channel_day[(f.parts[-4], f.parent.name)].add(crlf(f))
    assert all(len(v) == 1 for v in by_channel_day.values())  # one exporter per channel-day
    for e in ("pos/members", "pos/orders", "pos/order_items", "tmall/orders"):
        files = zone.files(e)
        assert any(crlf(f) for f in files) and not all(crlf(f) for f in files), e
    tmall = next(f for f in zone.files("tmall/orders") if crlf(f))
    assert zone.lines(tmall)[0] == HEADERS["tmall/orders"]  # GBK with CRLF
    assert any(crlf(f) for e in ("miniprogram/users", "miniprogram/orders",
                                 "miniprogram/events", "wecom/external_contacts",
                                 "wecom/contact_events") for f in zone.files(e))
    pos = [f for e in ("pos/members", "pos/orders", "pos/order_items") for f in zone.files(e)]
    bom = [zone.raw(f)[:3] == b"\xef\xbb\xbf" for f in pos]
    assert any(bom) and not all(bom)
    assert any(b and crlf(f) for b, f in zip(bom, pos, strict=True))


def test_events_arrive_twice_and_out_of_order(zone: Zone):
    for entity, time_key in (("wecom/contact_events", "CreateTime"),
                             ("miniprogram/events", "ts")):
        twice = out_of_order = 0
        for f in zone.files(entity):
            bad = zone.malformed.get(zone.rel(f), {})
            kept = [line for i, line in enumerate(zone.lines(f), start=1) if i not in bad]
            twice += sum(n - 1 for n in Counter(kept).values())
            times = [json.loads(line)[time_key] for line in kept]
            out_of_order += sum(b < a for a, b in pairwise(times))
        assert twice > 0 and out_of_order > 0, entity
        assert twice < 0.05 * len(zone.rows(entity)), entity


def test_customer_groups_lists_and_callbacks_follow_the_truth(zone: Zone):
    """WeCom customer groups (v1.1): a minority of persons in groups, sizes from a handful up,
    churn and dead groups; every delivered list is exactly the truth's members at the end of
    its day (staff aside), and every join has its callback at the list's join_time."""
    shanghai = timezone(timedelta(hours=8))
    with open(zone.truth / "group_spells.csv", encoding="utf-8") as fh:
        spells = list(csv.DictReader(fh))
    persons = {s["person_id"] for s in spells}
    assert 0.02 < len(persons) / 3000 < 0.5  # a minority
    assert any(s["left_at"] for s in spells) and any(not s["left_at"] for s in spells)
    stats = zone.manifest["groups"]
    assert stats["groups_below_10_at_end"] > 0 and stats["largest_group_at_end"] >= 10

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    lists = 0
    for dt, g in zone.rows("wecom/group_chats"):
        day_end = datetime.combine(date.fromisoformat(dt) + timedelta(days=1), datetime.min.time())
        members = {(m["userid"], datetime.fromtimestamp(m["join_time"], shanghai)
                    .replace(tzinfo=None)) for m in g["group_chat"]["member_list"] if m["type"] == 2}
        want = {(s["external_userid"], at(s["joined_at"])) for s in spells
                if s["chat_id"] == g["group_chat"]["chat_id"] and at(s["joined_at"]) < day_end
                and (not s["left_at"] or at(s["left_at"]) >= day_end)}
        assert members == want, (dt, g["group_chat"]["chat_id"])
        assert all("name" in m and "group_nickname" in m for m in g["group_chat"]["member_list"])
        lists += 1
    assert lists > 50
    joins = {(e["ChatId"], e["MemChangeList"][0], e["CreateTime"])
             for _, e in zone.rows("wecom/group_events") if e.get("UpdateDetail") == "add_member"}
    for s in spells:
        joined = at(s["joined_at"]).replace(tzinfo=shanghai)
        if joined.date() >= END - timedelta(days=DAYS - 1):
            assert (s["chat_id"], s["external_userid"], int(joined.timestamp())) in joins

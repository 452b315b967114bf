"""Property-based tests of every entity reader, written from the landing contract (issue 19).

The records come from `tests/fixtures/contract_rows.py`, whose strategies follow the contract's
text (/work/shared/specs/landing-contract.md, docs/landing-contract.md) rather than the
project's generator. For each of the 11 landing entities and the 2 reference files:

1. **Round trip** (`test_round_trip__<entity>`): a file of 0–5 contract-valid records, in any
   of the contract's spellings and file layouts, is read with every row accepted, each typed
   value what the contract says it means, `_source_line` the physical line the record starts
   on, and no plaintext mobile anywhere in the raw row (nested arrays: their child tables).
2. **Corruption** (`test_corrupt_row__<entity>`): in a valid file of 1–6 records, 1–3 records
   are corrupted, each one way (a value that does not parse, an impossible timestamp, an empty
   key, a value outside its vocabulary, a CSV row with fields missing or extra, a JSON line cut
   short or not an object, a bad field of a nested element, a broken row rule: a sale's
   negative amount, a refund above what was paid, …). Through `load_entity` + `DuckDBSink` (an
   in-memory warehouse) each lands in `quarantine.rejected_rows` with its file, line and a
   reason naming the field (`paid_amount`, `订单付款时间`, `items[2].quantity`); the load does not
   raise, rows in = accepted + rejected, every other row is accepted unchanged, and the
   quarantined text holds no plaintext mobile.
3. **Free text** (`test_free_text__<entity>`, the 7 entities with names, remarks, nicknames,
   titles): arbitrary text the encoding can hold (`st.text()`, GBK-encodable for Tmall) in
   those fields never crashes the reader and never gets a valid row rejected.

Examples per entity: round trip 20, corruption 15, free text 10 — 13 × 20 + 13 × 15 + 7 × 10 =
525 generated files, each written, read and validated (the corruption ones also loaded into
the in-memory warehouse), plus the explicit `@example`s and the hand-written cases below (one
per row rule, reader regressions, the validate.py bugs they found, one open phones.py bug as a non-strict xfail). `database=None`: no
example database is kept, so a failure found once is kept here as an explicit example or case.

Runtime: about 35 s for the whole file on the shared 2-core machine (32 s CPU;
`pytest -p no:cacheprovider tests/unit/test_ingest_properties.py`), up to ~75 s when the
machine is busy with other runs.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tempfile
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings

from pipelines.lib.ingest.loader import load_entity, validate_batch
from pipelines.lib.ingest.readers import ParsedFile, read_csv, read_jsonl
from pipelines.lib.ingest.sinks import DuckDBSink
from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS, EntitySpec
from pipelines.lib.privacy import phones
from tests.conftest import NAME_KEY, examples
from tests.fixtures import contract_rows as cr
from tests.fixtures.contract_rows import FileCase, Layout, Rec

SPECS: dict[str, EntitySpec] = {s.name: s for s in ENTITY_SPECS + REFERENCE_SPECS}
DAY = date(2024, 5, 1)
INGESTED_AT = datetime(2024, 1, 1)
LINEAGE = ("_source_file", "_source_line", "_dt")

ROUND_TRIP_EXAMPLES = 20
CORRUPTION_EXAMPLES = 15
FREE_TEXT_EXAMPLES = 10


def _settings(n: int) -> settings:
    return settings(max_examples=examples(n), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def test_contract_and_specs_cover_the_same_entities():
    assert set(SPECS) == set(cr.RECORDS) == set(cr.ALL_ENTITIES)
    for name, header in cr.HEADERS.items():
        # the contract's headers are the spec's sources, plus the names it does not read
        known = SPECS[name].known_sources()
        assert sorted(known) == sorted(header) and len(known) == len(header), name


# ------------------------------------------------------------------ running a file


def _place(root: Path, case: FileCase, stem: str = "export") -> tuple[Path, str, list[int]]:
    """Write the case where the loader looks for it; (path, path relative to root, lines)."""
    spec = SPECS[case.name]
    data, starts = cr.render(case)
    if spec.channel == "reference":
        rel = f"reference/{spec.entity}.csv"
    else:
        suffix = ".csv" if spec.fmt == "csv" else ".jsonl"
        rel = (f"landing/{spec.channel}/{spec.entity}/dt={DAY.isoformat()}/{stem}{suffix}"
               + (".gz" if case.layout.gz else ""))
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, rel, starts


def _parse(spec: EntitySpec, path: Path) -> ParsedFile:
    if spec.fmt == "csv":
        return read_csv(path, spec.encoding, spec.required_sources(), spec.known_sources())
    return read_jsonl(path)


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_DROP = str.maketrans("", "", phones.SEPARATORS + "+＋")
_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


def _flat(text: str) -> str:
    """The text as a reader of it would see a number in it: JSON escapes decoded, full-width
    digits as ASCII, separators dropped."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).translate(_ASCII).translate(_DROP)


def assert_no_plaintext(values, mobiles: tuple[str, ...], where: str) -> None:
    for v in values:
        if isinstance(v, str):
            flat = _flat(v)
            for m in mobiles:
                assert m not in flat, f"plaintext mobile {m} in {where}: {v!r}"


def assert_no_names(values, names: tuple[str, ...]) -> None:
    """No customer's name (trimmed, 2+ characters) in the quarantine text, not even JSON-escaped."""
    for n in names:
        t = cr.trimmed(n)
        if t is None or len(t) < 2:
            continue
        forms = {t, json.dumps(t, ensure_ascii=False)[1:-1], json.dumps(t)[1:-1]}
        for v in values:
            if isinstance(v, str):
                assert not any(f in v for f in forms), f"name {t!r} in quarantine: {v!r}"


def _child_expectations(case: FileCase, starts: list[int], skip: set[int] = frozenset()):
    names = {n for rec in case.recs for n in rec.children}
    return {n: [{**row, "_source_line": line}
                for j, (rec, line) in enumerate(zip(case.recs, starts, strict=True))
                if j not in skip
                for row in rec.children.get(n, [])]
            for n in names}


def check_round_trip(case: FileCase) -> None:
    spec = SPECS[case.name]
    with tempfile.TemporaryDirectory() as d:
        path, rel, starts = _place(Path(d), case)
        pf = _parse(spec, path)
        v = validate_batch(spec, [(pf, rel, None if spec.channel == "reference" else DAY)], NAME_KEY)
    assert v.rejected.num_rows == 0, v.rejected.to_pylist()
    assert pf.rows_in == len(case.recs)
    rows = v.accepted.to_pylist()
    assert [r["_source_line"] for r in rows] == starts
    for rec, row in zip(case.recs, rows, strict=True):
        assert row["_source_file"] == rel
        got = {k: x for k, x in row.items() if k not in LINEAGE}
        assert got == rec.expected
        assert_no_plaintext(got.values(), rec.mobiles, spec.table)
    want_children = _child_expectations(case, starts)
    assert set(v.children) >= set(want_children)
    for name, table in v.children.items():
        got_rows = [{k: x for k, x in r.items() if k not in ("_source_file", "_dt")}
                    for r in table.to_pylist()]
        assert got_rows == want_children.get(name, []), name
        for row in got_rows:
            assert_no_plaintext(row.values(), tuple(m for rec in case.recs for m in rec.mobiles),
                                name)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


@functools.cache
def _warehouse() -> duckdb.DuckDBPyConnection:
    """One in-memory warehouse for every corruption example, emptied before each (a new DuckDB
    connection costs about as much as the load itself)."""
    return duckdb.connect()


def _empty_warehouse() -> duckdb.DuckDBPyConnection:
    con = _warehouse()
    for schema in ("raw", "quarantine", "privacy"):
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return con


def check_corruption(case: FileCase, bad: dict[int, tuple[str, ...]]) -> None:
    """The records `bad` of `case` must be quarantined, each with a reason containing every
    one of its labels; every other record accepted exactly as the contract says."""
    spec = SPECS[case.name]
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _, rel, starts = _place(root, case)
        con = _empty_warehouse()
        r = load_entity(spec, root, None, DuckDBSink(con), INGESTED_AT, name_key=NAME_KEY)
        quarantined = _fetch(con, "SELECT * FROM quarantine.rejected_rows ORDER BY source_line")
        raw = _fetch(con, f"SELECT * EXCLUDE (_ingested_at) FROM {spec.table} "
                          "ORDER BY _source_line")
        children = {n: _fetch(con, f"SELECT * EXCLUDE (_ingested_at, _source_file, _dt) "
                                   f"FROM raw.{n}")
                    for n in _child_expectations(case, starts)}
    assert not r.errors, r.errors
    assert r.rows_in == r.accepted + r.rejected == len(case.recs)
    assert (r.accepted, r.rejected) == (len(case.recs) - len(bad), len(bad)), quarantined
    assert [q["source_line"] for q in quarantined] == [starts[i] for i in sorted(bad)], quarantined
    for q, i in zip(quarantined, sorted(bad), strict=True):
        assert (q["channel"], q["entity"], q["source_file"]) == (spec.channel, spec.entity, rel)
        assert q["dt"] == (None if spec.channel == "reference" else DAY)
        for label in bad[i]:
            assert label in q["reason"], (label, q["reason"])
        assert_no_plaintext([q["raw_record"], q["reason"]], case.recs[i].mobiles,
                            "quarantine.rejected_rows")
        assert_no_names([q["raw_record"], q["reason"]], case.recs[i].names)
    others = [(rec, line) for j, (rec, line) in enumerate(zip(case.recs, starts, strict=True))
              if j not in bad]
    assert [row["_source_line"] for row in raw] == [line for _, line in others]
    for (rec, _), row in zip(others, raw, strict=True):
        assert row["_source_file"] == rel
        assert row["_dt"] == (None if spec.channel == "reference" else DAY)
        assert {k: x for k, x in row.items() if k not in LINEAGE} == rec.expected
    for name, want in _child_expectations(case, starts, skip=set(bad)).items():
        assert sorted(map(repr, children[name])) == sorted(map(repr, want)), name


# ------------------------------------------------------------------ the properties


def _round_trip(name: str, *examples: FileCase):
    @_settings(ROUND_TRIP_EXAMPLES)
    @given(case=cr.file_cases(name, min_size=0))
    def test(case: FileCase) -> None:
        check_round_trip(case)

    for ex in examples:
        test = example(case=ex)(test)
    test.__name__ = test.__qualname__ = f"test_round_trip__{name}"
    return test


def _corruption(name: str, *examples: tuple[FileCase, dict[int, cr.Corruption]]):
    @_settings(CORRUPTION_EXAMPLES)
    @given(drawn=cr.corrupted_cases(name))
    def test(drawn: tuple[FileCase, dict[int, cr.Corruption]]) -> None:
        case, bad = drawn
        check_corruption(case, {i: c.labels for i, c in bad.items()})

    for ex in examples:
        test = example(drawn=ex)(test)
    test.__name__ = test.__qualname__ = f"test_corrupt_row__{name}"
    return test


def _free_text(name: str, *examples: FileCase):
    @_settings(FREE_TEXT_EXAMPLES)
    @given(case=cr.free_text_cases(name))
    def test(case: FileCase) -> None:
        check_round_trip(case)

    for ex in examples:
        test = example(case=ex)(test)
    test.__name__ = test.__qualname__ = f"test_free_text__{name}"
    return test


# --- hand-built records for explicit examples (values as written, expected as the contract)

def pos_member(card: str = "C0001", mobile: str = "", name: str = "张三", *,
               number: str | None = None, status: str | None = None) -> Rec:
    status = status or ("valid" if number else "empty" if not mobile.strip() else "invalid")
    return Rec(
        {"member_card_no": card, "mobile": mobile, "name": name, "gender": "F",
         "birthday": "1990-01-02", "store_id": "S01", "registered_at": "2024-05-01 10:00:00"},
        {"member_card_no": cr.trimmed(card),
         "mobile_sha256": cr.sha256_hex(number) if number else None,
         "mobile_masked": cr.masked(number) if number else None, "mobile_status": status,
         "name_hash": cr.name_hashed(name), "gender": "F", "birthday": date(1990, 1, 2),
         "store_id": "S01", "registered_at": datetime(2024, 5, 1, 10)},
        mobiles=(number,) if number else (), names=(name,))


def mp_event(ts: str, at: datetime) -> Rec:
    return Rec({"openid": "o123", "event": "view_item", "sku": "SKU1", "ts": ts},
               {"openid": "o123", "event": "view_item", "sku": "SKU1", "event_at": at})


def mp_user(nickname: str) -> Rec:
    """A user with `nickname` (not read into raw)."""
    return Rec({"openid": "o123", "unionid": None, "phone_info": None, "nickname": nickname,
                "created_at": "2024-05-01T10:00:00+08:00"},
               {"openid": "o123", "unionid": None, "mobile_sha256": None, "mobile_masked": None,
                "mobile_status": "empty", "country_code": None,
                "created_at": datetime(2024, 5, 1, 10)}, names=(nickname,))


#: Records every test below starts from: contract-valid, one per entity (values only).
BASE: dict[str, Any] = {
    "pos__members": pos_member().values,
    "pos__orders": {"order_id": "P1", "store_id": "S01", "member_card_no": "C0001",
                    "order_time": "2024-05-01 10:05:00", "total_amount": "100.00",
                    "discount_amount": "10.00", "paid_amount": "90.00",
                    "payment_method": "wechat", "order_type": "sale", "original_order_id": ""},
    "pos__order_items": {"order_id": "P1", "line_no": "1", "sku": "SKU1", "quantity": "2",
                         "unit_price": "50.00", "line_amount": "100.00"},
    "tmall__members": {"ouid": "AAHx1", "手机号哈希": cr.sha256_hex("13800138000"),
                       "入会时间": "2024-05-01 09:00:00", "会员等级": "2"},
    "tmall__orders": {"订单编号": '="3912345678902345"', "买家会员名": "tb_nick", "ouid": "AAHx1",
                      "买家应付货款": "199.00", "买家实际支付金额": "199.00", "订单状态": "交易成功",
                      "订单创建时间": "2024-05-01 08:00:00", "订单付款时间": "2024-05-01 08:01:00",
                      "收货人手机号": "138****8000", "退款金额": "0.00", "店铺名称": "旗舰店"},
    "tmall__order_items": {"订单编号": '="3912345678902345"', "商品编码": "SKU1",
                           "商品标题": "面霜 50ml", "购买数量": "1", "价格": "199.00",
                           "退款状态": ""},
    "miniprogram__users": mp_user("小张").values,
    "miniprogram__orders": {"order_no": "W1", "openid": "o123",
                            "created_at": "2024-05-01T10:00:00+08:00",
                            "paid_at": "2024-05-01T10:01:00+08:00", "status": "PAID",
                            "total_fee": 19900, "discount_fee": 1000, "payer_total": 18900,
                            "refund_fee": 0, "store_id": None,
                            "items": [{"sku": "SKU1", "quantity": 1, "price": 19900}]},
    "miniprogram__events": mp_event("2024-05-01T10:00:00+08:00", datetime(2024, 5, 1, 10)).values,
    "wecom__external_contacts": {
        "external_contact": {"external_userid": "wm1", "name": "张三", "type": 1, "gender": 1},
        "follow_user": [{"userid": "staff1", "remark": "老客户", "createtime": 1714528800,
                         "tags": [{"group_name": "客户等级", "tag_name": "VIP", "type": 1}],
                         "remark_mobiles": ["138 0013 8000"], "add_way": 1,
                         "state": "store_S01"}]},
    "wecom__contact_events": {"ChangeType": "add_external_contact", "UserID": "staff1",
                              "ExternalUserID": "wm1", "State": "store_S01",
                              "CreateTime": 1714528800},
    "reference__stores": {"store_id": "S01", "store_name": "南京西路店", "city": "上海",
                          "province": "上海", "opened_at": "2019-06-01"},
    "reference__products": {"sku": "SKU1", "product_name": "面霜", "category": "护肤",
                            "list_price": "199.00", "unit_cost": "60.00"},
}


#: Plaintext mobiles in BASE (a staff-typed remark mobile): never in the quarantine text.
BASE_MOBILES = {"wecom__external_contacts": ("13800138000",)}
DEFAULT_LAYOUT = Layout()


def one_bad(name: str, layout: Layout = DEFAULT_LAYOUT, line: str | None = None,
            mobiles: tuple[str, ...] = (), **changes: Any) -> FileCase:
    """A one-record file: BASE[name] with `changes` (nested: `items__0__price`)."""
    mobiles = mobiles or BASE_MOBILES.get(name, ())
    values = copy.deepcopy(BASE[name])
    for path, value in changes.items():
        parent: Any = values
        parts = [int(p) if p.isdigit() else p for p in path.split("__")]
        for part in parts[:-1]:
            parent = parent[part]
        parent[parts[-1]] = value
    raw = frozenset({"订单编号"}) if str(values.get("订单编号", "")).startswith("=") else frozenset()
    return FileCase(name, [Rec(values, {}, mobiles=mobiles, raw_cells=raw, line=line)], layout)


def test_base_records_are_valid():
    for name in BASE:
        spec = SPECS[name]
        with tempfile.TemporaryDirectory() as d:
            path, rel, _ = _place(Path(d), one_bad(name))
            v = validate_batch(spec, [(_parse(spec, path), rel, DAY)], NAME_KEY)
        assert v.rejected.num_rows == 0 and v.accepted.num_rows == 1, (name, v.rejected.to_pylist())


# --- explicit examples kept from what the properties found (reader bugs, fixed in readers.py)

#: A quoted name spanning lines: `_source_line` was the record ordinal (3), not the physical
#: line (4) of the next record; a blank line before made it worse.
MULTILINE_NAME = FileCase("pos__members", [pos_member("C0001", name="多行\n备注"),
                                           pos_member("C0002", name="李四")], Layout())
#: A header-only file without its trailing newline crashed the load (pyarrow ArrowInvalid
#: "Could not skip initial 1 rows"); the contract allows a missing final newline.
HEADER_ONLY_NO_NEWLINE = FileCase("tmall__orders", [], Layout(trailing_newline=False))
#: The same with CRLF and a BOM.
HEADER_ONLY_CRLF_BOM = FileCase("pos__orders", [], Layout(newline="\r\n", bom=True,
                                                          trailing_newline=False))

#: Keys with a tab, CR or BOM around them (quoted): trim() used to strip spaces only, so
#: 'C0001\t' was another member than 'C0001' (fixed by the lead in dcc065b).
KEYS_WITH_BLANKS = FileCase("pos__members", [pos_member(c) for c in
                                             ("C0001\t", "\tC0002", "C0003\r", "\ufeffC0004")],
                            Layout(quote_all=True))

test_round_trip__pos__members = _round_trip("pos__members", MULTILINE_NAME, KEYS_WITH_BLANKS)
test_round_trip__pos__orders = _round_trip("pos__orders", HEADER_ONLY_CRLF_BOM)
test_round_trip__pos__order_items = _round_trip("pos__order_items")
test_round_trip__tmall__members = _round_trip("tmall__members")
test_round_trip__tmall__orders = _round_trip("tmall__orders", HEADER_ONLY_NO_NEWLINE)
test_round_trip__tmall__order_items = _round_trip("tmall__order_items")
test_round_trip__miniprogram__users = _round_trip("miniprogram__users")
test_round_trip__miniprogram__orders = _round_trip("miniprogram__orders")
test_round_trip__miniprogram__events = _round_trip("miniprogram__events")
test_round_trip__wecom__external_contacts = _round_trip("wecom__external_contacts")
test_round_trip__wecom__contact_events = _round_trip("wecom__contact_events")
test_round_trip__wecom__group_chats = _round_trip("wecom__group_chats")
test_round_trip__wecom__group_events = _round_trip("wecom__group_events")
test_round_trip__reference__stores = _round_trip("reference__stores")
test_round_trip__reference__products = _round_trip("reference__products")

#: A row with a field missing after a multi-line record: the reject's line was an ordinal.
MISSING_AFTER_MULTILINE = (
    FileCase("pos__members", [pos_member("C0001", name="多行\n\n备注"),
                              replace(pos_member("C0002"), drop_cells=1)], Layout()),
    {1: cr.Corruption(Rec({}, {}), ("malformed CSV row",), "missing field")})

test_corrupt_row__pos__members = _corruption("pos__members", MISSING_AFTER_MULTILINE)
test_corrupt_row__pos__orders = _corruption("pos__orders")
test_corrupt_row__pos__order_items = _corruption("pos__order_items")
test_corrupt_row__tmall__members = _corruption("tmall__members")
test_corrupt_row__tmall__orders = _corruption("tmall__orders")
test_corrupt_row__tmall__order_items = _corruption("tmall__order_items")
test_corrupt_row__miniprogram__users = _corruption("miniprogram__users")
test_corrupt_row__miniprogram__orders = _corruption("miniprogram__orders")
test_corrupt_row__miniprogram__events = _corruption("miniprogram__events")
test_corrupt_row__wecom__external_contacts = _corruption("wecom__external_contacts")
test_corrupt_row__wecom__contact_events = _corruption("wecom__contact_events")
test_corrupt_row__wecom__group_chats = _corruption("wecom__group_chats")
test_corrupt_row__wecom__group_events = _corruption("wecom__group_events")
test_corrupt_row__reference__stores = _corruption("reference__stores")
test_corrupt_row__reference__products = _corruption("reference__products")

test_free_text__pos__members = _free_text("pos__members")
test_free_text__tmall__orders = _free_text("tmall__orders")
test_free_text__tmall__order_items = _free_text("tmall__order_items")
test_free_text__miniprogram__users = _free_text("miniprogram__users")
test_free_text__wecom__external_contacts = _free_text("wecom__external_contacts")
test_free_text__reference__stores = _free_text("reference__stores")
test_free_text__reference__products = _free_text("reference__products")


# ------------------------------------------------------------------ reader regressions


def test_large_csv_with_quoted_newlines_at_every_block_boundary(tmp_path):
    """> 1 MB of records whose names hold newlines: pyarrow's block chunker lost sync where a
    quoted newline straddled a block boundary and the whole load raised ArrowInvalid."""
    recs = [pos_member(f"C{i:06d}", name=f"第{i}位\n会员") for i in range(20_000)]
    case = FileCase("pos__members", recs, Layout())
    spec = SPECS[case.name]
    path, _, starts = _place(tmp_path, case)
    assert path.stat().st_size > 1_100_000
    pf = _parse(spec, path)
    assert not pf.parser_rejects and not pf.warnings
    assert pf.rows["_source_line"].to_pylist() == starts
    assert pf.rows["member_card_no"].to_pylist() == [r.values["member_card_no"] for r in recs]


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", b" \n"])
def test_a_file_of_only_a_bom_or_blanks_is_empty(tmp_path, content):
    path = tmp_path / "members.csv"
    path.write_bytes(content)
    spec = SPECS["pos__members"]
    pf = _parse(spec, path)
    assert pf.rows_in == 0 and "empty file" in pf.warnings[0]


# ------------------------------------------------------------------ row rules (specs.py `Rule`)
# The contract's sign conventions and the configured maximum, one minimal case per rule (the
# corruption properties break them at random too); valid strategies respect them all.

ROW_RULE_CASES = [
    ("pos__orders", {"paid_amount": "-90.00"}, ("paid_amount",), "sale with a negative paid amount"),
    ("pos__orders", {"total_amount": "-100.00", "discount_amount": "-10.00"}, ("total_amount",),
     "sale with negative amounts"),
    ("pos__orders", {"order_type": "return", "original_order_id": "P0"}, ("total_amount",),
     "return with positive amounts"),
    ("pos__orders", {"total_amount": "50.00", "discount_amount": "0.00", "paid_amount": "60.00"},
     ("paid_amount",), "paid more than the total"),
    ("pos__orders", {"total_amount": "60000.00", "discount_amount": "0.00",
                     "paid_amount": "60000.00"}, ("paid_amount",), "above max_order_amount_yuan"),
    ("pos__order_items", {"quantity": "-2", "unit_price": "-50.00", "line_amount": "-100.00"},
     ("quantity",), "return line negative in quantity AND price"),
    ("pos__order_items", {"line_amount": "-100.00"}, ("line_amount",),
     "line amount sign differs from quantity × price"),
    ("pos__order_items", {"line_no": "0"}, ("line_no",), "line numbers start at 1"),
    ("tmall__orders", {"退款金额": "299.00"}, ("退款金额",), "refund larger than paid"),
    ("tmall__orders", {"买家应付货款": "-1.00"}, ("买家应付货款",), "negative amount"),
    ("tmall__orders", {"买家应付货款": "60000.00", "买家实际支付金额": "60000.00"},
     ("买家实际支付金额",), "above max_order_amount_yuan"),
    ("tmall__order_items", {"购买数量": "0"}, ("购买数量",), "quantity below 1"),
    ("tmall__order_items", {"价格": "-1.00"}, ("价格",), "negative price"),
    ("miniprogram__orders", {"refund_fee": 20000}, ("refund_fee",), "refund larger than paid"),
    ("miniprogram__orders", {"discount_fee": -1}, ("discount_fee",), "negative fee"),
    ("miniprogram__orders", {"total_fee": 5_000_001, "payer_total": 5_000_001},
     ("total_fee",), "above the max, in fen"),
    ("miniprogram__orders", {"items__0__quantity": 0}, ("items[1].quantity",), "item quantity 0"),
    ("miniprogram__orders", {"items__0__price": -1}, ("items[1].price",), "negative item price"),
    ("wecom__external_contacts", {"external_contact__type": 3}, ("external_contact.type",),
     "type not 1/2"),
    ("wecom__external_contacts", {"external_contact__gender": 5}, ("external_contact.gender",),
     "gender not 0/1/2"),
    ("reference__products", {"list_price": "-1.00"}, ("list_price",), "negative list price"),
]


@pytest.mark.parametrize(("name", "changes", "labels", "what"), [
    pytest.param(*c, id=f"{c[0]}-{c[3]}") for c in ROW_RULE_CASES])
def test_row_rule_violation_is_quarantined(name, changes, labels, what):
    check_corruption(one_bad(name, **changes), {0: labels})


# ------------------------------------------------------------------ found in validate.py, fixed
# Minimal failing examples of what these properties found outside the readers (fixed since in
# validate.py; the strategies draw these readings too). The phones.py one is still open.

EXCEL_EMPTY_KEY = [one_bad("tmall__orders", 订单编号='=""'),
                   one_bad("tmall__order_items", 订单编号='=" "')]


@pytest.mark.parametrize("case", EXCEL_EMPTY_KEY, ids=["orders", "order_items"])
def test_excel_wrapped_empty_key_is_empty(case):
    check_corruption(case, {0: ("订单编号",)})


@pytest.mark.parametrize(("name", "changes", "label"), [
    ("pos__order_items", {"quantity": "1.5", "line_amount": "75.00"}, "quantity"),
    ("tmall__order_items", {"购买数量": "0x1"}, "购买数量"),
    ("miniprogram__orders", {"total_fee": 19900.5}, "total_fee"),
    ("wecom__contact_events", {"CreateTime": 1714528800.5}, "CreateTime"),
])
def test_non_integer_is_not_an_integer(name, changes, label):
    check_corruption(one_bad(name, **changes), {0: (label,)})


@pytest.mark.parametrize("ts", ["2024-02-30T10:00:00+08:00", "2023-02-29T10:00:00Z",
                                "2024-04-31 10:00:00+08:00"])
def test_impossible_date_with_offset_is_rejected(ts):
    check_corruption(one_bad("miniprogram__events", ts=ts), {0: ("ts",)})


def test_fractional_seconds_without_offset():
    check_round_trip(FileCase("miniprogram__events", [
        mp_event("2024-05-01T10:00:00.250", datetime(2024, 5, 1, 10, 0, 0, 250000))], Layout()))


def test_full_width_digits_in_free_text_are_kept_as_written():
    """Regression: the redaction translated EVERY full-width digit of free text to ASCII, not
    only inside a redacted mobile ('第１名' → '第1名'; first seen on the mini-program nickname,
    which raw no longer reads; the same SQL redacts the quarantine text). A full-width mobile in
    the same text is still redacted."""
    text = "第１名 ＡＢ１２"
    assert phones.redact_mobiles(text) == text
    mixed = "第１名 电话１３８\u3000００１３\u3000８０００。"
    assert phones.redact_mobiles(mixed) == "第１名 电话[mobile]。"
    got = duckdb.connect().execute(
        f"SELECT {phones.sql_redact_mobiles('x')} FROM (SELECT ? AS x)", [mixed]).fetchall()[0][0]
    assert got == "第１名 电话[mobile]。"
    got = duckdb.connect().execute(
        f"SELECT {phones.sql_redact_mobiles('x')} FROM (SELECT ? AS x)", [text]).fetchall()[0][0]
    assert got == text


def test_json_escaped_mobile_is_redacted_in_quarantine():
    case = one_bad("wecom__external_contacts", Layout(ensure_ascii=True), mobiles=("13800138000",),
                   follow_user__0__remark_mobiles=["１３８\u3000００１３\u3000８０００"],
                   follow_user__0__createtime="yesterday")
    check_corruption(case, {0: ("follow_user[1].createtime",)})


def test_nested_reason_numbers_the_outer_element():
    case = one_bad("wecom__external_contacts", follow_user__0__tags__0__type="x")
    check_corruption(case, {0: ("follow_user[1].tags[1].type",)})


# ------------------------------------------------------------------ fixed since (dcc065b)
# U+00A0 inside a mobile made it invalid (the person split in two): "NBSP phones pending" when
# these tests were written, fixed in phones.py since; kept as a plain regression test.

@pytest.mark.parametrize("mobile", ["138\u00a00013\u00a08000", "\u00a013800138000\u00a0",
                                    "+86\u00a0138 0013 8000"])
def test_nbsp_inside_a_mobile(mobile):
    rec = pos_member(mobile=mobile, number="13800138000")
    check_round_trip(FileCase("pos__members", [rec], Layout()))


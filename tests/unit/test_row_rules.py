"""Row faults are quarantined with a reason naming the field; only a flood of them blocks.

Every case is written by hand from the landing contract's text, not by the generator: a return
line with the minus sign on the price (`P4,1,SKU1,1,-100.00,-100.00`) is as contract-valid as
one with the sign on the quantity, and neither may stop a night.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines.lib.ingest.loader import FileStats, LoadResult, load_entity, quarantine_breaches
from pipelines.lib.ingest.sinks import DuckDBSink
from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS, SPECS_BY_NAME
from pipelines.lib.platform.warehouse import connect
from pipelines.lib.quality.gx_suites import load_suite_json, run_suite
from pipelines.settings import EXPECTATIONS_DIR

AT = datetime(2024, 5, 2)
DAY = "2024-05-01"
POS_ITEMS = "order_id,line_no,sku,quantity,unit_price,line_amount\r\n"
POS_ORDERS = ("order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
              "paid_amount,payment_method,order_type,original_order_id\n")
TMALL_ORDERS = ("订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,"
                "订单付款时间,收货人手机号,退款金额,店铺名称\n")


def _load(tmp_path: Path, entity: str, rel: str, text: str, encoding: str = "utf-8"):
    p = tmp_path / "zone" / "landing" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text.encode(encoding))
    with connect(tmp_path / "w.duckdb") as con:
        r = load_entity(SPECS_BY_NAME[entity], tmp_path / "zone", None, DuckDBSink(con), AT)
        reasons = dict(con.execute(
            "SELECT source_line, reason FROM quarantine.rejected_rows").fetchall())
        raw = con.execute(f"SELECT * FROM raw.{entity} ORDER BY _source_line").df()
    return r, reasons, raw


def test_return_lines_in_both_conventions_are_accepted(tmp_path):
    r, reasons, raw = _load(tmp_path, "pos__order_items", f"pos/order_items/dt={DAY}/i.csv",
                            POS_ITEMS + "P3,1,SKU1,-2,50.00,-100.00\r\n"
                                        "P4,1,SKU1,1,-100.00,-100.00\r\n"
                                        "P1,1,SKU1,2,50.00,100.00\r\n")
    assert (r.rows_in, r.accepted, r.rejected) == (3, 3, 0), reasons
    assert raw["unit_price"].astype(float).tolist() == [50.0, -100.0, 50.0]


@pytest.mark.parametrize(("line", "field", "why"), [
    ("P5,1,SKU1,-2,-50.00,100.00", "quantity", "negative together with unit_price"),
    ("P6,0,SKU1,1,5.00,5.00", "line_no", "line numbers start at 1"),
    ("P7,1,SKU1,1,5.00,-5.00", "line_amount", "sign differs from quantity"),
    ("P8,1,SKU1,1,990000.00,990000.00", "line_amount", "above the largest plausible order"),
])
def test_an_impossible_return_line_is_quarantined_naming_the_field(tmp_path, line, field, why):
    r, reasons, _ = _load(tmp_path, "pos__order_items", f"pos/order_items/dt={DAY}/i.csv",
                          POS_ITEMS + "P1,1,SKU1,2,50.00,100.00\r\n" + line + "\r\n")
    assert (r.accepted, r.rejected) == (1, 1)
    assert reasons[3].startswith(f"{field}: ") and why in reasons[3]


@pytest.mark.parametrize(("row", "reason"), [
    ("P1,S01,,2024-05-01 10:00:00,-5.00,0.00,-5.00,cash,sale,",
     "paid_amount: negative on a sale"),
    ("P2,S01,,2024-05-01 10:00:00,5.00,0.00,5.00,cash,return,P0",
     "paid_amount: positive on a return"),
    ("P3,S01,,2024-05-01 10:00:00,990000.00,0.00,990000.00,cash,sale,",
     "paid_amount: above the largest plausible order (50000 yuan"),
    ("P4,S01,,2024-05-01 10:00:00,10.00,0.00,20.00,cash,sale,",
     "paid_amount: larger than total_amount"),
])
def test_pos_receipt_sign_rules(tmp_path, row, reason):
    r, reasons, _ = _load(tmp_path, "pos__orders", f"pos/orders/dt={DAY}/o.csv",
                          POS_ORDERS + "P0,S01,,2024-05-01 09:00:00,5.00,0.00,5.00,cash,sale,\n"
                          + row + "\n")
    assert (r.accepted, r.rejected) == (1, 1)
    assert reason in reasons[3]


def test_a_return_receipt_with_negative_amounts_is_accepted(tmp_path):
    r, reasons, _ = _load(tmp_path, "pos__orders", f"pos/orders/dt={DAY}/o.csv",
                          POS_ORDERS + "P4,S01,C1,2024-05-01 19:00:00,-100.00,0.00,-100.00,"
                                       "cash,return,P1\n")
    assert (r.accepted, r.rejected) == (1, 0), reasons


def test_tmall_refund_larger_than_payment_names_the_chinese_header(tmp_path):
    r, reasons, _ = _load(tmp_path, "tmall__orders", f"tmall/orders/dt={DAY}/o.csv",
                          TMALL_ORDERS + "1,n,OU1,800.00,800.00,交易关闭,2024-05-01 08:00:00,"
                          "2024-05-01 08:01:00,,800.00,店\n"
                          "2,n,OU1,800.00,800.00,交易关闭,2024-05-01 08:00:00,"
                          "2024-05-01 08:01:00,,900.00,店\n", "gbk")
    assert (r.accepted, r.rejected) == (1, 1)
    assert reasons[3].startswith("退款金额 (refund_amount): larger than 买家实际支付金额")


def test_a_nested_element_rule_names_its_position(tmp_path):
    order = {"order_no": "W1", "openid": "o", "created_at": "2024-05-01T10:00:00+08:00",
             "paid_at": None, "status": "PAID", "total_fee": 100, "discount_fee": 0,
             "payer_total": 100, "refund_fee": 0, "store_id": None,
             "items": [{"sku": "a", "quantity": 1, "price": 100},
                       {"sku": "b", "quantity": 0, "price": 100}]}
    r, reasons, _ = _load(tmp_path, "miniprogram__orders", f"miniprogram/orders/dt={DAY}/o.jsonl",
                          json.dumps(order) + "\n")
    assert r.rejected == 1
    assert reasons[1] == "items[2].quantity: below 1 '0'"


# --- the gate: a flood of quarantined rows is systemic ------------------------------------


def _result(*files: tuple[int, int]) -> LoadResult:
    r = LoadResult(SPECS_BY_NAME["pos__orders"])
    r.files = [FileStats(f"f{i}.csv", None, n, n - bad, bad, "") for i, (n, bad) in enumerate(files)]
    r.rejected_by_reason = Counter({"paid_amount: above the largest plausible order": 7})
    return r


def test_a_few_bad_rows_pass_the_gate_a_flood_blocks_naming_file_and_counts():
    assert quarantine_breaches(_result((7, 4)), 0.01, 10) == []  # small file, few rows
    assert quarantine_breaches(_result((100_000, 1_000)), 0.01, 10) == []  # exactly 1 %
    (breach,) = quarantine_breaches(_result((100_000, 1_001), (50, 0)), 0.01, 10)
    assert breach.scope == "f0.csv" and (breach.rejected, breach.allowed) == (1_001, 1_000)
    assert "1001 of 100000 rows quarantined" in str(breach)
    assert "paid_amount: above the largest plausible order ×7" in str(breach)


def test_many_files_each_below_the_gate_but_the_entity_above_it_blocks():
    breaches = quarantine_breaches(_result(*[(1_000, 10)] * 30), 0.005, 10)
    assert [b.scope for b in breaches] == ["pos/orders (all files of this run)"]


# --- the raw suites: systemic checks only ------------------------------------------------


@pytest.mark.parametrize("spec", ENTITY_SPECS + REFERENCE_SPECS, ids=lambda s: s.name)
def test_every_raw_suite_checks_its_table_columns(spec):
    suite = load_suite_json(EXPECTATIONS_DIR / "raw" / f"{spec.name}.json")
    (columns,) = [e for e in suite["expectations"]
                  if e["type"] == "expect_table_columns_to_match_set"]
    assert columns["kwargs"]["exact_match"] is True


def _orders(paid: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"order_type": ["sale"] * len(paid), "paid_amount": paid,
                         "original_order_id": [None] * len(paid)})


def test_fen_delivered_as_yuan_fails_the_median_check_on_enough_rows():
    path = EXPECTATIONS_DIR / "raw" / "pos__orders.json"
    ok = run_suite(path, _orders([59.0, 120.5, 88.0] * 20))
    fen = run_suite(path, _orders([5900.0, 12050.0, 8800.0] * 20))
    median = "expect_column_median_to_be_between"
    assert [o.success for o in ok.outcomes if o.expectation == median] == [True]
    assert [o.success for o in fen.outcomes if o.expectation == median] == [False]


def test_a_distribution_check_is_not_evaluated_on_a_handful_of_rows():
    outcome = run_suite(EXPECTATIONS_DIR / "raw" / "pos__orders.json", _orders([5900.0] * 3))
    (median,) = [o for o in outcome.outcomes if o.expectation == "expect_column_median_to_be_between"]
    assert median.success and "not evaluated: 3 rows < min_rows 50" in median.sample[0]


@pytest.mark.parametrize("blank", ["\t", "\ufeff", "\u200b", "\u3000", "\u00a0 "])
def test_a_key_holding_only_invisible_blanks_is_empty(tmp_path, blank):
    """DuckDB's trim() removes spaces only: a tab or a BOM kept a "key" alive (regression)."""
    members = ("member_card_no,mobile,name,gender,birthday,store_id,registered_at\n"
               f"{blank},,n,,,S01,2024-05-01 10:00:00\n"
               f"{blank}C1{blank},,n,,,S01,2024-05-01 10:00:00\n")
    _, reasons, raw = _load(tmp_path, "pos__members", f"pos/members/dt={DAY}/m.csv", members)
    assert reasons[2] == "member_card_no: required value is empty"
    assert raw["member_card_no"].tolist() == ["C1"]

"""POS (physical stores): members, receipts and receipt lines as the till exports them.

Members are exported on the day they register (members who joined before the window in the
day-one initial export) and again whenever the card changes: a new phone, a birthday added.
A return is a receipt of its own (`order_type=return`, negative amounts) naming the sale.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.lib.generator import behaviour as bh
from pipelines.lib.generator.config import GeneratorConfig
from pipelines.lib.generator.formats import Delivery, csv_line, nullable, sort_rows, take, versions
from pipelines.lib.generator.identity_cases import PosPhones
from pipelines.lib.generator.population import NEVER, Population
from pipelines.lib.generator.reference import Reference

MEMBERS_HEADER = "member_card_no,mobile,name,gender,birthday,store_id,registered_at"
ORDERS_HEADER = ("order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
                 "paid_amount,payment_method,order_type,original_order_id")
ITEMS_HEADER = "order_id,line_no,sku,quantity,unit_price,line_amount"
PAYMENT_METHODS = np.array(["wechat", "alipay", "unionpay", "cash"])


def members(rng: np.random.Generator, pop: Population, pp: PosPhones, days: int,
            cfg: GeneratorConfig, ref: Reference) -> Delivery:
    n = len(pp.person)
    person = pp.person
    given_birthday = rng.random(n) < 0.6
    update = ~given_birthday & (rng.random(n) < cfg.p_profile_update / 0.4)
    base = np.maximum(pop.join_day[person, 0], 0)
    update_day = np.where(update, base + rng.integers(1, 300, n), NEVER)
    ent, day = versions(base, [pp.change_day, update_day], days)
    p = person[ent]
    changed = pp.change_day[ent] <= day
    reg_sec = rng.integers(10 * 3600, 22 * 3600, n).astype(np.int32)
    gender_blank = rng.random(n) < 0.05
    name_blank = rng.random(n) < 0.03
    order = sort_rows(day, np.minimum(pop.join_day[p, 0], day), reg_sec[ent], ent)
    ent, day, p, changed = ent[order], day[order], p[order], changed[order]
    birthday = np.datetime_as_string(pop.birthday[p], unit="D")
    table = pa.table({
        "card": take(pop.card, p),
        "mobile": np.where(changed, pp.new_phone[ent], pp.phone[ent]),
        "code": np.where(changed, pp.new_code[ent], pp.code[ent]),
        "noise": rng.integers(0, 2**40, len(ent)),
        "name": nullable(pop.name[p], ~name_blank[ent]),
        "gender": nullable(np.where(pop.female[p], "F", "M"), ~gender_blank[ent]),
        "birthday": nullable(birthday, given_birthday[ent] | (update_day[ent] <= day)),
        "store_id": take(pa.array(ref.stores["store_id"]), pop.home_store[p]),
        "reg_day": pop.join_day[p, 0].astype(np.int32),
        "reg_sec": reg_sec[ent],
    })
    line = csv_line("card", "typed_mobile(mobile, code, noise)", "csvq(name)", "gender",
                    "birthday", "store_id", "local_ts(reg_day, reg_sec)")
    return Delivery("pos/members", "csv", table, line, day, MEMBERS_HEADER, bom=True,
                    damage={"key": 0, "timestamps": [6], "amounts": []})


def orders_and_items(rng: np.random.Generator, pop: Population, o: bh.Orders, lines: bh.Lines,
                     days: int, ref: Reference) -> tuple[Delivery, Delivery]:
    sale = np.flatnonzero(o.channel == bh.POS)
    ret = sale[(o.refund[sale] != bh.NO_REFUND) & (o.refund_day[sale] < days)]
    full = o.refund[ret] == bh.FULL_REFUND
    part_base = np.where(o.n_lines[ret] >= 2, lines.amount[np.maximum(o.refund_line[ret], 0)],
                         lines.price[np.maximum(o.refund_line[ret], 0)])
    ret_total = np.where(full, o.total[ret], part_base)
    ret_paid = o.refund_amount[ret]
    rows = np.concatenate([sale, ret])
    is_ret = np.repeat([False, True], [len(sale), len(ret)])
    day = np.concatenate([o.day[sale], o.refund_day[ret]])
    sec = np.concatenate([o.sec[sale], o.refund_sec[ret]])
    total = np.concatenate([o.total[sale], -ret_total])
    paid = np.concatenate([o.paid[sale], -ret_paid])
    order = sort_rows(day, sec, rows)
    rows, is_ret, day, sec, total, paid = (a[order] for a in (rows, is_ret, day, sec, total, paid))
    store_ids = pa.array(ref.stores["store_id"])
    p = np.maximum(o.person[rows], 0)
    pay = PAYMENT_METHODS[rng.choice(4, size=len(rows), p=[0.48, 0.32, 0.14, 0.06])]
    table = pa.table({
        "store_id": take(store_ids, o.store[rows]),
        "sale_day": o.day[rows], "day": day, "sec": sec, "seq": rows,
        "card": take(pop.card, p, o.identified[rows]),
        "total": total, "discount": total - paid, "paid": paid,
        "pay": pay, "is_return": is_ret,
    })
    oid = "store_id || yymmdd(sale_day) || 'N' || lpad(seq::VARCHAR, 8, '0')"
    rid = "store_id || yymmdd(day) || 'R' || lpad(seq::VARCHAR, 8, '0')"
    line = csv_line(f"CASE WHEN is_return THEN {rid} ELSE {oid} END", "store_id", "card",
                    "local_ts(day, sec)", "yuan(total)", "yuan(discount)", "yuan(paid)", "pay",
                    "CASE WHEN is_return THEN 'return' ELSE 'sale' END",
                    f"CASE WHEN is_return THEN {oid} END")
    orders = Delivery("pos/orders", "csv", table, line, day, ORDERS_HEADER, bom=True,
                      damage={"key": 0, "timestamps": [3], "amounts": [4, 5, 6]})

    # receipt lines of sales, in receipt order
    sales_sorted = rows[~is_ret]
    li = bh.expand_ranges(o.line_start[sales_sorted], o.n_lines[sales_sorted])
    parent = np.repeat(sales_sorted, o.n_lines[sales_sorted])
    items_table = pa.table({
        "store_id": take(store_ids, o.store[parent]), "sale_day": o.day[parent], "seq": parent,
        "line_no": lines.line_no[li], "sku": take(pa.array(ref.products["sku"]), lines.sku[li]),
        "qty": lines.qty[li], "price": lines.price[li], "amount": lines.amount[li],
    })
    items_line = csv_line(oid, "line_no", "sku", "qty", "yuan(price)", "yuan(amount)")
    items = Delivery("pos/order_items", "csv", items_table, items_line, o.day[parent],
                     ITEMS_HEADER, bom=True,
                     damage={"key": 0, "timestamps": [], "amounts": [4, 5]})
    return orders, items

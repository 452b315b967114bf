"""POS (physical stores): members, receipts and receipt lines as the till exports them.

Members are exported on the day they register (members who joined before the window in the
day-one initial export) and again whenever the card changes: a new phone, a birthday added.
A return is a receipt of its own (`order_type=return`, negative amounts) naming the sale.

Return receipts carry the returned lines (a full return: every line of the sale; a partial
one: the returned line, or one unit of a single-line sale) unless the cashier refunded an
amount without scanning the goods (`p_pos_return_lines`): then the receipt has no lines.
The sign convention is the till software's, so it is fixed per store: the stores at even
(0-based) positions of reference/stores.csv write a returned line as negative quantity at a
positive price (`…R…,1,SKU1,-2,50.00,-100.00`), the others as positive quantity at a
negative price (`…R…,1,SKU1,2,-50.00,-100.00`). Either way quantity × unit_price = line_amount, and a
return's lines sum to its (negative) total_amount exactly as a sale's lines sum to its total.
Return lines are numbered from 1 on their own receipt.

The ground truth is unaffected: `_truth/` holds no per-order revenue, and the manifest's
order counts (`orders.pos`, `orders.refunded_*`) count sales and refunds of the behaviour
model, whether or not a return receipt lists lines.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from siyu_generator import behaviour as bh
from siyu_generator.config import GeneratorConfig
from siyu_generator.formats import Delivery, csv_line, nullable, sort_rows, take, versions
from siyu_generator.identity_cases import PosPhones
from siyu_generator.population import NEVER, Population
from siyu_generator.reference import Reference

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
                     days: int, ref: Reference, cfg: GeneratorConfig, order_offset: int = 0
                     ) -> tuple[Delivery, Delivery]:
    """`order_offset`: the zone index of the block's first order (receipt numbers are the
    zone's order index, unique across blocks)."""
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
        "sale_day": o.day[rows], "day": day, "sec": sec, "seq": rows + order_offset,
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

    # receipt lines in receipt order: a sale's lines; a return's returned lines, or none
    full_r = o.refund[rows] == bh.FULL_REFUND
    listed = ~is_ret | (rng.random(len(rows)) < cfg.p_pos_return_lines)
    n_items = np.where(is_ret & ~full_r, 1, o.n_lines[rows]) * listed
    start = np.where(is_ret & ~full_r, o.refund_line[rows], o.line_start[rows])
    li = bh.expand_ranges(start, n_items)
    r = np.repeat(np.arange(len(rows)), n_items)  # receipt (position in `rows`) of each line
    ret_line = is_ret[r]
    # a partial refund of a single-line sale returns one unit of it (see behaviour.py)
    one_unit = ret_line & ~full_r[r] & (o.n_lines[rows][r] == 1)
    qty = np.where(one_unit, 1, lines.qty[li]).astype(np.int64)
    price = lines.price[li].astype(np.int64)
    neg_price = ret_line & (o.store[rows][r] % 2 == 1)  # the till's convention, per store
    qty = np.where(ret_line & ~neg_price, -qty, qty)
    price = np.where(neg_price, -price, price)
    first = np.cumsum(n_items) - n_items
    line_no = (np.arange(len(r)) - first[r] + 1).astype(np.int16)
    parent = rows[r]
    items_table = pa.table({
        "store_id": take(store_ids, o.store[parent]), "sale_day": o.day[parent],
        "seq": parent + order_offset,
        "day": day[r], "is_return": ret_line,
        "line_no": line_no, "sku": take(pa.array(ref.products["sku"]), lines.sku[li]),
        "qty": qty, "price": price, "amount": qty * price,
    })
    items_line = csv_line(f"CASE WHEN is_return THEN {rid} ELSE {oid} END", "line_no", "sku",
                          "qty", "yuan(price)", "yuan(amount)")
    items = Delivery("pos/order_items", "csv", items_table, items_line, day[r],
                     ITEMS_HEADER, bom=True,
                     damage={"key": 0, "timestamps": [], "amounts": [4, 5]})
    return orders, items

"""Tmall flagship store: 会员通 members and Qianniu order exports (GBK, Chinese headers).

An order is re-exported every time its status changes: 等待买家付款 (created, unpaid) →
买家已付款，等待卖家发货 → 卖家已发货，等待买家确认 → 交易成功, or 交易关闭 when an unpaid
order times out or is fully refunded; a partial refund after success re-delivers 交易成功
with 退款金额 > 0. Lines are re-exported with their order (the newest delivery is complete).
Mobiles only ever appear as SHA-256 (members) or masked (receiver).

About half the 订单编号 values are Excel-wrapped; on some export days the wrapper is written
raw (`="3912…"`, an unquoted field), on the others CSV-quoted (the field `="3912…"` in
double quotes with its quotes doubled, as Excel saves it) — a CSV reader gets the same value
`="3912…"` from both. Line ends (LF or CRLF) are the writer's choice per
channel-day.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from siyu_generator import behaviour as bh
from siyu_generator import ids
from siyu_generator.config import GeneratorConfig
from siyu_generator.formats import Delivery, csv_line, nullable, sort_rows, take, versions
from siyu_generator.names import tmall_nicks
from siyu_generator.population import NEVER, Population
from siyu_generator.reference import Reference

MEMBERS_HEADER = "ouid,手机号哈希,入会时间,会员等级"
ORDERS_HEADER = ("订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,"
                 "订单付款时间,收货人手机号,退款金额,店铺名称")
ITEMS_HEADER = "订单编号,商品编码,商品标题,购买数量,价格,退款状态"
STATUSES = ["等待买家付款", "交易关闭", "买家已付款，等待卖家发货", "卖家已发货，等待买家确认",
            "交易成功"]
WAIT_PAY, CLOSED, PAID, SHIPPED, SUCCESS = range(5)
SHOP_NAME = "思语官方旗舰店"
TMALL = 1


def members(rng: np.random.Generator, pop: Population, days: int,
            cfg: GeneratorConfig) -> Delivery:
    person = np.flatnonzero(pop.present(TMALL, days))
    n = len(person)
    base = np.maximum(pop.join_day[person, TMALL], 0)
    level = rng.choice([1, 2, 3, 4], size=n, p=[0.62, 0.25, 0.09, 0.04])
    up = (level < 4) & (rng.random(n) < cfg.p_tmall_level_change)
    up_day = np.where(up, base + rng.integers(30, 500, n), NEVER)
    ent, day = versions(base, [up_day], days)
    p = person[ent]
    sec = rng.integers(0, 86400, n).astype(np.int32)
    order = sort_rows(day, np.minimum(pop.join_day[p, TMALL], day), sec[ent], ent)
    ent, day, p = ent[order], day[order], p[order]
    table = pa.table({
        "ouid": take(pop.ouid, p), "phone": pop.phone_b[p],
        "join_day": pop.join_day[p, TMALL].astype(np.int32), "sec": sec[ent],
        "level": level[ent] + (up_day[ent] <= day),
    })
    line = csv_line("ouid", "sha256(phone::VARCHAR)", "local_ts(join_day, sec)", "level")
    return Delivery("tmall/members", "csv", table, line, day, MEMBERS_HEADER, encoding="gbk",
                    damage={"key": 0, "timestamps": [2], "amounts": []})


def order_numbers(rng: np.random.Generator, seq: np.ndarray) -> pa.Array:
    """19-digit 订单编号: no '1' in the first nine digits, so no mobile-like 11-digit run."""
    n = len(seq)
    head = np.hstack([np.broadcast_to(np.frombuffer(b"39", np.uint8), (n, 2)),
                      ids.digits_without_one(rng, n, 7)])
    tail = ids.decimal_matrix(ids.scramble(seq, 10**10, 765_432_101, 7_654_321_987), 10)
    return ids.byte_matrix_to_strings(np.hstack([head, tail]))


def _stages(rng: np.random.Generator, o: bh.Orders, t: np.ndarray, cfg: GeneratorConfig,
            days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order position in t, day, stage) of every delivery; stage 5 is the refund re-delivery."""
    n = len(t)
    paid_day, cday, state, refund = o.day[t], o.created_day[t], o.state[t], o.refund[t]
    ship = paid_day + rng.integers(1, 4, n)
    has_ship = rng.random(n) < cfg.p_tmall_shipped_delivery
    done = paid_day + rng.integers(5, 13, n)
    r_any = paid_day + 1 + (rng.random(n) * (done - paid_day + 10)).astype(np.int64)
    r = np.where(refund == bh.PARTIAL_REFUND, done + rng.integers(1, 11, n), r_any)
    early = (refund == bh.FULL_REFUND) & (r <= done)
    paid = state != bh.ABANDONED
    stage_days = [
        (cday, state != bh.PAID),
        (cday + 1, state == bh.ABANDONED),
        (paid_day, paid),
        (ship, paid & has_ship & ~(early & (r <= ship))),
        (done, paid & ~early),
        (r, refund != bh.NO_REFUND),
    ]
    pos, day, stage = [], [], []
    for k, (d, include) in enumerate(stage_days):
        keep = include & (d < days)
        pos.append(np.flatnonzero(keep))
        day.append(d[keep])
        stage.append(np.full(int(keep.sum()), k, dtype=np.int8))
    return np.concatenate(pos), np.concatenate(day).astype(np.int32), np.concatenate(stage)


def orders_and_items(rng: np.random.Generator, pop: Population, o: bh.Orders, lines: bh.Lines,
                     days: int, cfg: GeneratorConfig, ref: Reference, order_offset: int = 0
                     ) -> tuple[Delivery, Delivery]:
    t = np.flatnonzero(o.channel == TMALL)
    n = len(t)
    oid = order_numbers(rng, t + order_offset)  # the zone's order index: unique across blocks
    member = o.person[t] >= 0
    pidx = np.maximum(o.person[t], 0)
    nick = np.where(member, pop.tmall_nick[pidx], tmall_nicks(rng, n))
    random_phone = (ids.MOBILE_PREFIXES[rng.integers(0, len(ids.MOBILE_PREFIXES), n)] * 10**8
                    + rng.integers(0, 10**8, n))
    receiver = np.where(member & (rng.random(n) < 0.9), pop.phone_b[pidx], random_phone)

    pos, day, stage = _stages(rng, o, t, cfg, days)
    raw_wrap_day = rng.random(days) < cfg.p_excel_wrapped_raw_day  # one exporter per day
    order = sort_rows(day, pos, stage)
    pos, day, stage = pos[order], day[order], stage[order]
    g = t[pos]  # global order index
    is_refund = stage == 5
    full = o.refund[g] == bh.FULL_REFUND
    status = np.where(is_refund, np.where(full, CLOSED, SUCCESS), stage)
    shown_paid = np.where(stage >= PAID, o.paid[g], 0)
    table = pa.table({
        "oid": take(oid, pos), "wrap": rng.random(len(g)) < cfg.p_excel_wrapped_id,
        "raw_wrap": raw_wrap_day[day],
        "nick": take(nick, pos), "ouid": take(pop.ouid, pidx[pos], o.identified[g]),
        "total": o.total[g], "paid": shown_paid,
        "status": take(pa.array(STATUSES), status),
        "cday": o.created_day[g], "csec": o.created_sec[g],
        "pday": nullable(o.day[g], stage >= PAID), "psec": o.sec[g],
        "receiver": receiver[pos],
        "refund": np.where(is_refund, o.refund_amount[g], 0),
    })
    wrapped = ("CASE WHEN NOT wrap THEN oid WHEN raw_wrap THEN '=\"' || oid || '\"' "
               "ELSE '\"=\"\"' || oid || '\"\"\"' END")
    line = csv_line(wrapped, "csvq(nick)", "ouid", "yuan(total)", "yuan(paid)", "status",
                    "local_ts(cday, csec)", "local_ts(pday, psec)", "masked(receiver)",
                    "yuan(refund)", f"'{SHOP_NAME}'")
    orders = Delivery("tmall/orders", "csv", table, line, day, ORDERS_HEADER, encoding="gbk",
                      damage={"key": 0, "timestamps": [6, 7], "amounts": [3, 4, 9]})

    # every delivery of an order carries all its lines, with the refund state at that time
    li = bh.expand_ranges(o.line_start[g], o.n_lines[g])
    row = np.repeat(np.arange(len(g)), o.n_lines[g])
    refunded = is_refund[row] & (full[row] | (o.refund_line[g][row] == li))
    items_table = pa.table({
        "oid": take(oid, pos[row]), "wrap": rng.random(len(li)) < cfg.p_excel_wrapped_id,
        "raw_wrap": raw_wrap_day[day[row]],
        "sku": take(pa.array(ref.products["sku"]), lines.sku[li]),
        "title": take(pa.array(ref.products["product_name"]), lines.sku[li]),
        "qty": lines.qty[li], "price": lines.price[li],
        "refund_status": nullable(np.full(len(li), "退款成功"), refunded),
    })
    items_line = csv_line(wrapped, "sku", "csvq(title)", "qty", "yuan(price)", "refund_status")
    items = Delivery("tmall/order_items", "csv", items_table, items_line, day[row], ITEMS_HEADER,
                     encoding="gbk", damage={"key": 0, "timestamps": [], "amounts": [4]})
    return orders, items

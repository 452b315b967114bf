"""The brand's WeChat mini-program: users, orders (items nested, amounts in fen) and events.

Users who joined before the Open Platform binding have no unionid; some of them are
re-delivered with it after they open the mini-program again, and users who authorise their
phone later are re-delivered with phone_info. Orders move NOTPAY → PAID (or CLOSED), then
REFUND / PARTIAL_REFUND on a later day; each status change is a new delivery. Events are
logged as the SDK reports them: a few twice (a re-sent batch), some minutes late, so a day's
file is in arrival order (every copy in the event's own dt; the truth does not count events).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from siyu_generator import behaviour as bh
from siyu_generator import ids
from siyu_generator.config import GeneratorConfig
from siyu_generator.formats import (
    Delivery,
    arrival_order,
    nullable,
    sort_rows,
    take,
    versions,
)
from siyu_generator.population import NEVER, Population
from siyu_generator.reference import Reference
from siyu_generator.timeline import Timeline

MP = 2
STATUSES = ["NOTPAY", "CLOSED", "PAID", "REFUND", "PARTIAL_REFUND"]


@dataclass
class UsersSeen:
    """What the landing zone reveals about mini-program users (for the ground truth)."""

    person: np.ndarray
    phone_shown: np.ndarray  # phone_info in at least one delivery
    unionid_shown: np.ndarray  # unionid in at least one delivery


def users(rng: np.random.Generator, pop: Population, tl: Timeline,
          cfg: GeneratorConfig) -> tuple[Delivery, UsersSeen]:
    days = tl.days
    person = np.flatnonzero(pop.present(MP, days))
    n = len(person)
    join = pop.join_day[person, MP]
    base = np.maximum(join, 0)
    bound = join >= tl.binding_day
    backfill = ~bound & (rng.random(n) < cfg.p_unionid_backfill)
    backfill_day = np.where(backfill, np.maximum(tl.binding_day, base + 1)
                            + rng.integers(0, 180, n), NEVER)
    phone_now = rng.random(n) < cfg.p_mp_phone_at_signup
    later = ~phone_now & (rng.random(n) < cfg.p_mp_phone_later)
    phone_day = np.where(later, base + rng.integers(1, 200, n), NEVER)
    ent, day = versions(base, [backfill_day, phone_day], days)
    sec = rng.integers(0, 86400, n).astype(np.int32)
    order = sort_rows(day, np.minimum(join[ent], day), sec[ent], ent)
    ent, day = ent[order], day[order]
    p = person[ent]
    default_nick = rng.random(n) < 0.6  # WeChat returns 微信用户 unless the user sets one
    table = pa.table({
        "openid": take(pop.openid, p),
        "unionid": take(pop.unionid, p, bound[ent] | (backfill_day[ent] <= day)),
        "phone": nullable(pop.phone_b[p], phone_now[ent] | (phone_day[ent] <= day)),
        "nickname": np.where(default_nick[ent], "微信用户", pop.nickname[p]),
        "join": join[ent].astype(np.int32), "sec": sec[ent],
    })
    line = """json_object('openid', openid, 'unionid', unionid,
        'phone_info', CASE WHEN phone IS NULL THEN NULL ELSE json_object(
            'phoneNumber', '+86' || phone::VARCHAR, 'purePhoneNumber', phone::VARCHAR,
            'countryCode', '86') END,
        'nickname', nickname, 'created_at', iso_ts("join", sec))::VARCHAR || chr(10)"""
    seen = UsersSeen(person, phone_now | (phone_day < days), bound | (backfill_day < days))
    return Delivery("miniprogram/users", "jsonl", table, line, day,
                    damage={"key": "openid", "timestamps": ["created_at"], "amounts": []}), seen


def _items(o: bh.Orders, lines: bh.Lines, mp: np.ndarray, ref: Reference) -> pa.Array:
    """Each order's lines as a list<struct<sku, quantity, price>> (price in fen)."""
    li = bh.expand_ranges(o.line_start[mp], o.n_lines[mp])
    values = pa.StructArray.from_arrays(
        [take(pa.array(ref.products["sku"]), lines.sku[li]), pa.array(lines.qty[li]),
         pa.array(lines.price[li])], names=["sku", "quantity", "price"])
    offsets = np.concatenate([[0], np.cumsum(o.n_lines[mp])]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def orders(pop: Population, o: bh.Orders, lines: bh.Lines, days: int,
           ref: Reference, order_offset: int = 0) -> Delivery:
    mp = np.flatnonzero(o.channel == MP)
    state, refund = o.state[mp], o.refund[mp]
    stage_days = [
        (o.created_day[mp], state != bh.PAID),
        (o.created_day[mp] + 1, state == bh.ABANDONED),
        (o.day[mp], state != bh.ABANDONED),
        (o.refund_day[mp], refund != bh.NO_REFUND),
    ]
    pos, day, stage = [], [], []
    for k, (d, include) in enumerate(stage_days):
        keep = include & (d < days)
        pos.append(np.flatnonzero(keep))
        day.append(d[keep])
        stage.append(np.full(int(keep.sum()), k, dtype=np.int8))
    pos, day, stage = np.concatenate(pos), np.concatenate(day), np.concatenate(stage)
    order = sort_rows(day, pos, stage)
    pos, day, stage = pos[order], day[order].astype(np.int32), stage[order]
    g = mp[pos]
    status = np.where(stage == 3, np.where(o.refund[g] == bh.FULL_REFUND, 3, 4), stage)
    # the zone's order index (`order_offset`: the block's first), unique across blocks
    codes = ids.byte_matrix_to_strings(ids.letter_codes(mp + order_offset, 10))
    table = pa.table({
        "code": take(codes, pos), "openid": take(pop.openid, o.person[g]),
        "cday": o.created_day[g], "csec": o.created_sec[g],
        "pday": nullable(o.day[g], stage >= 2), "psec": o.sec[g],
        "status": take(pa.array(STATUSES), status),
        "total": o.total[g], "discount": o.discount[g],
        "payer": np.where(stage >= 2, o.paid[g], 0),
        "refund": np.where(stage == 3, o.refund_amount[g], 0),
        "store_id": take(pa.array(ref.stores["store_id"]), o.store[g]),
        "items": _items(o, lines, mp, ref).take(pa.array(pos)),
    })
    line = """json_object('order_no', 'MP' || ymd(cday) || code, 'openid', openid,
        'created_at', iso_ts(cday, csec), 'paid_at', iso_ts(pday, psec), 'status', status,
        'total_fee', total, 'discount_fee', discount, 'payer_total', payer,
        'refund_fee', refund, 'store_id', store_id, 'items', to_json(items))::VARCHAR || chr(10)"""
    return Delivery("miniprogram/orders", "jsonl", table, line, day,
                    damage={"key": "order_no", "timestamps": ["created_at"],
                            "amounts": ["total_fee", "payer_total"]})


def events(rng: np.random.Generator, pop: Population, ev: bh.Events, ref: Reference,
           cfg: GeneratorConfig) -> Delivery:
    i = arrival_order(rng, ev.day, ev.sec, cfg.p_event_duplicate, cfg.p_event_late)
    table = pa.table({
        "openid": take(pop.openid, ev.person[i]),
        "event": take(pa.array(bh.EVENT_KINDS), ev.kind[i]),
        "sku": take(pa.array(ref.products["sku"]), ev.sku[i]),
        "day": ev.day[i], "sec": ev.sec[i],
    })
    line = """json_object('openid', openid, 'event', event, 'sku', sku,
        'ts', iso_ts(day, sec))::VARCHAR || chr(10)"""
    return Delivery("miniprogram/events", "jsonl", table, line, ev.day[i],
                    damage={"key": "openid", "timestamps": ["ts"], "amounts": []})

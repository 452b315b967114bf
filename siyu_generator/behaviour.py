"""What persons do: purchases (BG/NBD with seasonality), orders with lines, refunds, events.

All loops run over purchase *rounds* (a few dozen), never over persons or orders. Amounts
are integer cents (= fen) from the first moment, so every total is exactly the sum of its
lines and paid = total - discount holds to the cent in every channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siyu_generator.config import GeneratorConfig
from siyu_generator.population import Population
from siyu_generator.reference import Reference
from siyu_generator.timeline import Timeline, demand, is_double11, is_promo

POS, TMALL, MP = 0, 1, 2
PAID, PAID_NEXT_DAY, ABANDONED = 0, 1, 2
NO_REFUND, FULL_REFUND, PARTIAL_REFUND = 0, 1, 2
EVENT_KINDS = ("view_item", "add_to_cart", "favorite", "share", "coupon_claim")
VIEW, CART, FAVORITE, SHARE, COUPON = range(5)

# hour-of-day weights: stores open 10–22, online peaks late evening
POS_HOURS = np.array([0] * 10 + [3, 5, 6, 6, 6, 7, 7, 7, 8, 9, 8, 5] + [0, 0], dtype=float)
ONLINE_HOURS = np.array([3, 1.5, .8, .4, .3, .3, .6, 1.5, 2.5, 3.5, 4.5, 5, 5.5, 5, 4.5, 4.5,
                         4.5, 4.5, 5, 6, 7.5, 8.5, 8, 6])


@dataclass
class Orders:
    person: np.ndarray  # -1: guest / non-member buyer
    channel: np.ndarray
    day: np.ndarray  # day paid (abandoned: day created)
    sec: np.ndarray  # second of day paid
    created_day: np.ndarray
    created_sec: np.ndarray
    state: np.ndarray  # PAID, PAID_NEXT_DAY, ABANDONED
    store: np.ndarray  # POS store / mini-program QR store, -1 none
    identified: np.ndarray  # member id shown on the order (POS card, Tmall ouid)
    line_start: np.ndarray
    n_lines: np.ndarray
    total: np.ndarray  # cents
    discount: np.ndarray
    paid: np.ndarray
    refund: np.ndarray  # NO_REFUND, FULL_REFUND, PARTIAL_REFUND
    refund_day: np.ndarray
    refund_sec: np.ndarray
    refund_amount: np.ndarray
    refund_line: np.ndarray  # partial refunds: the line refunded (global line index)

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class Lines:
    order: np.ndarray
    line_no: np.ndarray
    sku: np.ndarray  # product index
    qty: np.ndarray
    price: np.ndarray  # cents
    amount: np.ndarray  # cents


@dataclass
class Events:
    person: np.ndarray
    day: np.ndarray
    sec: np.ndarray
    kind: np.ndarray
    sku: np.ndarray  # product index, -1 none


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of range(s, s + c) for each (s, c), without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return (np.repeat(np.asarray(starts, dtype=np.int64) - offsets, counts)
            + np.arange(int(counts.sum()), dtype=np.int64))


def earlier(rng: np.random.Generator, sec: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """A moment lo..hi seconds before `sec`, or earlier the same day when that is too soon."""
    gap = rng.integers(lo, hi, len(sec))
    inside = (rng.random(len(sec)) * sec).astype(np.int64)
    return np.where(gap <= sec, sec - gap, inside).astype(np.int32)


def seconds_in_hours(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    hour = rng.choice(24, size=n, p=weights / weights.sum())
    return (hour * 3600 + rng.integers(0, 3600, n)).astype(np.int32)


def channel_mix_demand(tl: Timeline) -> np.ndarray:
    """Cumulative demand per selling-channel mix, shape (8, days): mix = pos + 2 tmall + 4 mp.

    A store-only customer follows the stores' calendar (weekends, the 春节 run-up), a Tmall
    customer the platform's (双11, 618); each row has mean 1 per day over the window.
    """
    dd = demand(tl.dates())
    dd = dd / dd.mean(axis=0)
    rows = []
    for mix in range(8):
        cols = [c for c in range(3) if mix >> c & 1] or [0, 1, 2]
        s = dd[:, cols].mean(axis=1)
        rows.append(np.cumsum(s / s.mean()))
    return np.array(rows)


def member_purchases(rng: np.random.Generator, pop: Population, tl: Timeline,
                     cfg: GeneratorConfig) -> tuple[np.ndarray, np.ndarray]:
    """(person, day) of every member purchase in the window.

    BG/NBD: while alive a person buys as a Poisson process of rate λ; after each purchase
    they drop out with probability p. Seasonality warps time — gaps are exponential in
    "demand time" (the cumulative daily multiplier of the person's channel mix), an exact
    non-homogeneous Poisson process. The eight mixes' clocks are laid end to end (each
    shifted by a constant larger than any clock) so one searchsorted serves everybody.
    """
    days = tl.days
    selling = np.where(pop.has[:, :3], pop.join_day[:, :3], 10**9).min(axis=1)
    active = pop.is_buyer & (selling < days)
    existing = selling < 0
    active &= ~existing | (rng.random(pop.n) < cfg.p_existing_alive)
    idx = np.flatnonzero(active)
    cum = channel_mix_demand(tl)
    shift = np.ceil(cum[:, -1].max()) + 1.0
    clock = (cum + shift * np.arange(8)[:, None]).ravel()
    mix = (pop.has[:, :3] @ np.array([1, 2, 4]))[idx]
    start = np.maximum(selling[idx], 0)
    rate = np.maximum(pop.rate[idx], 1e-9)
    before = np.where(start > 0, cum[mix, np.maximum(start - 1, 0)], 0.0)
    u = before + rng.random(len(idx)) * (cum[mix, start] - before)
    now = ~existing[idx] & (rng.random(len(idx)) < cfg.p_buy_at_join)
    u = np.where(now, u, u + rng.exponential(1.0 / rate))
    persons, out_days = [], []
    while len(idx):
        t = np.searchsorted(clock, u + shift * mix, side="right") - mix * days
        inside = t < days
        idx, u, t, rate, mix = idx[inside], u[inside], t[inside], rate[inside], mix[inside]
        persons.append(idx)
        out_days.append(t)
        alive = rng.random(len(idx)) >= pop.dropout[idx]
        idx, u, rate, mix = idx[alive], u[alive], rate[alive], mix[alive]
        u = u + rng.exponential(1.0 / rate)
    return np.concatenate(persons), np.concatenate(out_days).astype(np.int32)


def choose_channel(rng: np.random.Generator, pop: Population, person: np.ndarray,
                   day: np.ndarray, day_demand: np.ndarray) -> np.ndarray:
    """Among the selling channels joined by that day, by personal taste × the day's pull.

    Taste is drawn once per person (Gamma(2)), so a person keeps favouring one channel.
    """
    taste = rng.gamma(2.0, 1.0, size=(pop.n, 3))
    joined = pop.join_day[person, :3] <= day[:, None]
    w = joined * taste[person] * day_demand[day]
    race = w / rng.exponential(size=w.shape)  # exponential race: P(c) ∝ w_c
    return np.argmax(race, axis=1).astype(np.int8)


def _anonymous(rng: np.random.Generator, n: int, channel: int, day_demand: np.ndarray,
               ref: Reference) -> tuple[np.ndarray, ...]:
    p = day_demand[:, channel] / day_demand[:, channel].sum()
    day = rng.choice(len(p), size=n, p=p).astype(np.int32)
    store = rng.choice(len(ref.store_weight), size=n, p=ref.store_weight)
    return np.full(n, -1, dtype=np.int64), np.full(n, channel, dtype=np.int8), day, store


def make_lines(rng: np.random.Generator, n_lines: np.ndarray, ref: Reference) -> Lines:
    """Order lines with distinct SKUs per order (Tmall and WeChat keys are order × SKU)."""
    order = np.repeat(np.arange(len(n_lines), dtype=np.int64), n_lines)
    starts = np.cumsum(n_lines) - n_lines
    line_no = (np.arange(len(order)) - np.repeat(starts, n_lines) + 1).astype(np.int16)
    n_products = len(ref.product_weight)
    sku = rng.choice(n_products, size=len(order), p=ref.product_weight)
    for _ in range(50):  # collisions inside an order are rare: redraw them
        key = order * n_products + sku
        srt = np.argsort(key, kind="stable")
        dup = srt[1:][key[srt][1:] == key[srt][:-1]]
        if not len(dup):
            break
        sku[dup] = rng.integers(0, n_products, len(dup))
    qty = rng.choice([1, 2, 3], size=len(order), p=[0.82, 0.14, 0.04]).astype(np.int16)
    price = ref.price_cents[sku]
    return Lines(order, line_no, sku.astype(np.int32), qty, price, price * qty)


def _discounts(rng: np.random.Generator, total: np.ndarray, promo: np.ndarray,
               cfg: GeneratorConfig) -> np.ndarray:
    """Coupons (10–100 yuan off above twice their value), 满减 (50 off per 300) or 95折/9折."""
    n = len(total)
    has = rng.random(n) < np.where(promo, cfg.p_discount_promo, cfg.p_discount)
    kind = rng.integers(0, 3, n)
    coupon = np.array([1000, 2000, 3000, 5000, 10000])[rng.integers(0, 5, n)]
    coupon = np.where(total >= 2 * coupon, coupon, 0)
    full_reduction = total // 30000 * 5000
    percent = total * np.where(rng.random(n) < 0.5, 5, 10) // 100
    # 满减 runs on promotion days only; otherwise that order used a coupon
    d = np.select([kind == 0, (kind == 1) & promo, kind == 1], [coupon, full_reduction, coupon],
                  percent)
    return np.where(has, np.clip(d, 0, np.maximum(total - 100, 0)), 0).astype(np.int64)


def make_orders(rng: np.random.Generator, pop: Population, tl: Timeline, cfg: GeneratorConfig,
                ref: Reference) -> tuple[Orders, Lines]:
    """Member purchases plus anonymous buyers, abandoned carts and late payers, with lines."""
    dd = demand(tl.dates())
    person, day = member_purchases(rng, pop, tl, cfg)
    channel = choose_channel(rng, pop, person, day, dd)
    home = pop.home_store[person]
    store = np.where(rng.random(len(person)) < 0.85, home,
                     rng.choice(len(ref.store_weight), size=len(person), p=ref.store_weight))
    n_pos, n_tm = int((channel == POS).sum()), int((channel == TMALL).sum())
    g_pos = _anonymous(rng, int(n_pos * cfg.pos_guest_share), POS, dd, ref)
    g_tm = _anonymous(rng, int(n_tm * cfg.tmall_non_member_share), TMALL, dd, ref)
    mp_qr = rng.random(len(person)) < 0.25
    store = np.where((channel == MP) & ~mp_qr, -1, np.where(channel == TMALL, -1, store))
    person = np.concatenate([person, g_pos[0], g_tm[0]])
    channel = np.concatenate([channel, g_pos[1], g_tm[1]])
    day = np.concatenate([day, g_pos[2], g_tm[2]])
    store = np.concatenate([store, g_pos[3], np.full(len(g_tm[0]), -1)])
    state = np.zeros(len(person), dtype=np.int8)

    # abandoned carts: an extra unpaid order by the same buyer earlier that day
    online = np.flatnonzero((channel != POS) & (person >= 0))
    ab = online[rng.random(len(online)) < cfg.p_abandoned]
    person = np.concatenate([person, person[ab]])
    channel = np.concatenate([channel, channel[ab]])
    day = np.concatenate([day, day[ab]])
    store = np.concatenate([store, store[ab]])
    state = np.concatenate([state, np.full(len(ab), ABANDONED, dtype=np.int8)])
    n = len(person)
    late = (channel != POS) & (state == PAID) & (day >= 1) & (rng.random(n) < cfg.p_pay_next_day)
    state[late] = PAID_NEXT_DAY

    sec = np.where(channel == POS, seconds_in_hours(rng, n, POS_HOURS),
                   seconds_in_hours(rng, n, ONLINE_HOURS))
    rush = is_double11(tl.dates())[day] & (channel == TMALL) & (rng.random(n) < 0.3)
    sec = np.where(rush, rng.integers(0, 3600, n), sec).astype(np.int32)  # 双11 midnight rush
    sec = np.where(state == PAID_NEXT_DAY, rng.integers(0, 10 * 3600, n), sec)
    created_day = np.where(state == PAID_NEXT_DAY, day - 1, day).astype(np.int32)
    created_sec = np.where(state == PAID_NEXT_DAY, rng.integers(21 * 3600, 86400, n),
                           earlier(rng, sec, 20, 900))
    sec = np.where(state == ABANDONED, earlier(rng, sec, 900, 7200), sec)
    created_sec = np.where(state == ABANDONED, sec, created_sec).astype(np.int32)

    order = np.lexsort((person, sec, day))
    person, channel, day, sec, store, state = (a[order] for a in
                                               (person, channel, day, sec, store, state))
    created_day, created_sec = created_day[order], created_sec[order]
    # the buyer shows a member id when they had joined that channel by then (the
    # mini-program always knows its user)
    pidx = np.maximum(person, 0)
    identified = (person >= 0) & (pop.join_day[pidx, channel] <= day)
    identified &= ~((channel == POS) & (rng.random(n) < cfg.p_pos_member_unidentified))

    n_lines = (1 + np.minimum(rng.poisson(cfg.lines_poisson_mean, n), cfg.max_lines - 1))
    lines = make_lines(rng, n_lines, ref)
    total = np.rint(np.bincount(lines.order, weights=lines.amount, minlength=n)).astype(np.int64)
    promo = is_promo(tl.dates())[day]
    discount = _discounts(rng, total, promo, cfg)
    paid = total - discount
    starts = (np.cumsum(n_lines) - n_lines).astype(np.int64)

    p_refund = np.array(cfg.p_refund)[channel]
    refund = np.where((state != ABANDONED) & (rng.random(n) < p_refund), FULL_REFUND, NO_REFUND)
    pick = starts + rng.integers(0, n_lines)
    part_base = np.where(n_lines >= 2, lines.amount[pick],
                         np.where(lines.qty[pick] >= 2, lines.price[pick], 0))
    part_amount = part_base * paid // np.maximum(total, 1)
    partial = ((refund == FULL_REFUND) & (rng.random(n) < cfg.p_partial_refund)
               & (part_amount > 0) & (part_amount < paid))
    refund = np.where(partial, PARTIAL_REFUND, refund).astype(np.int8)
    refund_amount = np.select([refund == FULL_REFUND, refund == PARTIAL_REFUND],
                              [paid, part_amount], 0).astype(np.int64)
    max_wait = np.array([30, 20, 14])[channel]
    refund_day = (day + np.minimum(rng.geometric(0.15, n), max_wait)).astype(np.int32)
    orders = Orders(
        person=person, channel=channel, day=day.astype(np.int32), sec=sec.astype(np.int32),
        created_day=created_day, created_sec=created_sec, state=state,
        store=store.astype(np.int32), identified=identified, line_start=starts,
        n_lines=n_lines.astype(np.int32), total=total, discount=discount, paid=paid,
        refund=refund, refund_day=refund_day,
        refund_sec=seconds_in_hours(rng, n, POS_HOURS), refund_amount=refund_amount,
        refund_line=np.where(refund == PARTIAL_REFUND, pick, -1),
    )
    return orders, lines


def make_events(rng: np.random.Generator, pop: Population, orders: Orders, lines: Lines,
                tl: Timeline, cfg: GeneratorConfig, ref: Reference) -> Events:
    """Mini-program behaviour: browsing around purchases plus background browsing.

    Buyers view what they buy (on the day or up to three days before), put it in the cart,
    claim a coupon before a discounted order and sometimes share; everyone browses at a rate
    that grows with their purchase rate, so events predict purchases as in real data.
    """
    days = tl.days
    parts = []
    mp = np.flatnonzero(orders.channel == MP)
    in_mp = np.repeat(mp, orders.n_lines[mp])
    line_idx = expand_ranges(orders.line_start[mp], orders.n_lines[mp])
    o_person, o_day = orders.person[in_mp], orders.created_day[in_mp]
    o_sec, o_sku = orders.created_sec[in_mp], lines.sku[line_idx]
    join = pop.join_day[o_person, MP]
    # views: 1 + Poisson(1) per line, on the day or up to 3 days before
    n_views = 1 + rng.poisson(1.0, len(in_mp))
    r = np.repeat(np.arange(len(in_mp)), n_views)
    back = rng.integers(0, 4, len(r)) * (rng.random(len(r)) < 0.4)
    vday = np.maximum(o_day[r] - back, np.maximum(join[r], 0))
    vsec = np.where(vday == o_day[r], earlier(rng, o_sec[r], 60, 3600),
                    rng.integers(8 * 3600, 86400, len(r)))
    parts.append((o_person[r], vday, vsec, np.full(len(r), VIEW), o_sku[r]))
    cart = rng.random(len(in_mp)) < 0.8
    parts.append((o_person[cart], o_day[cart], earlier(rng, o_sec[cart], 10, 600),
                  np.full(int(cart.sum()), CART), o_sku[cart]))
    coupon = (orders.discount[mp] > 0) & (rng.random(len(mp)) < 0.6)
    parts.append((orders.person[mp][coupon], orders.created_day[mp][coupon],
                  earlier(rng, orders.created_sec[mp][coupon], 300, 1800),
                  np.full(int(coupon.sum()), COUPON), np.full(int(coupon.sum()), -1)))
    share = (rng.random(len(in_mp)) < 0.05) & (o_sec < 86000)
    parts.append((o_person[share], o_day[share], o_sec[share] + 300,
                  np.full(int(share.sum()), SHARE), o_sku[share]))

    # background browsing over each user's time in the mini-program
    users = np.flatnonzero(pop.present(MP, days))
    begin = np.maximum(pop.join_day[users, MP], 0)
    exposure_years = (days - begin) / 365.0
    activity = 0.3 + np.minimum(pop.rate[users] / (cfg.rate_shape_r / cfg.rate_scale_alpha), 5)
    count = rng.poisson(cfg.events_per_user_year * exposure_years * activity)
    u = np.repeat(users, count)
    b = np.repeat(begin, count)
    cum = channel_mix_demand(tl)[4]  # the mini-program's calendar
    cum_before = np.concatenate([[0.0], cum])
    target = cum_before[b] + rng.random(len(u)) * (cum[-1] - cum_before[b])
    eday = np.minimum(np.searchsorted(cum, target, side="right"), days - 1)
    kind = rng.choice(5, size=len(u), p=[0.62, 0.12, 0.12, 0.04, 0.10])
    sku = rng.choice(len(ref.product_weight), size=len(u), p=ref.product_weight)
    sku = np.where(kind == COUPON, -1, sku)
    parts.append((u, eday, seconds_in_hours(rng, len(u), ONLINE_HOURS), kind, sku))

    person, day, sec, kind, sku = (np.concatenate([p[i] for p in parts]) for i in range(5))
    keep = (day >= 0) & (day < days)
    order = np.lexsort((person[keep], sec[keep], day[keep]))
    return Events(person[keep][order], day[keep][order].astype(np.int32),
                  sec[keep][order].astype(np.int32), kind[keep][order].astype(np.int8),
                  sku[keep][order].astype(np.int32))

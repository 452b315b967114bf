"""The latent population: one row per person, with channels, join days, phones and ids.

Everything downstream indexes these arrays by person number; the ground truth is just this
table seen from each identifier. Channel membership is drawn as "how many channels, then
which" so that most persons are single-channel and a minority omnichannel, as CDP audits of
Chinese brands find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from siyu_generator import ids, names
from siyu_generator.config import PLACEHOLDER_MOBILES, GeneratorConfig
from siyu_generator.timeline import Timeline, demand

NEVER = 10**9  # join day of a channel the person never joins


@dataclass
class Population:
    n: int
    person_id: pa.Array
    female: np.ndarray
    birthday: np.ndarray  # datetime64[D]
    home_store: np.ndarray
    name: np.ndarray  # real name (POS, WeCom remark)
    nickname: np.ndarray  # WeChat nickname (mini-program, WeCom)
    tmall_nick: np.ndarray
    has: np.ndarray  # (n, 4) bool: pos, tmall, miniprogram, wecom
    join_day: np.ndarray  # (n, 4) int: day index of joining (negative: before the window)
    existing: np.ndarray  # joined some channel before the window
    phone_a: np.ndarray  # int64: the phone given in stores (POS, WeCom remarks)
    phone_b: np.ndarray  # int64: the phone used online (Tmall, mini-program); == a mostly
    card: pa.Array
    ouid: pa.Array
    openid: pa.Array
    unionid: pa.Array
    external_userid: pa.Array
    rate: np.ndarray  # purchases per day while alive
    dropout: np.ndarray  # P(drop out) after each purchase
    is_buyer: np.ndarray
    spare_mobiles: np.ndarray  # unused distinct mobiles for counters, staff, phone changes

    def present(self, channel: int, days: int) -> np.ndarray:
        """Persons whose membership of `channel` starts before the window ends."""
        return self.has[:, channel] & (self.join_day[:, channel] < days)

    def two_phones(self) -> np.ndarray:
        return self.phone_a != self.phone_b


def choose_channels(rng: np.random.Generator, n: int, cfg: GeneratorConfig) -> np.ndarray:
    """(n, 4) membership: k ~ channel_count_weights, then k channels by affinity (Gumbel top-k)."""
    w = np.array(cfg.channel_count_weights)
    k = rng.choice(4, size=n, p=w / w.sum()) + 1
    keys = np.log(np.array(cfg.channel_affinity)) - np.log(rng.exponential(size=(n, 4)))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    return rank < k[:, None]


def join_days(rng: np.random.Generator, has: np.ndarray, existing: np.ndarray,
              tl: Timeline, cfg: GeneratorConfig) -> np.ndarray:
    """First channel joined on a day that channel is busy (or before the window), others
    after a lag. WeCom contacts are added in stores, so they follow the stores' calendar."""
    n = len(has)
    dd = demand(tl.dates())
    first_channel = np.argmax(np.where(has, rng.random((n, 4)), -1), axis=1)
    first_new = np.zeros(n, dtype=np.int64)
    for c, col in enumerate((0, 1, 2, 0)):  # four channels, not persons
        who = first_channel == c
        first_new[who] = rng.choice(tl.days, size=int(who.sum()), p=dd[:, col] / dd[:, col].sum())
    first_old = -rng.integers(1, cfg.existing_tenure_days, n)
    first = np.where(existing, first_old, first_new)
    lag = rng.exponential(cfg.later_channel_lag_days, size=(n, 4)).astype(np.int64)
    lag[np.arange(n), first_channel] = 0
    return np.where(has, first[:, None] + lag, NEVER)


#: Mobile slots (ids.slot_mobiles) per person: the in-store phone and a second, online phone.
SLOTS_PER_PERSON = 2


def spare_per_block(block_persons: int) -> int:
    """Spare mobiles a block of persons may use (counter phones, new numbers)."""
    return block_persons // 10 + 1000


def spare_slots(total_persons: int, block: int, block_persons: int) -> np.ndarray:
    """Block `block`'s spare slots: after every person's slots, one fixed range per block."""
    start = SLOTS_PER_PERSON * total_persons + block * spare_per_block(block_persons)
    return np.arange(start, start + spare_per_block(block_persons), dtype=np.int64)


def staff_slots(total_persons: int, n_blocks: int, block_persons: int, n: int) -> np.ndarray:
    """Slots of the WeCom staff's phones: after every block's spares."""
    start = SLOTS_PER_PERSON * total_persons + n_blocks * spare_per_block(block_persons)
    return np.arange(start, start + n, dtype=np.int64)


def _first_draws(rng: np.random.Generator, n: int, tl: Timeline, cfg: GeneratorConfig,
                 store_weight: np.ndarray) -> tuple[np.ndarray, ...]:
    female = rng.random(n) < 0.68  # a beauty brand's members are mostly women
    age_days = (np.clip(rng.normal(32, 9, n), 16, 72) * 365.25).astype(np.int64)
    birthday = tl.start64 - age_days.astype("timedelta64[D]")
    home_store = rng.choice(len(store_weight), size=n, p=store_weight)
    has = choose_channels(rng, n, cfg)
    existing = rng.random(n) < cfg.p_existing_member
    join = join_days(rng, has, existing, tl, cfg)
    return female, birthday, home_store, has, existing, join


@dataclass
class Presence:
    """Channels, join days and home store only: what the generator's first pass counts."""

    n: int
    home_store: np.ndarray
    has: np.ndarray
    join_day: np.ndarray

    present = Population.present


def presence(rng: np.random.Generator, n: int, tl: Timeline, cfg: GeneratorConfig,
             store_weight: np.ndarray) -> Presence:
    """The same first draws as make_population on the same stream, nothing else."""
    _, _, home_store, has, _, join = _first_draws(rng, n, tl, cfg, store_weight)
    return Presence(n, home_store, has, join)


def make_population(rng: np.random.Generator, n: int, tl: Timeline, cfg: GeneratorConfig,
                    store_weight: np.ndarray, offset: int = 0,
                    spare: np.ndarray | None = None) -> Population:
    """Persons `offset .. offset + n - 1` of the zone (a block, drawn from the block's own
    stream); `spare` are the block's spare slots (spare_slots)."""
    if offset + n > 10**8:
        raise ValueError("person ids have eight digits: at most 99,999,999 persons")
    female, birthday, home_store, has, existing, join = _first_draws(rng, n, tl, cfg,
                                                                     store_weight)

    placeholders = np.array(PLACEHOLDER_MOBILES, dtype=np.int64)
    seq = np.arange(offset, offset + n, dtype=np.int64)
    if spare is None:
        spare = spare_slots(offset + n, 0, n)
    phone_a = ids.slot_mobiles(SLOTS_PER_PERSON * seq, placeholders)
    second = rng.random(n) < cfg.p_two_phones
    phone_b = np.where(second, ids.slot_mobiles(SLOTS_PER_PERSON * seq + 1, placeholders),
                       phone_a)

    rate = np.minimum(rng.gamma(cfg.rate_shape_r, 1.0 / cfg.rate_scale_alpha, n),
                      cfg.max_rate_per_day)
    card = ids.byte_matrix_to_strings(np.hstack([
        np.broadcast_to(np.frombuffer(b"88", np.uint8), (n, 2)),
        ids.decimal_matrix(ids.scramble(seq, 10**10, 987_654_323, 1_234_567_891), 10)]))
    person_id = ids.byte_matrix_to_strings(np.hstack([
        np.broadcast_to(np.frombuffer(b"P", np.uint8), (n, 1)),
        ids.decimal_matrix(seq + 1, 8)]))
    real = names.real_names(rng, female)
    return Population(
        n=n, person_id=person_id, female=female, birthday=birthday, home_store=home_store,
        name=real, nickname=names.nicknames(rng, n), tmall_nick=names.tmall_nicks(rng, n),
        has=has, join_day=join, existing=existing & has.any(axis=1),
        phone_a=phone_a, phone_b=phone_b, card=card,
        ouid=ids.tokens(rng, n, 22, prefix="AA"),
        openid=ids.tokens(rng, n, 22, prefix="oUpF8u"),
        unionid=ids.tokens(rng, n, 23, prefix="o6_bm"),
        external_userid=ids.tokens(rng, n, 30, alphabet=ids.ALNUM, prefix="wm"),
        rate=rate, dropout=rng.beta(cfg.dropout_a, cfg.dropout_b, n),
        is_buyer=rng.random(n) < cfg.p_buyer,
        spare_mobiles=ids.slot_mobiles(spare, placeholders),
    )

"""The hard identity cases, assigned up front so that channels and truth agree on them.

* couples: a POS card registered with the partner's phone (two persons, one mobile);
* counter phones: cashiers type the store's own phone onto 20–60 cards each;
* placeholders: 13800138000 & co. on several cards;
* phone changes: a card re-delivered on a later day with a new number;
* staff phones: a few WeCom staff type their own phone into their contacts' remark_mobiles;
* two phones per person (drawn in population.py): in-store phone vs online phone.

Shared numbers (couple, counter, staff, placeholder) are never a person's identifier in the
truth: a resolver must not merge on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from siyu_generator import mobiles
from siyu_generator.config import PLACEHOLDER_MOBILES, GeneratorConfig
from siyu_generator.names import staff_userids
from siyu_generator.population import NEVER, Population

OWN, COUPLE, COUNTER, PLACEHOLDER, INVALID, EMPTY = range(6)
KIND_NAMES = ("own", "couple", "counter", "placeholder", "invalid", "empty")


@dataclass
class PosPhones:
    """One entry per POS member (person index `person`)."""

    person: np.ndarray
    kind: np.ndarray
    phone: np.ndarray  # int64 number shown on the card (0: none)
    code: np.ndarray  # mobiles.* render code
    partner: np.ndarray  # couples: the person whose phone it is (-1 otherwise)
    change_day: np.ndarray  # day the card is re-delivered with `new_phone` (NEVER: no change)
    new_phone: np.ndarray
    new_code: np.ndarray


@dataclass
class Staff:
    userid: np.ndarray
    store: np.ndarray
    phone: np.ndarray  # int64
    habit: np.ndarray  # types own phone into customers' remark_mobiles
    per_store: int


@dataclass
class SharedNumbers:
    couple: np.ndarray
    counter: np.ndarray
    placeholder: np.ndarray
    staff: np.ndarray


@dataclass
class CounterPlan:
    """The zone's counter phones: per store, how many counter cards (over every block), how
    many phones they share (about `counter_cards_per_phone` cards each) and the phones."""

    counts: np.ndarray  # counter cards per store, zone-wide
    n_phones: np.ndarray  # phones per store
    first: np.ndarray  # index of each store's first phone in `phones`
    phones: np.ndarray


def counter_stores(rng: np.random.Generator, pop, days: int, cfg: GeneratorConfig
                   ) -> np.ndarray:
    """Home stores of a block's counter cards: the first draw of the block's `identity`
    stream, exactly as assign_pos_phones makes it (the generator's first pass counts them)."""
    person = np.flatnonzero(pop.present(0, days))
    return pop.home_store[person[_kinds(rng.random(len(person)), cfg) == COUNTER]]


def plan_counter_phones(rng: np.random.Generator, counts: np.ndarray, cfg: GeneratorConfig,
                        phones: Callable[[int], np.ndarray]) -> CounterPlan:
    lo, hi = cfg.counter_cards_per_phone
    size = rng.integers(lo, hi + 1, len(counts))
    n_phones = np.maximum(1, np.rint(counts / size)).astype(np.int64) * (counts > 0)
    first = np.concatenate([[0], np.cumsum(n_phones)[:-1]]).astype(np.int64)
    return CounterPlan(counts, n_phones, first, phones(int(n_phones.sum())))


def _counter_groups(rng: np.random.Generator, store: np.ndarray, plan: CounterPlan,
                    before: np.ndarray) -> np.ndarray:
    """The phone (index in plan.phones) of each of a block's counter cards: a store's cards
    in a random order, ranked after the cards of earlier blocks (`before`, per store), cut
    into the store's phones evenly."""
    n_stores = len(plan.counts)
    order = np.lexsort((rng.random(len(store)), store))
    counts = np.bincount(store, minlength=n_stores)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    s = store[order]
    rank = before[s] + np.arange(len(order)) - first[s]
    group = np.empty(len(store), dtype=np.int64)
    group[order] = plan.first[s] + rank * plan.n_phones[s] // np.maximum(plan.counts[s], 1)
    return group


def _kinds(r: np.ndarray, cfg: GeneratorConfig) -> np.ndarray:
    edges = np.cumsum([cfg.p_couple, cfg.p_counter_phone, cfg.p_placeholder_phone,
                       cfg.p_phone_invalid, cfg.p_phone_empty])
    # searchsorted gives 0 couple, 1 counter, 2 placeholder, 3 invalid, 4 empty, 5 own
    return np.array([COUPLE, COUNTER, PLACEHOLDER, INVALID, EMPTY, OWN], dtype=np.int8)[
        np.searchsorted(edges, r, side="right")]


def assign_pos_phones(rng: np.random.Generator, pop: Population, days: int,
                      cfg: GeneratorConfig, counter: CounterPlan, before: np.ndarray,
                      spare: Spare) -> tuple[PosPhones, np.ndarray]:
    """Which number each POS card of a block shows; returns the plan and the counter phones
    its cards show. Counter phones are the zone's (`counter`; `before`: the counter cards of
    earlier blocks per store), couples are matched inside the block."""
    person = np.flatnonzero(pop.present(0, days))
    n = len(person)
    kind = _kinds(rng.random(n), cfg)
    phone = pop.phone_a[person].copy()
    code = mobiles.variant_codes(rng, n, cfg.p_phone_variant, cfg.p_phone_unicode)
    partner = np.full(n, -1, dtype=np.int64)

    # couples: partners are other card holders who show their own phone
    x = np.flatnonzero(kind == COUPLE)
    owners = np.flatnonzero(kind == OWN)
    k = min(len(x), len(owners))
    kind[x[k:]] = OWN
    x = x[:k]
    y = rng.choice(owners, size=k, replace=False) if k else owners[:0]
    phone[x] = phone[y]
    partner[x] = person[y]

    counter_cards = np.flatnonzero(kind == COUNTER)
    group = _counter_groups(rng, pop.home_store[person[counter_cards]], counter, before)
    phone[counter_cards] = counter.phones[group]
    counter_phones = counter.phones[np.unique(group)]

    ph = np.flatnonzero(kind == PLACEHOLDER)
    weights = np.array([8, 3, 2, 2, 1, 1], dtype=float)[:len(PLACEHOLDER_MOBILES)]
    values = np.array(PLACEHOLDER_MOBILES, dtype=np.int64)
    phone[ph] = values[rng.choice(len(values), size=len(ph), p=weights / weights.sum())]

    inv = kind == INVALID
    code[inv] = mobiles.INVALID_CODES[rng.integers(0, len(mobiles.INVALID_CODES), inv.sum())]
    code[kind == EMPTY] = mobiles.EMPTY
    phone[kind == EMPTY] = 0

    # phone changes: own-phone cards re-delivered later with a fresh number
    change = (kind == OWN) & (rng.random(n) < cfg.p_phone_change)
    base = np.maximum(pop.join_day[person, 0], 0)
    day = base + 7 + rng.exponential(90, n).astype(np.int64)
    change &= day < days
    change_day = np.where(change, day, NEVER)
    new_phone = np.zeros(n, dtype=np.int64)
    new_phone[change] = spare(int(change.sum()))
    new_code = mobiles.variant_codes(rng, n, cfg.p_phone_variant, cfg.p_phone_unicode)
    return PosPhones(person, kind, phone, code, partner, change_day, new_phone,
                     new_code), counter_phones


def make_staff(rng: np.random.Generator, n_stores: int, n_contacts: int, cfg: GeneratorConfig,
               spare: Spare) -> Staff:
    """Shopping guides per store in proportion to the contact base (one per ~400 contacts)."""
    per_store = int(np.clip(round(n_contacts / n_stores / cfg.contacts_per_staff), 1,
                            cfg.max_staff_per_store))
    n = n_stores * per_store
    habit = rng.random(n) < cfg.p_staff_types_own_phone
    habit[rng.integers(0, n)] = True  # at least one, so small zones show the case too
    return Staff(userid=staff_userids(rng, n), store=np.arange(n) // per_store,
                 phone=spare(n), habit=habit, per_store=per_store)


class Spare:
    """Hands out distinct unused mobiles (counter phones, staff phones, new numbers)."""

    def __init__(self, numbers: np.ndarray):
        self.numbers = numbers
        self.used = 0

    def __call__(self, k: int) -> np.ndarray:
        if self.used + k > len(self.numbers):
            raise ValueError("not enough spare mobiles; raise Population spare size")
        out = self.numbers[self.used:self.used + k]
        self.used += k
        return out

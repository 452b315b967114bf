"""Purchases (a BG/NBD-like process with seasonality), order lines, refunds and events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.lib.generator.config import GeneratorConfig
from pipelines.lib.generator.population import Population


def purchase_days(rng: np.random.Generator, pop: Population, days: int,
                  season: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person index, day) of every member purchase.

    Each buyer purchases as a Poisson process with rate λ while alive and drops out after any
    purchase with probability p (BG/NBD). Seasonality warps time: inter-purchase gaps are drawn
    in "demand time" and mapped back through the cumulative daily multiplier, which is an exact
    non-homogeneous Poisson process. Loops run over purchase rounds, never over persons.
    """
    cum = np.cumsum(season)
    first_channel_day = np.minimum.reduce([pop.reg_day["pos"], pop.reg_day["tmall"],
                                           pop.reg_day["miniprogram"]])
    active = pop.is_buyer & (first_channel_day < days)
    idx = np.flatnonzero(active)
    # first purchase soon after joining the first selling channel
    t = first_channel_day[idx] + rng.exponential(3, len(idx)).astype(int)
    u = np.where(t < days, cum[np.minimum(t, days - 1)], np.inf)
    persons, out_days = [], []
    while len(idx):
        inside = t < days
        persons.append(idx[inside])
        out_days.append(t[inside])
        alive = inside & (rng.random(len(idx)) >= pop.dropout[idx])
        idx, u = idx[alive], u[alive]
        u = u + rng.exponential(1.0 / pop.purchase_rate[idx])
        t = np.searchsorted(cum, u)
    return np.concatenate(persons) if persons else np.zeros(0, int), (
        np.concatenate(out_days) if out_days else np.zeros(0, int))


def choose_channel(rng: np.random.Generator, pop: Population, person: np.ndarray,
                   day: np.ndarray) -> np.ndarray:
    """Among the selling channels the person has joined by that day (0 pos, 1 tmall, 2 mp)."""
    avail = np.stack([pop.reg_day[c][person] <= day for c in ("pos", "tmall", "miniprogram")], 1)
    avail[~avail.any(axis=1), 0] = True
    weights = avail * np.array([0.45, 0.35, 0.20]) * rng.random((len(person), 3))
    return weights.argmax(axis=1)


def order_lines(rng: np.random.Generator, n_orders: int, products: pd.DataFrame) -> pd.DataFrame:
    n_items = np.minimum(1 + rng.poisson(0.6, n_orders), 4)
    order = np.repeat(np.arange(n_orders), n_items)
    line_no = np.arange(len(order)) - np.repeat(np.cumsum(n_items) - n_items, n_items) + 1
    pop = 1.0 / np.arange(1, len(products) + 1) ** 0.8
    sku_idx = rng.choice(len(products), size=len(order), p=pop / pop.sum())
    qty = 1 + (rng.random(len(order)) < 0.25).astype(int)
    price = products["list_price"].to_numpy()[sku_idx]
    return pd.DataFrame({
        "order_idx": order, "line_no": line_no, "sku": products["sku"].to_numpy()[sku_idx],
        "product_name": products["product_name"].to_numpy()[sku_idx],
        "quantity": qty, "unit_price": price, "line_amount": np.round(qty * price, 2),
    })


def events(rng: np.random.Generator, pop: Population, days: int, cfg: GeneratorConfig,
           products: pd.DataFrame, buyers_weight: np.ndarray) -> pd.DataFrame:
    users = np.flatnonzero(pop.has_mp & (pop.reg_day["miniprogram"] < days))
    lam = cfg.events_per_user * (0.5 + buyers_weight[users])
    counts = rng.poisson(lam)
    person = np.repeat(users, counts)
    start = pop.reg_day["miniprogram"][person]
    day = start + (rng.random(len(person)) * (days - start)).astype(int)
    kinds = np.array(["view_item", "add_to_cart", "favorite", "share", "coupon_claim"])
    kind = kinds[rng.choice(5, size=len(person), p=[0.55, 0.2, 0.1, 0.05, 0.1])]
    sku = products["sku"].to_numpy()[rng.integers(0, len(products), len(person))]
    sku = np.where(kind == "coupon_claim", None, sku)
    secs = rng.integers(8 * 3600, 23 * 3600, len(person))
    return pd.DataFrame({"person": person, "day": day, "event": kind, "sku": sku, "secs": secs})

"""Simulate customers from the BG/NBD and Gamma-Gamma generative stories (tests, benchmarks).

The generative story (Fader, Hardie & Lee 2005, §2): λ ~ Gamma(r, α), p ~ Beta(a, b); the
first purchase is at time 0; while active, waiting times are Exponential(λ); right after each
repeat purchase the customer drops out with probability p. Spend per transaction is
Gamma(p_s, ν) with ν ~ Gamma(q, γ) per customer.

All loops are over *rounds of purchases* for the still-active customers (vectorised over
customers), never over customers.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.lib.ltv.summary import period_days, to_day


def _draw_customers(n: int, params: dict[str, float], rng: np.random.Generator):
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size=n)
    p = rng.beta(params["a"], params["b"], size=n)
    return lam, p


def _purchase_rounds(lam: np.ndarray, p: np.ndarray, horizon: np.ndarray, rng):
    """Yield (customer index, time) arrays, one per round of repeat purchases before horizon."""
    t = np.zeros(len(lam))
    active = np.flatnonzero((lam > 0) & (horizon > 0))
    while active.size:
        t[active] += rng.exponential(1.0, size=active.size) / lam[active]
        active = active[t[active] < horizon[active]]
        if not active.size:
            break
        yield active, t[active]
        active = active[rng.random(active.size) >= p[active]]


def simulate_bgnbd_summary(
    n: int, params: dict[str, float], T: float | np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """(frequency, recency, T) for ``n`` customers observed for ``T`` periods, continuous time."""
    lam, p = _draw_customers(n, params, rng)
    horizon = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    x = np.zeros(n, dtype=np.int64)
    t_x = np.zeros(n)
    for idx, times in _purchase_rounds(lam, p, horizon, rng):
        x[idx] += 1
        t_x[idx] = times
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": horizon})


def simulate_transactions(
    n_customers: int,
    params: dict[str, float],
    spend_params: dict[str, float],
    start: dt.date | str,
    end: dt.date | str,
    rng: np.random.Generator,
    *,
    period: str = "week",
    acquisition_end: dt.date | str | None = None,
) -> pd.DataFrame:
    """A transaction log (customer_id, date, amount) from the BG/NBD + Gamma-Gamma story.

    First purchases are uniform over the days [start, acquisition_end] (default: ``end``);
    purchases are recorded until ``end`` inclusive. ``params`` are per ``period``. Purchase
    times are truncated to whole days, so two purchases on one day become two transactions on
    one customer-day (which `summarize` counts once, as the papers do).
    """
    unit = period_days(period)
    first_day, last_day = to_day(start), to_day(end)
    acq_day = last_day if acquisition_end is None else to_day(acquisition_end)
    birth = rng.integers(first_day, acq_day + 1, size=n_customers)
    lam, p = _draw_customers(n_customers, params, rng)
    horizon = (last_day + 1 - birth) / unit  # up to the end of the last day
    customers = [np.arange(n_customers)]
    days = [birth]
    for idx, times in _purchase_rounds(lam, p, horizon, rng):
        customers.append(idx)
        days.append(birth[idx] + np.floor(times * unit).astype(np.int64))
    customer = np.concatenate(customers)
    day = np.concatenate(days)
    nu = rng.gamma(spend_params["q"], 1.0 / spend_params["gamma"], size=n_customers)
    amount = rng.gamma(spend_params["p"], 1.0, size=len(customer)) / nu[customer]
    order = np.lexsort((day, customer))
    return pd.DataFrame(
        {
            "customer_id": customer[order],
            "date": day[order].astype("datetime64[D]").astype("datetime64[ns]"),
            "amount": np.round(amount[order], 2),
        }
    )

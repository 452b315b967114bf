"""The business calendar: day indices, dt strings and the demand seasonality of Chinese retail.

Every row carries a day index (0 = first business day; negative for history before the
window) and seconds since local midnight; strings are only made when a file is written.
Demand follows the retail calendar: 双11 (presale from Oct 20, peak Nov 11), 618 (Jun 1–18),
the run-up to 春节 (Spring Festival, whose date moves) and its holiday dip, 38 女神节, 520,
双12 and weekends. Tmall takes most of 双11/618, stores most of weekends and the festival run-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

#: Lunar New Year's day (春节), which moves between Jan 21 and Feb 20.
SPRING_FESTIVAL = {
    2015: "2015-02-19", 2016: "2016-02-08", 2017: "2017-01-28", 2018: "2018-02-16",
    2019: "2019-02-05", 2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01",
    2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17",
    2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03",
    2031: "2031-01-23", 2032: "2032-02-11", 2033: "2033-01-31", 2034: "2034-02-19",
    2035: "2035-02-08",
}
POS, TMALL, MP = 0, 1, 2


@dataclass(frozen=True)
class Timeline:
    start: date
    days: int
    binding_day: int  # first day the mini-program returns unionids

    @property
    def start64(self) -> np.datetime64:
        return np.datetime64(self.start, "D")

    def dates(self) -> np.ndarray:
        return self.start64 + np.arange(self.days).astype("timedelta64[D]")

    def dt_strings(self) -> list[str]:
        return [str(d) for d in self.dates()]


def make_timeline(end_date: date, days: int, binding_share: float) -> Timeline:
    start = (np.datetime64(end_date, "D") - np.timedelta64(days - 1, "D")).astype(object)
    return Timeline(start=start, days=days, binding_day=int(days * binding_share))


def _month_day(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    months = dates.astype("datetime64[M]")
    return months.astype(int) % 12 + 1, (dates - months.astype("datetime64[D]")).astype(int) + 1


def _spring_festival_offset(dates: np.ndarray) -> np.ndarray:
    """Days from the nearest Spring Festival (negative before it); large when none is known."""
    sf = np.array([np.datetime64(v) for v in SPRING_FESTIVAL.values()])
    pos = np.searchsorted(sf, dates)
    before = sf[np.clip(pos - 1, 0, len(sf) - 1)]
    after = sf[np.clip(pos, 0, len(sf) - 1)]
    d_after = (dates - after).astype(int)
    d_before = (dates - before).astype(int)
    return np.where(np.abs(d_after) < np.abs(d_before), d_after, d_before)


def demand(dates: np.ndarray) -> np.ndarray:
    """Relative purchase intensity per day and selling channel, shape (days, 3): pos, tmall, mp.

    Each column has mean ~1 over a year; the overall multiplier is their mean.
    """
    month, dom = _month_day(dates)
    weekday = (dates.astype("datetime64[D]").astype(int) + 3) % 7  # 0 = Monday
    sf = _spring_festival_offset(dates)
    m = np.ones((len(dates), 3))
    weekend = weekday >= 5
    m[weekend, POS] *= 1.35
    m[weekend, MP] *= 1.10
    presale_11 = ((month == 10) & (dom >= 20)) | ((month == 11) & (dom <= 11))
    m[presale_11] *= np.array([1.05, 1.6, 1.3])
    m[(month == 11) & (dom == 10)] *= np.array([1.0, 2.0, 1.5])
    m[(month == 11) & (dom == 11)] *= np.array([1.3, 6.0, 3.0])
    m[(month == 6) & (dom <= 18)] *= np.array([1.05, 1.5, 1.3])
    m[(month == 6) & (dom == 18)] *= np.array([1.2, 3.5, 2.0])
    m[(month == 12) & (dom == 12)] *= np.array([1.1, 2.0, 1.6])
    m[(month == 3) & (dom == 8)] *= np.array([1.4, 1.6, 1.8])
    m[(month == 5) & (dom == 20)] *= np.array([1.4, 1.3, 1.8])
    m[(sf >= -21) & (sf < 0)] *= np.array([1.5, 1.2, 1.3])  # New Year shopping
    m[(sf >= 0) & (sf <= 6)] *= np.array([0.45, 0.3, 0.6])  # holiday: couriers stop
    return m


def season(dates: np.ndarray) -> np.ndarray:
    """Overall purchase intensity per day, normalised to mean 1 over the window."""
    s = demand(dates).mean(axis=1)
    return s / s.mean()


def is_double11(dates: np.ndarray) -> np.ndarray:
    month, dom = _month_day(dates)
    return (month == 11) & (dom == 11)


def is_promo(dates: np.ndarray) -> np.ndarray:
    """Days when most orders carry a coupon or a full-reduction discount (满减)."""
    month, dom = _month_day(dates)
    return (((month == 10) & (dom >= 20)) | ((month == 11) & (dom <= 11))
            | ((month == 6) & (dom <= 18)) | ((month == 12) & (dom == 12)))

"""A simulated campaign with a known effect, for closing the activation loop (issue 24).

`add_campaign` adds, for the persons a campaign reached (the TREATED members of an outbox,
mapped to persons through `_truth/identifiers.csv`), one extra store purchase with probability
`p_extra` on a uniform day of the `days` days from `start_date`, worth `amount_yuan` (one line
of the cheapest SKU at or above that price, repeated to reach it). The purchases are written as
extra delivery files, `landing/pos/orders|order_items/dt=…/part-9001-campaign.csv` (a day may
hold several files: landing contract), so every file the generator wrote is left byte for
byte as it was, and `generate()` without a campaign writes exactly what it always wrote.
Receipt ids carry a `C` (`<store><yymmdd>C<seq>`), so the campaign's orders are recognisable
in fct_orders.

Only persons with a POS card in the truth can be given a store purchase; the others are
counted (`no_pos_card`) and get no effect — the realised effect on the treated counts them as
zeros, which is what a real campaign reaching part of its audience looks like. Deterministic
for (persons, dates, p_extra, amount, seed).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ORDERS_HEADER = ("order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
                 "paid_amount,payment_method,order_type,original_order_id")
ITEMS_HEADER = "order_id,line_no,sku,quantity,unit_price,line_amount"
FILE_NAME = "part-9001-campaign.csv"


@dataclass(frozen=True)
class Campaign:
    persons: tuple[str, ...]  # _truth person ids (P00000001, ...)
    start_date: date
    days: int = 14
    p_extra: float = 0.3
    amount_yuan: float = 100.0
    seed: int = 24


def add_campaign(out_dir: Path, campaign: Campaign) -> dict:
    """Write the campaign's purchases into the zone under `out_dir`; return what was added."""
    out = Path(out_dir)
    cards: dict[str, str] = {}
    with open(out / "_truth" / "identifiers.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["id_type"] == "pos_card":
                cur = cards.get(row["person_id"])
                cards[row["person_id"]] = min(cur, row["id_value"]) if cur else row["id_value"]
    with open(out / "_truth" / "persons.csv", encoding="utf-8", newline="") as f:
        store = {r["person_id"]: r["home_store_id"] for r in csv.DictReader(f)}
    with open(out / "reference" / "products.csv", encoding="utf-8", newline="") as f:
        products = sorted((float(r["list_price"]), r["sku"]) for r in csv.DictReader(f))
    price, sku = next(((p, s) for p, s in products if p >= campaign.amount_yuan), products[-1])
    qty = 1
    persons = sorted(set(campaign.persons))
    rng = np.random.default_rng([campaign.seed, len(persons)])
    buys = rng.random(len(persons)) < campaign.p_extra
    offsets = rng.integers(0, campaign.days, len(persons))
    seconds = rng.integers(10 * 3600, 21 * 3600, len(persons))
    by_day: dict[date, list[tuple]] = {}
    no_card = 0
    for i, person in enumerate(persons):
        if person not in cards:
            no_card += 1
            continue
        if not buys[i]:
            continue
        day = campaign.start_date + timedelta(days=int(offsets[i]))
        by_day.setdefault(day, []).append((person, int(seconds[i])))
    amount = round(price * qty, 2)
    orders = 0
    for day, rows in sorted(by_day.items()):
        o_buf, i_buf = io.StringIO(), io.StringIO()
        o_buf.write(ORDERS_HEADER + "\n")
        i_buf.write(ITEMS_HEADER + "\n")
        for seq, (person, sec) in enumerate(sorted(rows, key=lambda r: (r[1], r[0])), start=1):
            st = store.get(person) or "S001"
            oid = f"{st}{day:%y%m%d}C{seq:08d}"
            ts = f"{day.isoformat()} {sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}"
            o_buf.write(f"{oid},{st},{cards[person]},{ts},{amount:.2f},0.00,{amount:.2f},"
                        "wechat,sale,\n")
            i_buf.write(f"{oid},1,{sku},{qty},{price:.2f},{amount:.2f}\n")
            orders += 1
        for entity, buf in (("orders", o_buf), ("order_items", i_buf)):
            folder = out / "landing" / "pos" / entity / f"dt={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / FILE_NAME).write_text(buf.getvalue(), encoding="utf-8")
    return {"persons": len(persons), "no_pos_card": no_card, "orders": orders,
            "amount_yuan": amount, "p_extra": campaign.p_extra,
            "start_date": campaign.start_date.isoformat(), "days": campaign.days,
            "expected_gmv_uplift_per_treated": round(
                campaign.p_extra * amount * (len(persons) - no_card) / max(len(persons), 1), 4)}

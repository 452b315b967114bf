"""`siyu generate`: a deterministic, vectorised synthetic landing zone (landing contract v1).

One latent population of persons (`population`) with hard identity cases (`identity_cases`)
buys through a BG/NBD-like process with Chinese retail seasonality (`behaviour`); each channel
exports what its system would (`pos`, `tmall`, `miniprogram`, `wecom`); DuckDB renders every
line and the writer cuts the text into dt files and damages them like real deliveries
(`writer`, `dirt`). `_truth/` says who is who (`truth`).

Same arguments, same bytes: all randomness comes from one `PCG64(seed)` split into named
streams, nothing reads the clock, and rendering preserves row order whatever the threads.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from siyu_generator import behaviour as bh
from siyu_generator import groups as wecom_groups
from siyu_generator import identity_cases as ic
from siyu_generator import miniprogram, pos, tmall, truth, wecom
from siyu_generator.campaign import Campaign, add_campaign
from siyu_generator.config import CHANNELS, GeneratorConfig
from siyu_generator.formats import Delivery, macros_sql, take
from siyu_generator.identity_cases import (
    PosPhones,
    Spare,
    Staff,
    assign_pos_phones,
    make_staff,
)
from siyu_generator.population import Population, make_population
from siyu_generator.reference import Reference, make_reference, write_reference
from siyu_generator.timeline import Timeline, make_timeline
from siyu_generator.writer import DeliveryStats, render_and_write

__all__ = ["ENTITIES", "Campaign", "GeneratorConfig", "generate"]
GENERATOR_VERSION = "4"
ENTITIES = ("pos/members", "pos/orders", "pos/order_items", "tmall/members", "tmall/orders",
            "tmall/order_items", "miniprogram/users", "miniprogram/orders",
            "miniprogram/events", "wecom/external_contacts", "wecom/contact_events",
            "wecom/group_chats", "wecom/group_events")
#: Appended streams never change the earlier ones (SeedSequence.spawn numbers children in
#: order): `groups` (version 4) left every file of the eleven v1 entities byte-identical.
STREAMS = ("reference", "population", "identity", "orders", "events", "pos", "tmall",
           "miniprogram", "wecom", "files", "groups")


def generate(out_dir: Path, members: int, days: int, seed: int,
             end_date: date = date(2026, 10, 31),
             config: GeneratorConfig | None = None, campaign: Campaign | None = None) -> dict:
    """Write `reference/`, `landing/` and `_truth/` under `out_dir`; return the summary.

    The business days are `end_date - days + 1 .. end_date`. Earlier output of the generator
    in `out_dir` (those three folders) is replaced. `campaign` (generator/campaign.py) adds a
    simulated campaign's purchases as extra files; without one nothing changes.
    """
    if members < 1 or days < 1:
        raise ValueError("members and days must be positive")
    cfg = config or GeneratorConfig()
    out = Path(out_dir)
    rng = dict(zip(STREAMS, np.random.Generator(np.random.PCG64(seed)).spawn(len(STREAMS)),
                   strict=True))
    tl = make_timeline(end_date, days, cfg.open_platform_binding_share)
    ref = make_reference(rng["reference"], cfg.n_products)
    pop = make_population(rng["population"], members, tl, cfg, ref.store_weight)
    spare = Spare(pop.spare_mobiles)
    pp, counter_phones = assign_pos_phones(rng["identity"], pop, days, cfg, len(ref.stores),
                                           spare)
    staff = make_staff(rng["identity"], len(ref.stores), int(pop.present(3, days).sum()), cfg,
                       spare)
    orders, lines = bh.make_orders(rng["orders"], pop, tl, cfg, ref)
    events = bh.make_events(rng["events"], pop, orders, lines, tl, cfg, ref)
    contacts = wecom.plan_contacts(rng["wecom"], pop, staff, days, cfg, ref)
    mp_users, mp_seen = miniprogram.users(rng["miniprogram"], pop, tl, cfg)
    deliveries: list[Delivery] = [
        pos.members(rng["pos"], pop, pp, days, cfg, ref),
        *pos.orders_and_items(rng["pos"], pop, orders, lines, days, ref, cfg),
        tmall.members(rng["tmall"], pop, days, cfg),
        *tmall.orders_and_items(rng["tmall"], pop, orders, lines, days, cfg, ref),
        mp_users,
        miniprogram.orders(pop, orders, lines, days, ref),
        miniprogram.events(rng["miniprogram"], pop, events, ref, cfg),
        wecom.external_contacts(rng["wecom"], pop, contacts, staff, days),
        wecom.contact_events(rng["wecom"], pop, contacts, staff, days, cfg),
    ]
    # WeCom customer groups (landing contract v1.1), from their own stream
    plan = wecom_groups.plan_groups(rng["groups"], pop, contacts, staff, days, cfg)
    deliveries += [wecom_groups.group_chats(pop, plan, staff, days),
                   wecom_groups.group_events(rng["groups"], pop, plan, days, cfg)]
    assert tuple(d.name for d in deliveries) == ENTITIES

    for sub in ("landing", "_truth", "reference"):
        shutil.rmtree(out / sub, ignore_errors=True)
    stats = _write_landing(out / "landing", deliveries, tl.dt_strings(), rng["files"], cfg)
    write_reference(ref, out / "reference")
    truth_summary = _write_truth(out / "_truth", pop, pp, contacts, staff, mp_seen, ref, tl,
                                 stats, plan)
    summary = {
        "generator_version": GENERATOR_VERSION,
        "persons": members, "days": days, "seed": seed,
        "start_date": tl.start.isoformat(), "end_date": end_date.isoformat(),
        "open_platform_binding_date": str(tl.dates()[min(tl.binding_day, days - 1)]),
        "rows": {name: s.rows for name, s in stats.items()},
        "files": {name: s.files for name, s in stats.items()},
        "files_written": sum(s.files + s.resent for s in stats.values()),
        "bytes_written": sum(s.bytes for s in stats.values()),
        "dirt": {name: s.summary() for name, s in stats.items()},
        "orders": _order_counts(orders),
        "identity_cases": _case_counts(pop, pp, counter_phones, contacts, days),
        "groups": _group_counts(plan, days),
        "truth": truth_summary,
    }
    if campaign is not None:
        summary["campaign"] = add_campaign(out, campaign)
    truth.write_json(out / "_truth" / "manifest.json", {**summary, "config": cfg.to_dict()})
    return summary


def _write_landing(root: Path, deliveries: list[Delivery], dt_strings: list[str],
                   rng: np.random.Generator, cfg: GeneratorConfig) -> dict[str, DeliveryStats]:
    """Render and write all entities, the biggest first, on `cfg.workers` threads."""
    root.mkdir(parents=True, exist_ok=True)
    days = len(dt_strings)
    gz_days = {ch: rng.random(days) < cfg.p_gzip_day for ch in CHANNELS}
    crlf_days = {ch: rng.random(days) < p for ch, p in zip(CHANNELS, cfg.p_crlf_day,
                                                            strict=True)}
    file_rngs = rng.spawn(len(deliveries))
    macros = macros_sql(date.fromisoformat(dt_strings[0]))
    workers = max(1, cfg.workers)
    threads = max(1, (os.cpu_count() or 2) // workers)
    biggest_first = sorted(range(len(deliveries)), key=lambda i: -len(deliveries[i]))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {i: pool.submit(render_and_write, deliveries[i], macros, threads, root,
                                  dt_strings, gz_days[deliveries[i].channel], file_rngs[i], cfg,
                                  crlf_days[deliveries[i].channel])
                   for i in biggest_first}
        return {deliveries[i].name: futures[i].result() for i in range(len(deliveries))}


def _write_truth(folder: Path, pop: Population, pp: PosPhones, contacts: wecom.Contacts,
                 staff: Staff, mp_seen: miniprogram.UsersSeen, ref: Reference, tl: Timeline,
                 stats: dict[str, DeliveryStats], plan: wecom_groups.Groups) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    days = tl.days
    tm_person = np.flatnonzero(pop.present(tmall.TMALL, days))
    sightings, plaintext = truth.mobile_sightings(pop, pp, contacts, staff, mp_seen.phone_shown,
                                                  mp_seen.person, tm_person, days)
    shared, kinds, n_persons = truth.shared_numbers(pp, contacts, staff)
    mp_union = mp_seen.person[mp_seen.unionid_shown]
    wc_union = contacts.person[contacts.unionid_known]
    parts = [
        ("pos_card", pp.person, take(pop.card, pp.person)),
        ("tmall_ouid", tm_person, take(pop.ouid, tm_person)),
        ("mp_openid", mp_seen.person, take(pop.openid, mp_seen.person)),
        ("wechat_unionid", mp_union, take(pop.unionid, mp_union)),
        ("wechat_unionid", wc_union, take(pop.unionid, wc_union)),
        ("wecom_external_userid", contacts.person, take(pop.external_userid, contacts.person)),
        # customer-group members: their external_userid, and the unionid when a list shows it
        ("wecom_external_userid", plan.person, take(pop.external_userid, plan.person)),
        ("wechat_unionid", plan.person[plan.unionid_shown],
         take(pop.unionid, plan.person[plan.unionid_shown])),
    ]
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        ident = truth.identifiers(con, pop, parts, sightings, shared)
        truth.write_csv(con, ident, folder / "identifiers.csv")
        con.register("shared", pa.table({"m": pa.array(shared).cast(pa.string()),
                                         "kind": kinds, "n_persons": n_persons}))
        con.execute(f"""COPY (SELECT sha256(m) AS mobile_sha256, kind, n_persons FROM shared
                        ORDER BY kind, mobile_sha256)
                        TO '{folder / 'shared_mobiles.csv'}' (FORMAT csv, HEADER true)""")
        spells = wecom_groups.truth_spells(pop, plan, tl.start.isoformat())
        truth.write_csv(con, spells, folder / "group_spells.csv")
        persons = truth.persons_table(pop, ref, tl, pp)
        truth.write_csv(con, persons, folder / "persons.csv")
        bad = sorted(r for s in stats.values() for r in s.malformed_rows)
        truth.write_csv(con, pa.table({"file": [r[0] for r in bad], "line": [r[1] for r in bad],
                                       "kind": [r[2] for r in bad]}),
                        folder / "malformed_rows.csv")
    finally:
        con.close()
    text = "\n".join(plaintext.astype(str).tolist())
    (folder / "plaintext_mobiles.txt").write_text(text + "\n" if text else "", encoding="utf-8")
    return {"identifiers": ident.num_rows, "shared_mobiles": len(shared),
            "group_spells": spells.num_rows,
            "persons": pop.n, "plaintext_mobiles": len(plaintext),
            "malformed_rows": len(bad)}


def _group_counts(g: wecom_groups.Groups, days: int) -> dict[str, int]:
    sizes = np.bincount(g.group[g.leave_day >= days], minlength=len(g.chat_id))
    return {
        "groups": len(g.chat_id), "spells": len(g.person),
        "persons_in_groups": len(np.unique(g.person)),
        "open_spells": int((g.leave_day >= days).sum()),
        "left_spells": int((g.leave_day < days).sum()),
        "dismissed_groups": int((g.dismiss_day < days).sum()),
        "largest_group_at_end": int(sizes.max()) if len(sizes) else 0,
        "groups_below_10_at_end": int((sizes < 10).sum()),
    }


def _order_counts(o: bh.Orders) -> dict[str, int]:
    return {
        "pos": int((o.channel == bh.POS).sum()), "tmall": int((o.channel == bh.TMALL).sum()),
        "miniprogram": int((o.channel == bh.MP).sum()),
        "pos_guest": int(((o.channel == bh.POS) & ~o.identified).sum()),
        "tmall_non_member": int(((o.channel == bh.TMALL) & ~o.identified).sum()),
        "abandoned": int((o.state == bh.ABANDONED).sum()),
        "paid_next_day": int((o.state == bh.PAID_NEXT_DAY).sum()),
        "refunded_full": int((o.refund == bh.FULL_REFUND).sum()),
        "refunded_partial": int((o.refund == bh.PARTIAL_REFUND).sum()),
    }


def _case_counts(pop: Population, pp: PosPhones, counter_phones: np.ndarray,
                 contacts: wecom.Contacts, days: int) -> dict[str, int]:
    return {
        "two_phones": int(pop.two_phones().sum()),
        "couple_cards": int((pp.kind == ic.COUPLE).sum()),
        "counter_cards": int((pp.kind == ic.COUNTER).sum()),
        "counter_phones": len(counter_phones),
        "placeholder_cards": int((pp.kind == ic.PLACEHOLDER).sum()),
        "invalid_pos_phones": int((pp.kind == ic.INVALID).sum()),
        "empty_pos_phones": int((pp.kind == ic.EMPTY).sum()),
        "phone_changes": int((pp.change_day < days).sum()),
        "wecom_staff_phone_remarks": int((contacts.staff_phone_code >= 0).sum()),
        "wecom_remark_text_phones": int(contacts.remark_phone.sum()),
        "wecom_deleted": int((contacts.del_day < days).sum()),
    }

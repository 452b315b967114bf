"""`siyu generate`: a deterministic, vectorised synthetic landing zone (landing contract v1).

One latent population of persons (`population`) with hard identity cases (`identity_cases`)
buys through a BG/NBD-like process with Chinese retail seasonality (`behaviour`); each channel
exports what its system would (`pos`, `tmall`, `miniprogram`, `wecom`); DuckDB renders every
line and the writer cuts the text into dt files and damages them like real deliveries
(`writer`, `dirt`). `_truth/` says who is who (`truth`).

Same arguments, same bytes: all randomness comes from the seed, nothing reads the clock, and
rendering preserves row order whatever the threads.

Bounded memory (version 5): persons are drawn in blocks of `block_persons` (config), each
block from its own named streams (`block_streams`: the seed and the block number), and held in
memory a chunk of blocks at a time. What spans blocks is deterministic without holding them:
a first pass counts WeCom contacts, group memberships and counter cards per store (the
staff, the groups and the stores' counter phones are the zone's, from zone-wide streams); phones are a bijection of a slot number
(ids.slot_mobiles), so they are unique across blocks without a draw; order and person ids
number the zone, not the block. Each chunk appends every day's rendered rows to a staging
file per entity and day; the delivered files (parts, dirt, CRLF, GBK, BOM, gzip, resends) are
made from those at the end, one day in memory at a time. A day's rows are in block order
(within a block, in the order each channel exports them), so the chunk size changes no
byte; the block size does.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
from siyu_generator.config import CHANNELS, PLACEHOLDER_MOBILES, GeneratorConfig
from siyu_generator.formats import Delivery, macros_sql, take
from siyu_generator.identity_cases import (
    PosPhones,
    Spare,
    Staff,
    assign_pos_phones,
    make_staff,
)
from siyu_generator.ids import slot_mobiles
from siyu_generator.population import (
    Population,
    make_population,
    presence,
    spare_slots,
    staff_slots,
)
from siyu_generator.reference import Reference, make_reference, write_reference
from siyu_generator.timeline import Timeline, make_timeline
from siyu_generator.writer import DeliveryStats, Stager, finish_delivery

__all__ = ["ENTITIES", "Campaign", "GeneratorConfig", "generate"]
GENERATOR_VERSION = "5"
ENTITIES = ("pos/members", "pos/orders", "pos/order_items", "tmall/members", "tmall/orders",
            "tmall/order_items", "miniprogram/users", "miniprogram/orders",
            "miniprogram/events", "wecom/external_contacts", "wecom/contact_events",
            "wecom/group_chats", "wecom/group_events")
#: Streams of the whole zone (SeedSequence children 0..4 of the seed).
STREAMS = ("reference", "staff", "groups", "files", "shared")
#: Streams of each block of persons: children of SeedSequence(seed, spawn_key=(BLOCK_KEY, b)).
BLOCK_STREAMS = ("population", "identity", "orders", "events", "pos", "tmall", "miniprogram",
                 "wecom", "groups")
BLOCK_KEY = 2**20
#: Persons held in memory at once unless `generate(chunk_persons=...)` says otherwise.
DEFAULT_CHUNK_PERSONS = 250_000
WECOM = 3


def block_streams(seed: int, block: int) -> dict[str, np.random.Generator]:
    """The named random streams of block `block`: they depend on the seed and the block
    number only, so a block draws the same persons whatever else is generated with it."""
    ss = np.random.SeedSequence(seed, spawn_key=(BLOCK_KEY, block))
    return {name: np.random.Generator(np.random.PCG64(child))
            for name, child in zip(BLOCK_STREAMS, ss.spawn(len(BLOCK_STREAMS)), strict=True)}


@dataclass
class _Totals:
    """What the generator adds up over blocks for the summary and the truth."""

    orders: Counter = field(default_factory=Counter)
    cases: Counter = field(default_factory=Counter)
    shared: list = field(default_factory=list)
    plaintext: list = field(default_factory=list)
    spells: list = field(default_factory=list)
    identifiers: int = 0


def generate(out_dir: Path, members: int, days: int, seed: int,
             end_date: date = date(2026, 10, 31),
             config: GeneratorConfig | None = None, campaign: Campaign | None = None,
             chunk_persons: int | None = None) -> dict:
    """Write `reference/`, `landing/` and `_truth/` under `out_dir`; return the summary.

    The business days are `end_date - days + 1 .. end_date`. Earlier output of the generator
    in `out_dir` (those three folders) is replaced. `campaign` (generator/campaign.py) adds a
    simulated campaign's purchases as extra files; without one nothing changes.

    Persons are drawn in blocks of `config.block_persons`, each from its own streams, and
    held in memory `chunk_persons` at a time (rounded up to whole blocks; default
    DEFAULT_CHUNK_PERSONS): the chunk size bounds the memory and never changes a byte.
    """
    if members < 1 or days < 1:
        raise ValueError("members and days must be positive")
    cfg = config or GeneratorConfig()
    out = Path(out_dir)
    rng = dict(zip(STREAMS, np.random.Generator(np.random.PCG64(seed)).spawn(len(STREAMS)),
                   strict=True))
    tl = make_timeline(end_date, days, cfg.open_platform_binding_share)
    ref = make_reference(rng["reference"], cfg.n_products)
    n_stores = len(ref.stores)
    size = cfg.block_persons
    blocks = [(b, b * size, min(size, members - b * size)) for b in range(-(-members // size))]
    per_chunk = max(1, -(-(chunk_persons or DEFAULT_CHUNK_PERSONS) // size))

    # first pass: the zone-wide counts that shape shared things (WeCom staff per store,
    # customer groups per store), from each block's first draws
    # (and the counter cards per store: a store's counter phones are typed onto cards of
    # persons of every block)
    n_contacts, per_store = 0, np.zeros(n_stores, dtype=np.int64)
    counter_cards = np.zeros((len(blocks), n_stores), dtype=np.int64)
    for b, _, n in blocks:
        r = block_streams(seed, b)
        core = presence(r["population"], n, tl, cfg, ref.store_weight)
        n_contacts += int(core.present(WECOM, days).sum())
        cand = wecom_groups.group_candidates(r["groups"], core, days, cfg)
        per_store += np.bincount(core.home_store[cand], minlength=n_stores)
        counter_cards[b] = np.bincount(ic.counter_stores(r["identity"], core, days, cfg),
                                       minlength=n_stores)
    placeholders = np.array(PLACEHOLDER_MOBILES, dtype=np.int64)
    n_staff_max = n_stores * cfg.max_staff_per_store
    shared_phones = slot_mobiles(staff_slots(members, len(blocks), size,
                                             n_staff_max + int(counter_cards.sum())),
                                 placeholders)
    staff = make_staff(rng["staff"], n_stores, n_contacts, cfg,
                       Spare(shared_phones[:n_staff_max]))
    counter = ic.plan_counter_phones(rng["shared"], counter_cards.sum(axis=0), cfg,
                                     Spare(shared_phones[n_staff_max:]))
    counter_before = np.cumsum(counter_cards, axis=0) - counter_cards
    gt = wecom_groups.plan_group_table(rng["groups"], per_store, staff, days, cfg)

    for sub in ("landing", "_truth", "reference", "_staging"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "_truth").mkdir(parents=True, exist_ok=True)
    stager = Stager(out / "_staging", days, macros_sql(tl.start), max(1, os.cpu_count() or 2))
    totals = _Totals()
    order_offset = 0
    for c in range(0, len(blocks), per_chunk):
        parts: dict[str, list[Delivery]] = {name: [] for name in ENTITIES}
        for b, offset, n in blocks[c:c + per_chunk]:
            order_offset += _block(seed, b, offset, n, members, tl, cfg, ref, staff, gt,
                                   counter, counter_before[b], order_offset, parts, totals,
                                   out / "_truth")
        for name in ENTITIES[:-2]:  # the groups' two entities come after every block
            stager.append(parts.pop(name))
        del parts

    plan, people = wecom_groups.assemble_groups(gt, totals.spells)
    totals.spells = []
    stager.append(wecom_groups.group_chats(people, plan, staff, days))
    stager.append([wecom_groups.group_events(rng["groups"], people, plan, days, cfg)])
    for name in ENTITIES:
        if name not in stager.meta:
            raise AssertionError(f"{name}: no delivery was planned")

    stats = _write_landing(out / "landing", out / "_staging", stager, tl.dt_strings(),
                           rng["files"], cfg)
    shutil.rmtree(out / "_staging", ignore_errors=True)
    write_reference(ref, out / "reference")
    truth_summary = _write_truth(out / "_truth", totals, people, plan, tl, stats, members)
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
        "orders": {k: int(totals.orders[k]) for k in ORDER_COUNTS},
        "identity_cases": {k: int(totals.cases[k]) if k != "counter_phones"
                           else len(counter.phones) for k in CASE_COUNTS},
        "groups": _group_counts(plan, days),
        "truth": truth_summary,
    }
    if campaign is not None:
        summary["campaign"] = add_campaign(out, campaign)
    truth.write_json(out / "_truth" / "manifest.json", {**summary, "config": cfg.to_dict()})
    return summary


def _block(seed: int, b: int, offset: int, n: int, members: int, tl: Timeline,
           cfg: GeneratorConfig, ref: Reference, staff: Staff, gt: wecom_groups.GroupTable,
           counter: ic.CounterPlan, counter_before: np.ndarray, order_offset: int, parts: dict[str, list[Delivery]], totals: _Totals,
           truth_dir: Path) -> int:
    """One block of persons: its deliveries (appended to `parts`), its truth (appended to the
    truth files) and its counts; returns the number of orders it made."""
    days = tl.days
    r = block_streams(seed, b)
    pop = make_population(r["population"], n, tl, cfg, ref.store_weight, offset,
                          spare_slots(members, b, cfg.block_persons))
    spare = Spare(pop.spare_mobiles)
    pp, _ = assign_pos_phones(r["identity"], pop, days, cfg, counter, counter_before, spare)
    orders, lines = bh.make_orders(r["orders"], pop, tl, cfg, ref)
    events = bh.make_events(r["events"], pop, orders, lines, tl, cfg, ref)
    contacts = wecom.plan_contacts(r["wecom"], pop, staff, days, cfg, ref)
    mp_users, mp_seen = miniprogram.users(r["miniprogram"], pop, tl, cfg)
    deliveries: list[Delivery] = [
        pos.members(r["pos"], pop, pp, days, cfg, ref),
        *pos.orders_and_items(r["pos"], pop, orders, lines, days, ref, cfg, order_offset),
        tmall.members(r["tmall"], pop, days, cfg),
        *tmall.orders_and_items(r["tmall"], pop, orders, lines, days, cfg, ref, order_offset),
        mp_users,
        miniprogram.orders(pop, orders, lines, days, ref, order_offset),
        miniprogram.events(r["miniprogram"], pop, events, ref, cfg),
        wecom.external_contacts(r["wecom"], pop, contacts, staff, days),
        wecom.contact_events(r["wecom"], pop, contacts, staff, days, cfg),
    ]
    assert tuple(d.name for d in deliveries) == ENTITIES[:-2]
    for d in deliveries:
        parts[d.name].append(d)
    cand = wecom_groups.group_candidates(r["groups"], pop, days, cfg)
    spells = wecom_groups.block_spells(r["groups"], pop, cand, gt, days, cfg, offset)
    totals.spells.append(spells)
    totals.orders.update(_order_counts(orders))
    totals.cases.update(_case_counts(pop, pp, contacts, days))
    _block_truth(truth_dir, b == 0, pop, pp, contacts, staff, mp_seen, ref, tl, spells, totals,
                 offset)
    return len(orders.person)


def _write_landing(root: Path, staging: Path, stager: Stager, dt_strings: list[str],
                   rng: np.random.Generator, cfg: GeneratorConfig) -> dict[str, DeliveryStats]:
    """Every staged entity to its delivered files, on `cfg.workers` threads (each entity
    draws from its own stream, so the bytes do not depend on which thread wrote it)."""
    root.mkdir(parents=True, exist_ok=True)
    days = len(dt_strings)
    gz_days = {ch: rng.random(days) < cfg.p_gzip_day for ch in CHANNELS}
    crlf_days = {ch: rng.random(days) < p for ch, p in zip(CHANNELS, cfg.p_crlf_day,
                                                            strict=True)}
    file_rngs = rng.spawn(len(ENTITIES))
    biggest_first = sorted(range(len(ENTITIES)), key=lambda i: -stager.rows[ENTITIES[i]])
    with ThreadPoolExecutor(max_workers=max(1, cfg.workers)) as pool:
        futures = {}
        for i in biggest_first:
            d = stager.meta[ENTITIES[i]]
            futures[i] = pool.submit(finish_delivery, d, stager.rows[d.name], staging, root,
                                     dt_strings, gz_days[d.channel], file_rngs[i], cfg,
                                     crlf_days[d.channel])
        return {ENTITIES[i]: futures[i].result() for i in range(len(ENTITIES))}


def _append_csv(con: duckdb.DuckDBPyConnection, table: pa.Table, path: Path,
                header: bool) -> None:
    """Append `table` to the CSV at `path` (DuckDB's CSV writer, header on the first block)."""
    tmp = path.with_name(path.name + ".part")
    con.register("out_t", table)
    con.execute(f"COPY (SELECT * FROM out_t) TO '{tmp}' (FORMAT csv, HEADER {str(header).lower()})")
    con.unregister("out_t")
    with open(path, "ab") as f, open(tmp, "rb") as part:
        shutil.copyfileobj(part, f)
    tmp.unlink()


def _block_truth(folder: Path, first: bool, pop: Population, pp: PosPhones,
                 contacts: wecom.Contacts, staff: Staff, mp_seen: miniprogram.UsersSeen,
                 ref: Reference, tl: Timeline, spells: wecom_groups.Spells, totals: _Totals,
                 offset: int) -> None:
    """A block's rows of identifiers.csv and persons.csv (appended: person ids grow block by
    block, so the files stay sorted by person), its shared numbers and plaintext mobiles."""
    days = tl.days
    tm_person = np.flatnonzero(pop.present(tmall.TMALL, days))
    sightings, plaintext = truth.mobile_sightings(pop, pp, contacts, staff, mp_seen.phone_shown,
                                                  mp_seen.person, tm_person, days)
    pairs = truth.shared_pairs(pp, contacts, staff, offset)
    totals.shared.append(pairs)
    totals.plaintext.append(plaintext)
    shared = np.unique(np.concatenate([v[:, 0] for v in pairs.values()]))
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
        ("wecom_external_userid", spells.person, take(pop.external_userid, spells.person)),
        ("wechat_unionid", spells.person[spells.unionid_shown],
         take(pop.unionid, spells.person[spells.unionid_shown])),
    ]
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        ident = truth.identifiers(con, pop, parts, sightings, shared)
        _append_csv(con, ident, folder / "identifiers.csv", first)
        totals.identifiers += ident.num_rows
        _append_csv(con, truth.persons_table(pop, ref, tl, pp), folder / "persons.csv", first)
    finally:
        con.close()


def _write_truth(folder: Path, totals: _Totals, people: wecom_groups.GroupPeople,
                 plan: wecom_groups.Groups, tl: Timeline, stats: dict[str, DeliveryStats],
                 members: int) -> dict:
    shared, kinds, n_persons = truth.shared_numbers(totals.shared)
    plaintext = np.unique(np.concatenate(totals.plaintext))
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("shared", pa.table({"m": pa.array(shared).cast(pa.string()),
                                         "kind": kinds, "n_persons": n_persons}))
        con.execute(f"""COPY (SELECT sha256(m) AS mobile_sha256, kind, n_persons FROM shared
                        ORDER BY kind, mobile_sha256)
                        TO '{folder / 'shared_mobiles.csv'}' (FORMAT csv, HEADER true)""")
        spells = wecom_groups.truth_spells(people, plan, tl.start.isoformat())
        truth.write_csv(con, spells, folder / "group_spells.csv")
        bad = sorted(r for s in stats.values() for r in s.malformed_rows)
        truth.write_csv(con, pa.table({"file": [r[0] for r in bad], "line": [r[1] for r in bad],
                                       "kind": [r[2] for r in bad]}),
                        folder / "malformed_rows.csv")
    finally:
        con.close()
    text = "\n".join(plaintext.astype(str).tolist())
    (folder / "plaintext_mobiles.txt").write_text(text + "\n" if text else "", encoding="utf-8")
    return {"identifiers": totals.identifiers, "shared_mobiles": len(shared),
            "group_spells": spells.num_rows,
            "persons": members, "plaintext_mobiles": len(plaintext),
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


ORDER_COUNTS = ("pos", "tmall", "miniprogram", "pos_guest", "tmall_non_member", "abandoned",
                "paid_next_day", "refunded_full", "refunded_partial")
CASE_COUNTS = ("two_phones", "couple_cards", "counter_cards", "counter_phones",
               "placeholder_cards", "invalid_pos_phones", "empty_pos_phones", "phone_changes",
               "wecom_staff_phone_remarks", "wecom_remark_text_phones", "wecom_deleted")


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


def _case_counts(pop: Population, pp: PosPhones, contacts: wecom.Contacts,
                 days: int) -> dict[str, int]:
    """A block's counts (the zone's counter phones are counted from the zone's plan)."""
    return {
        "two_phones": int(pop.two_phones().sum()),
        "couple_cards": int((pp.kind == ic.COUPLE).sum()),
        "counter_cards": int((pp.kind == ic.COUNTER).sum()),
        "placeholder_cards": int((pp.kind == ic.PLACEHOLDER).sum()),
        "invalid_pos_phones": int((pp.kind == ic.INVALID).sum()),
        "empty_pos_phones": int((pp.kind == ic.EMPTY).sum()),
        "phone_changes": int((pp.change_day < days).sum()),
        "wecom_staff_phone_remarks": int((contacts.staff_phone_code >= 0).sum()),
        "wecom_remark_text_phones": int(contacts.remark_phone.sum()),
        "wecom_deleted": int((contacts.del_day < days).sum()),
    }

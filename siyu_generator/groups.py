"""WeCom customer groups (客户群, landing contract v1.1): `groupchat/get` lists and
`change_external_chat` callbacks, with the truth of who was in which group when.

Dynamics: a minority of persons are in groups — most of them WeCom contacts of a store's staff,
a few reached only through the group (invited by a friend, or scanned a poster's QR code).
Each store's staff own a few groups; group sizes are heavy-tailed (a handful to a few hundred)
because popularity is drawn per group. Members join over the period, some leave (left by
themselves or removed by the owner) and a few come back; a share of groups die (no join after
some day) and a few are dismissed. Spells never join and leave on the same day, so every spell
is in at least one day's list.

What the channel delivers: on every day a group changes (created, someone joined or left), its
full member list at the end of the day — every group that exists on the first day is exported
then (the initial load) — never after its dismissal; and a callback per join, leave, creation
and dismissal, delivered like the contact callbacks (a few twice, some late, so out of
CreateTime order), a few leave callbacks lost (the spell's end is then only known to the day).

Everything is drawn from the generator's own `groups` stream, so the other entities' files do
not change with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from siyu_generator.config import GeneratorConfig
from siyu_generator.formats import Delivery, arrival_order, take
from siyu_generator.identity_cases import Staff
from siyu_generator.population import NEVER, Population

OPEN = NEVER


@dataclass
class Groups:
    """Groups (aligned with `chat_id`) and membership spells (aligned with `person`)."""

    chat_id: np.ndarray
    owner: np.ndarray  # staff index
    created_day: np.ndarray  # may be negative (before the window)
    created_sec: np.ndarray
    dismiss_day: np.ndarray  # OPEN: never
    dismiss_sec: np.ndarray
    # spells
    group: np.ndarray
    person: np.ndarray
    join_day: np.ndarray
    join_sec: np.ndarray
    leave_day: np.ndarray  # OPEN: still in the group
    leave_sec: np.ndarray
    quit_scene: np.ndarray  # 0 left, 1 removed, 2 group dismissed
    leave_callback: np.ndarray  # the leave callback is delivered
    join_scene: np.ndarray  # list join_scene 1, 2, 3
    unionid_shown: np.ndarray  # per spell: the list shows the member's unionid


WECOM = 3


def group_candidates(rng: np.random.Generator, pop: Population, days: int,
                     cfg: GeneratorConfig) -> np.ndarray:
    """Memberships of a block's persons (person index, twice for a second group): contacts
    often (a WeCom contact is a person present in WeCom, as in wecom.plan_contacts), other
    persons rarely. The first draws of the block's `groups` stream, so the generator can count
    the memberships per store in a first pass and draw the same ones again."""
    is_contact = pop.present(WECOM, days)
    first_seen = np.where(pop.has, pop.join_day, NEVER).min(axis=1)
    present = first_seen < days
    p_in = np.where(is_contact, cfg.p_group_contact, cfg.p_group_other)
    members = np.flatnonzero(present & (rng.random(pop.n) < p_in))
    two = rng.random(len(members)) < cfg.p_second_group
    return np.concatenate([members, members[two]])


@dataclass
class GroupTable:
    """The zone's groups (one table for all persons), drawn from the global `groups` stream."""

    chat_id: np.ndarray
    owner: np.ndarray
    created_day: np.ndarray
    created_sec: np.ndarray
    dead_from: np.ndarray
    dismiss_day: np.ndarray
    dismiss_sec: np.ndarray
    # choosing a group of the member's store by popularity (cumulative weights per store)
    order: np.ndarray
    cum: np.ndarray
    base: np.ndarray
    total: np.ndarray


def plan_group_table(rng: np.random.Generator, per_store: np.ndarray, staff: Staff, days: int,
                     cfg: GeneratorConfig) -> GroupTable:
    """Enough groups per store for the store's memberships (`per_store`, counted over every
    block) at the mean size; heavy-tailed popularity; owners, creation, death, dismissal."""
    n_stores = len(staff.userid) // staff.per_store
    n_per_store = np.maximum(1, np.ceil(per_store / cfg.group_mean_size)).astype(np.int64)
    n_groups = int(n_per_store.sum())
    g_store = np.repeat(np.arange(n_stores), n_per_store)
    popularity = rng.lognormal(0.0, cfg.group_size_sigma, n_groups)
    order = np.argsort(g_store, kind="stable")
    cum = np.cumsum(popularity[order])
    starts = np.concatenate([[0], np.cumsum(n_per_store)[:-1]])
    base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = cum[starts + n_per_store - 1] - base
    owner = g_store * staff.per_store + rng.integers(0, staff.per_store, n_groups)
    created_day = rng.integers(-400, max(1, days - 20), n_groups)
    created_sec = rng.integers(9 * 3600, 21 * 3600, n_groups)
    dead_from = np.where(rng.random(n_groups) < cfg.p_group_dead,
                         np.maximum(created_day, 0) + 30 + rng.integers(0, max(1, days), n_groups),
                         OPEN)
    dismiss_day = np.where(rng.random(n_groups) < cfg.p_group_dismissed,
                           np.maximum(created_day, 0) + 1 + rng.integers(0, max(1, days), n_groups),
                           OPEN)
    dismiss_day = np.where(dismiss_day < days, dismiss_day, OPEN)
    dismiss_sec = rng.integers(9 * 3600, 22 * 3600, n_groups)
    chat_id = np.array([f"wr{x:08x}G{i:06d}" for i, x in
                        enumerate(rng.integers(0, 2**32, n_groups, dtype=np.int64))])
    return GroupTable(chat_id=chat_id, owner=owner, created_day=created_day,
                      created_sec=created_sec, dead_from=dead_from, dismiss_day=dismiss_day,
                      dismiss_sec=dismiss_sec, order=order, cum=cum, base=base, total=total)


@dataclass
class Spells:
    """A block's visible spells (unsorted), with what the deliveries show of their persons."""

    group: np.ndarray
    gperson: np.ndarray  # person index in the zone
    person: np.ndarray  # person index in the block
    join_day: np.ndarray
    join_sec: np.ndarray
    leave_day: np.ndarray
    leave_sec: np.ndarray
    quit_scene: np.ndarray
    leave_callback: np.ndarray
    join_scene: np.ndarray
    unionid_shown: np.ndarray
    person_id: pa.Array
    external_userid: pa.Array
    unionid: pa.Array
    nickname: np.ndarray


def block_spells(rng: np.random.Generator, pop: Population, person: np.ndarray,
                 gt: GroupTable, days: int, cfg: GeneratorConfig, offset: int) -> Spells:
    """The block's memberships (group_candidates, same stream right after it) become spells:
    a group of the member's store by popularity, joins, leaves, comebacks, dead and dismissed
    groups; only spells in a group at the end of some day of the window are kept."""
    store = pop.home_store[person]
    u = gt.base[store] + rng.random(len(person)) * gt.total[store]
    group = gt.order[np.minimum(np.searchsorted(gt.cum, u, side="right"), len(gt.cum) - 1)]
    # a person twice in one group: the second membership goes
    key = group.astype(np.int64) * pop.n + person
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(len(person), bool)
    keep[first] = True
    group, person = group[keep], person[keep]
    first_seen = np.where(pop.has, pop.join_day, NEVER).min(axis=1)
    created_day, dead_from = gt.created_day, gt.dead_from
    dismiss_day, dismiss_sec = gt.dismiss_day, gt.dismiss_sec

    m = len(person)
    start = np.maximum(created_day[group], first_seen[person])
    join_day = start + rng.exponential(cfg.group_join_lag_days, m).astype(np.int64)
    join_sec = rng.integers(9 * 3600, 22 * 3600, m)
    leaves = rng.random(m) < cfg.p_group_leave
    leave_day = np.where(leaves, join_day + 1 + rng.exponential(cfg.group_stay_days, m)
                         .astype(np.int64), OPEN)
    # some come back a few weeks later (a second spell)
    back = leaves & (rng.random(m) < cfg.p_group_rejoin)
    j2 = leave_day + 1 + rng.exponential(30.0, m).astype(np.int64)
    group = np.concatenate([group, group[back]])
    person = np.concatenate([person, person[back]])
    join_day = np.concatenate([join_day, j2[back]])
    join_sec = np.concatenate([join_sec, rng.integers(9 * 3600, 22 * 3600, int(back.sum()))])
    leave_day = np.concatenate([leave_day, np.full(int(back.sum()), OPEN)])
    m = len(person)
    leave_sec = rng.integers(0, 86400, m)
    quit_scene = np.where(rng.random(m) < 0.8, 0, 1)
    leave_callback = rng.random(m) >= cfg.p_group_callback_lost
    join_scene = rng.choice(np.array([1, 2, 3]), m, p=[0.3, 0.2, 0.5])
    unionid_shown = rng.random(m) < cfg.p_wecom_unionid

    # dead groups: nobody joins from dead_from on; dismissed groups: nobody joins from the
    # dismissal day on, leaving on or after it is the dismissal
    last_join = np.minimum(dead_from[group], dismiss_day[group])
    ok = (join_day < last_join) & (join_day < days)
    dis = dismiss_day[group]
    ends_at_dismissal = ok & (dis < OPEN) & (leave_day >= dis)
    leave_day = np.where(ends_at_dismissal, dis, leave_day)
    leave_sec = np.where(ends_at_dismissal, dismiss_sec[group], leave_sec)
    quit_scene = np.where(ends_at_dismissal, 2, quit_scene)
    leave_callback = leave_callback | ends_at_dismissal
    leave_day = np.where(leave_day >= days, OPEN, leave_day)
    # visible: in the group at the end of some day of the window
    ok &= leave_day > np.maximum(join_day, 0)
    sel = np.flatnonzero(ok)
    p = person[sel]
    return Spells(group=group[sel], gperson=p + offset, person=p, join_day=join_day[sel],
                  join_sec=join_sec[sel], leave_day=leave_day[sel], leave_sec=leave_sec[sel],
                  quit_scene=quit_scene[sel], leave_callback=leave_callback[sel],
                  join_scene=join_scene[sel], unionid_shown=unionid_shown[sel],
                  person_id=take(pop.person_id, p),
                  external_userid=take(pop.external_userid, p),
                  unionid=take(pop.unionid, p), nickname=pop.nickname[p])


@dataclass
class GroupPeople:
    """The persons of the spells (Groups.person indexes these), with what groups show."""

    person_id: pa.Array
    external_userid: pa.Array
    unionid: pa.Array
    nickname: np.ndarray


def assemble_groups(gt: GroupTable, blocks: list[Spells]) -> tuple[Groups, GroupPeople]:
    """Every block's spells in one plan, sorted by group, person (zone index) and join day —
    an order that does not depend on how the persons were cut into blocks or chunks."""
    def cat(name: str):
        parts = [getattr(b, name) for b in blocks]
        if isinstance(parts[0], (pa.Array, pa.ChunkedArray)):
            return pa.concat_arrays([x.combine_chunks() if isinstance(x, pa.ChunkedArray)
                                     else x for x in parts])
        return np.concatenate(parts)
    gperson, group, join_day = cat("gperson"), cat("group"), cat("join_day")
    sel = np.lexsort((join_day, gperson, group))
    _, first, who = np.unique(gperson, return_index=True, return_inverse=True)
    people = GroupPeople(person_id=cat("person_id").take(pa.array(first)),
                         external_userid=cat("external_userid").take(pa.array(first)),
                         unionid=cat("unionid").take(pa.array(first)),
                         nickname=cat("nickname")[first])
    g = Groups(chat_id=gt.chat_id, owner=gt.owner, created_day=gt.created_day,
               created_sec=gt.created_sec, dismiss_day=gt.dismiss_day,
               dismiss_sec=gt.dismiss_sec, group=group[sel], person=who.ravel()[sel],
               join_day=join_day[sel], join_sec=cat("join_sec")[sel],
               leave_day=cat("leave_day")[sel], leave_sec=cat("leave_sec")[sel],
               quit_scene=cat("quit_scene")[sel], leave_callback=cat("leave_callback")[sel],
               join_scene=cat("join_scene")[sel], unionid_shown=cat("unionid_shown")[sel])
    return g, people


def _change_days(g: Groups, days: int) -> tuple[np.ndarray, np.ndarray]:
    """(group, day) of every delivery: creation, the initial export on day 0, every day
    someone joined or left; never on or after the dismissal."""
    n_groups = len(g.chat_id)
    parts_g = [np.arange(n_groups), np.arange(n_groups), g.group, g.group]
    parts_d = [g.created_day, np.where(g.created_day < 0, 0, NEVER), g.join_day, g.leave_day]
    grp = np.concatenate(parts_g)
    day = np.concatenate(parts_d)
    ok = (day >= 0) & (day < days) & (day < g.dismiss_day[grp]) & (day >= g.created_day[grp])
    key = np.unique(grp[ok].astype(np.int64) * (days + 1) + day[ok])
    return key // (days + 1), (key % (days + 1)).astype(np.int64)


#: Member-list entries rendered at once by group_chats (bounds its memory at any zone size).
CHAT_BATCH_ENTRIES = 1_000_000


def group_chats(pop: GroupPeople, g: Groups, staff: Staff, days: int,
                batch_entries: int | None = None) -> Iterator[Delivery]:
    """The lists, as consecutive batches of groups in chat_id order (made one at a time): a
    day's file is the batches' rows of that day one after the other, i.e. ordered by chat_id
    as a whole."""
    dg, dd = _change_days(g, days)
    # members listed at the end of each delivery day: join_day <= d < leave_day
    keys = dg * (days + 1) + dd  # sorted (np.unique)
    base = g.group.astype(np.int64) * (days + 1)
    lo = np.searchsorted(keys, base + np.maximum(g.join_day, 0), side="left")
    hi = np.searchsorted(keys, base + np.minimum(g.leave_day, days), side="left")
    n = np.maximum(hi - lo, 0)
    # batches: groups in chat_id order, cut when their list entries exceed batch_entries
    n_groups = len(g.chat_id)
    entries = np.bincount(g.group, weights=n, minlength=n_groups)
    by_chat = np.argsort(g.chat_id, kind="stable")
    cut = np.floor_divide(np.cumsum(entries[by_chat]) - entries[by_chat],
                          max(1, batch_entries or CHAT_BATCH_ENTRIES)).astype(np.int64)
    batch_of = np.empty(n_groups, dtype=np.int64)
    batch_of[by_chat] = cut
    for b in (np.unique(cut) if n_groups else []):
        spells = np.flatnonzero(batch_of[g.group] == b)
        dels = np.flatnonzero(batch_of[dg] == b)
        yield _group_chats_batch(pop, g, staff, dg, dd, lo, n, spells, dels)


def _group_chats_batch(pop: GroupPeople, g: Groups, staff: Staff, dg: np.ndarray,
                       dd: np.ndarray, lo: np.ndarray, n: np.ndarray, spells: np.ndarray,
                       dels: np.ndarray) -> Delivery:
    ns = n[spells]
    spell = np.repeat(spells, ns)
    delivery = np.repeat(lo[spells], ns) + (np.arange(int(ns.sum())) - np.repeat(np.cumsum(ns) - ns, ns))
    p = g.person[spell]
    members = pa.table({
        "delivery": delivery,
        "userid": take(pop.external_userid, p),
        "join_day": g.join_day[spell], "join_sec": g.join_sec[spell],
        "scene": g.join_scene[spell],
        "unionid": take(pop.unionid, p, g.unionid_shown[spell]),
        "nick": pop.nickname[p],
    })
    deliveries = pa.table({
        "delivery": dels, "chat": g.chat_id[dg[dels]],
        "owner": take(pa.array(staff.userid), g.owner[dg[dels]]),
        "cday": g.created_day[dg[dels]], "csec": g.created_sec[dg[dels]],
        "day": dd[dels].astype(np.int32), "version": dels,
    })
    con = duckdb.connect()
    try:
        con.register("m", members)
        con.register("d", deliveries)
        table = con.sql("""
            SELECT d.chat, d.owner, d.cday, d.csec, d.day, d.version,
                   coalesce(list(m.userid ORDER BY m.join_day, m.join_sec, m.userid)
                                FILTER (WHERE m.delivery IS NOT NULL), [])
                       AS userids,
                   coalesce(list(m.join_day ORDER BY m.join_day, m.join_sec, m.userid)
                                FILTER (WHERE m.delivery IS NOT NULL), []) AS jd,
                   coalesce(list(m.join_sec ORDER BY m.join_day, m.join_sec, m.userid)
                                FILTER (WHERE m.delivery IS NOT NULL), []) AS js,
                   coalesce(list(m.scene ORDER BY m.join_day, m.join_sec, m.userid)
                                FILTER (WHERE m.delivery IS NOT NULL), []) AS sc,
                   coalesce(list(coalesce(m.unionid, '') ORDER BY m.join_day, m.join_sec,
                                 m.userid) FILTER (WHERE m.delivery IS NOT NULL), []) AS un,
                   coalesce(list(m.nick ORDER BY m.join_day, m.join_sec, m.userid)
                                FILTER (WHERE m.delivery IS NOT NULL), []) AS nk
            FROM d LEFT JOIN m USING (delivery)
            GROUP BY ALL ORDER BY d.day, d.chat""").to_arrow_table()
    finally:
        con.close()
    line = """json_object('group_chat', json_object(
        'chat_id', chat, 'name', '门店福利群', 'owner', owner,
        'create_time', epoch_s(cday, csec), 'notice', '',
        'member_list', to_json(list_concat(
            [{'userid': owner, 'type': 1, 'join_time': epoch_s(cday, csec), 'join_scene': 1,
              'group_nickname': '', 'name': '店员'}::JSON],
            list_transform(range(1, len(userids) + 1), lambda i:
                CASE WHEN un[i] = '' THEN
                    {'userid': userids[i], 'type': 2, 'join_time': epoch_s(jd[i], js[i]),
                     'join_scene': sc[i], 'group_nickname': nk[i], 'name': nk[i]}::JSON
                ELSE
                    {'userid': userids[i], 'type': 2, 'join_time': epoch_s(jd[i], js[i]),
                     'join_scene': sc[i], 'group_nickname': nk[i], 'name': nk[i],
                     'unionid': un[i]}::JSON
                END))),
        'admin_list', to_json([{'userid': owner}]),
        'member_version', 'v' || version::VARCHAR))::VARCHAR || chr(10)"""
    return Delivery("wecom/group_chats", "jsonl", table, line,
                    table.column("day").to_numpy().astype(np.int32),
                    damage={"key": "group_chat.chat_id",
                            "timestamps": ["group_chat.create_time"], "amounts": []})


def group_events(rng: np.random.Generator, pop: GroupPeople, g: Groups, days: int,
                 cfg: GeneratorConfig) -> Delivery:
    created = (g.created_day >= 0) & (g.created_day < days)
    dismissed = g.dismiss_day < days
    joined = g.join_day >= 0
    left = (g.leave_day < days) & g.leave_callback & (g.quit_scene < 2)
    grp = np.concatenate([np.flatnonzero(created), np.flatnonzero(dismissed),
                          g.group[joined], g.group[left]])
    kind = np.concatenate([np.full(int(created.sum()), 0), np.full(int(dismissed.sum()), 3),
                           np.full(int(joined.sum()), 1), np.full(int(left.sum()), 2)])
    spell = np.concatenate([np.full(int(created.sum()) + int(dismissed.sum()), -1),
                            np.flatnonzero(joined), np.flatnonzero(left)])
    day = np.concatenate([g.created_day[created], g.dismiss_day[dismissed],
                          g.join_day[joined], g.leave_day[left]])
    sec = np.concatenate([g.created_sec[created], g.dismiss_sec[dismissed],
                          g.join_sec[joined], g.leave_sec[left]])
    order = np.lexsort((spell, kind, sec, day))
    order = order[arrival_order(rng, day[order], sec[order], cfg.p_event_duplicate,
                                cfg.p_event_late)]
    grp, kind, spell, day, sec = (a[order] for a in (grp, kind, spell, day, sec))
    has = spell >= 0
    s = np.where(has, spell, 0)
    table = pa.table({
        "kind": kind, "chat": g.chat_id[grp],
        "userid": take(pop.external_userid, g.person[s], has),
        "join_scene": np.where(g.join_scene[s] == 3, 3, 0),
        "quit_scene": g.quit_scene[s],
        "day": day.astype(np.int32), "sec": sec.astype(np.int32),
    })
    line = """CASE kind
        WHEN 0 THEN json_object('ChangeType', 'create', 'ChatId', chat,
                                'CreateTime', epoch_s(day, sec))
        WHEN 3 THEN json_object('ChangeType', 'dismiss', 'ChatId', chat,
                                'CreateTime', epoch_s(day, sec))
        WHEN 1 THEN json_object('ChangeType', 'update', 'ChatId', chat,
                                'UpdateDetail', 'add_member', 'JoinScene', join_scene,
                                'MemChangeCnt', 1, 'MemChangeList', [userid],
                                'CreateTime', epoch_s(day, sec))
        ELSE json_object('ChangeType', 'update', 'ChatId', chat,
                         'UpdateDetail', 'del_member', 'QuitScene', quit_scene,
                         'MemChangeCnt', 1, 'MemChangeList', [userid],
                         'CreateTime', epoch_s(day, sec))
        END::VARCHAR || chr(10)"""
    return Delivery("wecom/group_events", "jsonl", table, line, day.astype(np.int32),
                    damage={"key": "ChatId", "timestamps": ["CreateTime"], "amounts": []})


def truth_spells(pop: GroupPeople, g: Groups, start_ts: str) -> pa.Table:
    """_truth/group_spells.csv: every spell (exact times), and whether its end is exact in
    the data (a delivered leave callback or the dismissal) — else only its day is."""
    con = duckdb.connect()
    try:
        con.register("s", pa.table({
            "chat_id": g.chat_id[g.group], "person_id": take(pop.person_id, g.person),
            "external_userid": take(pop.external_userid, g.person),
            "jd": g.join_day, "js": g.join_sec,
            "ld": np.where(g.leave_day < OPEN, g.leave_day, -1), "ls": g.leave_sec,
            "exact": g.leave_callback, "q": g.quit_scene}))
        return con.sql(f"""
            SELECT chat_id, person_id, external_userid,
                   TIMESTAMP '{start_ts}' + to_seconds(jd::BIGINT * 86400 + js) AS joined_at,
                   CASE WHEN ld >= 0 THEN TIMESTAMP '{start_ts}'
                        + to_seconds(ld::BIGINT * 86400 + ls) END AS left_at,
                   CASE WHEN ld >= 0 THEN exact END AS left_at_exact,
                   CASE WHEN ld >= 0 THEN ['left', 'removed', 'group_dismissed'][q + 1]
                   END AS quit_scene
            FROM s ORDER BY chat_id, external_userid, joined_at""").to_arrow_table()
    finally:
        con.close()

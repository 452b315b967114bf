"""WeCom (企业微信) external contacts: `externalcontact/get` responses and change callbacks.

A contact is exported when a store's staff member adds the customer (state `store_<id>` when
they scanned the store's QR code), again when a second staff member adds them or staff edit
remarks and tags, never after deletion — the deletion only arrives as a callback
(del_external_contact: staff removed the customer; del_follow_user: the customer removed
the staff member). remark_mobiles hold what staff typed, including their own number for a
few habitual staff; a few remarks carry the phone in free text. Typed phones include the
Unicode spellings of mobiles.py (NBSP, ideographic space, full-width punctuation).

Callback events arrive as callbacks do: a few twice (a retried callback) and some minutes
late, so a day's file is in arrival order, not CreateTime order (every copy in the event's
own dt). The duplicates are identical lines; the ground truth does not count events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from siyu_generator import mobiles
from siyu_generator.config import GeneratorConfig
from siyu_generator.formats import (
    Delivery,
    arrival_order,
    nullable,
    sort_rows,
    take,
    versions,
)
from siyu_generator.identity_cases import Staff
from siyu_generator.names import honorifics
from siyu_generator.population import NEVER, Population
from siyu_generator.reference import Reference

WECOM = 3
TAGS = [("客户等级", "普通会员"), ("客户等级", "银卡会员"), ("客户等级", "金卡会员"),
        ("购买意向", "高意向"), ("购买意向", "观望中"),
        ("来源", "门店"), ("来源", "直播间"), ("来源", "小程序"),
        ("偏好", "护肤"), ("偏好", "彩妆"), ("偏好", "香氛")]
CHANGE_TYPES = ["add_external_contact", "edit_external_contact", "del_external_contact",
                "del_follow_user"]
ADD, EDIT, DEL_CONTACT, DEL_FOLLOW = range(4)


@dataclass
class Contacts:
    """Per contact (aligned with `person`): what the channel knows and when things happen."""

    person: np.ndarray
    join: np.ndarray
    sec: np.ndarray
    staff1: np.ndarray
    staff2: np.ndarray  # -1 none
    add2_day: np.ndarray
    sec2: np.ndarray
    edit_day: np.ndarray
    del_day: np.ndarray
    del_kind: np.ndarray
    own_code: np.ndarray  # typed code of the customer's phone in remark_mobiles (-1 none)
    own_at_edit: np.ndarray  # the phone is typed in only at the edit
    staff_phone_code: np.ndarray  # -1: staff did not type their own phone
    drop_own: np.ndarray  # habitual staff typed only their own phone
    remark_phone: np.ndarray  # remark text carries the customer's phone
    unionid_known: np.ndarray
    state: np.ndarray
    add_way: np.ndarray
    tags: np.ndarray  # (n, 3) tag codes, -1 none; column 1 appears at the edit

    def own_phone_shown(self, days: int) -> np.ndarray:
        """Contacts whose own phone appears as a valid remark mobile in some delivery."""
        return (mobiles.is_valid_code(self.own_code) & ~self.drop_own
                & (~self.own_at_edit | (self.edit_day < days)))


def plan_contacts(rng: np.random.Generator, pop: Population, staff: Staff, days: int,
                  cfg: GeneratorConfig, ref: Reference) -> Contacts:
    person = np.flatnonzero(pop.present(WECOM, days))
    n = len(person)
    join = pop.join_day[person, WECOM]
    base = np.maximum(join, 0)
    spp = staff.per_store
    staff1 = pop.home_store[person] * spp + rng.integers(0, spp, n)
    has2 = rng.random(n) < cfg.p_wecom_second_follow_user
    staff2 = np.where(has2, rng.integers(0, len(staff.userid), n), -1)
    staff2 = np.where(staff2 == staff1, (staff2 + 1) % len(staff.userid), staff2)
    add2_day = np.where(has2, base + rng.integers(1, 120, n), NEVER)
    edit = rng.random(n) < cfg.p_wecom_edit
    edit_day = np.where(edit, np.maximum(base, np.where(has2, add2_day, base))
                        + rng.integers(1, 120, n), NEVER)
    deleted = ~has2 & (rng.random(n) < cfg.p_wecom_deleted)
    last = np.where(edit, edit_day, base)
    # most customers who delete a guide do it within weeks of being added
    del_day = np.where(deleted, last + 1 + rng.exponential(45, n).astype(np.int64), NEVER)

    own = rng.random(n) < cfg.p_wecom_remark_mobile
    own_code = np.where(own, mobiles.typed_codes(rng, n, cfg), mobiles.EMPTY)
    own_at_edit = ~own & edit & (rng.random(n) < 0.5)
    own_code = np.where(own_at_edit, mobiles.variant_codes(rng, n, cfg.p_phone_variant,
                                                            cfg.p_phone_unicode), own_code)
    habit = staff.habit[staff1] & (rng.random(n) < cfg.p_own_phone_when_habit)
    staff_phone_code = np.where(habit, mobiles.variant_codes(rng, n, cfg.p_phone_variant / 2,
                                                             cfg.p_phone_unicode),
                                mobiles.EMPTY)
    drop_own = habit & (rng.random(n) < 0.5)
    remark_phone = (mobiles.is_valid_code(own_code) & ~own_at_edit & ~drop_own
                    & (rng.random(n) < cfg.p_wecom_remark_text_phone))
    store_qr = rng.random(n) < 0.5
    campaign = ~store_qr & (rng.random(n) < 0.2)
    store_ids = ref.stores["store_id"].to_numpy().astype(str)
    state = np.where(store_qr, np.strings.add("store_", store_ids[pop.home_store[person]]),
                     np.where(campaign, np.array(["live_room", "mp_coupon", "new_year_gift"])[
                         rng.integers(0, 3, n)], ""))
    add_way = np.where(store_qr | campaign, 1, np.array([2, 3, 0, 6])[rng.integers(0, 4, n)])
    tags = np.stack([
        np.where(rng.random(n) < 0.7, rng.choice(3, n, p=[0.7, 0.2, 0.1]), -1),
        np.where(edit, rng.integers(3, 5, n), -1),
        np.where(rng.random(n) < 0.5, rng.integers(5, 11, n), -1),
    ], axis=1)
    return Contacts(
        person=person, join=join, sec=rng.integers(9 * 3600, 22 * 3600, n),
        staff1=staff1, staff2=staff2, add2_day=add2_day,
        sec2=rng.integers(9 * 3600, 22 * 3600, n), edit_day=edit_day, del_day=del_day,
        del_kind=np.where(rng.random(n) < 0.5, DEL_CONTACT, DEL_FOLLOW),
        own_code=own_code.astype(np.int16), own_at_edit=own_at_edit,
        staff_phone_code=staff_phone_code.astype(np.int16), drop_own=drop_own,
        remark_phone=remark_phone, unionid_known=rng.random(n) < cfg.p_wecom_unionid,
        state=state, add_way=add_way, tags=tags,
    )


def external_contacts(rng: np.random.Generator, pop: Population, c: Contacts, staff: Staff,
                      days: int) -> Delivery:
    base = np.maximum(c.join, 0)
    ent, day = versions(base, [c.add2_day, c.edit_day], days)
    order = sort_rows(day, np.minimum(c.join[ent], day), c.sec[ent], ent)
    ent, day = ent[order], day[order]
    p = c.person[ent]
    edited = c.edit_day[ent] <= day
    own_shown = (~c.own_at_edit[ent] | edited) & ~c.drop_own[ent]
    name = pop.name[p]
    remark = np.where(rng.random(len(p)) < 0.6, honorifics(name, pop.female[p]), name)
    remark = np.where(c.remark_phone[ent], np.strings.add(name, pop.phone_a[p].astype(str)),
                      remark)
    gender = np.where(rng.random(len(p)) < 0.1, 0, np.where(pop.female[p], 2, 1))
    tags = np.where(np.column_stack([np.ones(len(p), bool), edited, np.ones(len(p), bool)]),
                    c.tags[ent], -1)
    group = "[" + ", ".join(f"'{g}'" for g, _ in TAGS) + "]"
    tag = "[" + ", ".join(f"'{t}'" for _, t in TAGS) + "]"
    table = pa.table({
        "eu": take(pop.external_userid, p), "nick": pop.nickname[p],
        "gender": gender, "unionid": take(pop.unionid, p, c.unionid_known[ent]),
        "u1": take(pa.array(staff.userid), c.staff1[ent]), "remark": remark,
        "join": c.join[ent].astype(np.int32), "sec": c.sec[ent],
        "t1": tags[:, 0], "t2": tags[:, 1], "t3": tags[:, 2],
        "own": np.where(own_shown, pop.phone_a[p], 0), "own_code": c.own_code[ent],
        "staff_phone": staff.phone[c.staff1[ent]], "staff_code": c.staff_phone_code[ent],
        "noise": rng.integers(0, 2**40, len(p)),
        "add_way": c.add_way[ent], "state": c.state[ent],
        "show2": c.add2_day[ent] <= day,
        "u2": take(pa.array(staff.userid), c.staff2[ent], c.staff2[ent] >= 0),
        "remark2": honorifics(name, pop.female[p]),
        "add2": nullable(c.add2_day[ent].astype(np.int64), c.add2_day[ent] < days),
        "sec2": c.sec2[ent],
    })
    line = """json_object(
      'external_contact', CASE WHEN unionid IS NULL
        THEN json_object('external_userid', eu, 'name', nick, 'type', 1, 'gender', gender)
        ELSE json_object('external_userid', eu, 'name', nick, 'type', 1, 'gender', gender,
                         'unionid', unionid) END,
      'follow_user', CASE WHEN show2
        THEN json_array(fu1, json_object('userid', u2, 'remark', remark2,
                 'createtime', epoch_s(add2, sec2), 'tags', to_json([]::VARCHAR[]),
                 'remark_mobiles', to_json([]::VARCHAR[]), 'add_way', 3, 'state', ''))
        ELSE json_array(fu1) END)::VARCHAR || chr(10)"""
    fu1 = f"""json_object('userid', u1, 'remark', remark, 'createtime', epoch_s("join", sec),
        'tags', to_json(list_transform(list_filter([t1, t2, t3], lambda x: x >= 0),
            lambda x: {{'group_name': {group}[x + 1], 'tag_name': {tag}[x + 1], 'type': 1}})),
        'remark_mobiles', to_json(list_filter([typed_mobile(own, own_code, noise),
            typed_mobile(staff_phone, staff_code, noise)], lambda x: x IS NOT NULL)),
        'add_way', add_way, 'state', state)"""
    return Delivery("wecom/external_contacts", "jsonl", table, line.replace("fu1", fu1), day,
                    damage={"key": "external_contact.external_userid", "timestamps": [],
                            "amounts": []})


def contact_events(rng: np.random.Generator, pop: Population, c: Contacts, staff: Staff,
                   days: int, cfg: GeneratorConfig) -> Delivery:
    n = len(c.person)
    kinds = [
        (c.join, np.full(n, ADD), c.staff1, c.sec, True),
        (c.add2_day, np.full(n, ADD), c.staff2, c.sec2, False),
        (c.edit_day, np.full(n, EDIT), c.staff1, rng.integers(9 * 3600, 22 * 3600, n), False),
        (c.del_day, c.del_kind, c.staff1, rng.integers(0, 86400, n), False),
    ]
    ent, day, kind, who, sec, with_state = [], [], [], [], [], []
    for d, k, s, t, st in kinds:
        keep = (d >= 0) & (d < days)
        ent.append(np.flatnonzero(keep))
        day.append(d[keep])
        kind.append(k[keep])
        who.append(s[keep])
        sec.append(t[keep])
        with_state.append(np.full(int(keep.sum()), st))
    ent, day, kind, who, sec, with_state = (np.concatenate(a) for a in
                                            (ent, day, kind, who, sec, with_state))
    order = sort_rows(day, sec, ent)
    order = order[arrival_order(rng, day[order], sec[order], cfg.p_event_duplicate,
                                cfg.p_event_late)]
    ent, day, kind, who, sec, with_state = (a[order] for a in
                                            (ent, day, kind, who, sec, with_state))
    state = c.state[ent]
    table = pa.table({
        "change": take(pa.array(CHANGE_TYPES), kind),
        "userid": take(pa.array(staff.userid), who),
        "eu": take(pop.external_userid, c.person[ent]),
        "state": nullable(state, with_state & (state != "")),
        "day": day.astype(np.int32), "sec": sec.astype(np.int32),
    })
    line = """CASE WHEN state IS NULL
        THEN json_object('ChangeType', change, 'UserID', userid, 'ExternalUserID', eu,
                         'CreateTime', epoch_s(day, sec))
        ELSE json_object('ChangeType', change, 'UserID', userid, 'ExternalUserID', eu,
                         'State', state, 'CreateTime', epoch_s(day, sec)) END::VARCHAR || chr(10)"""
    return Delivery("wecom/contact_events", "jsonl", table, line, day.astype(np.int32),
                    damage={"key": "ExternalUserID", "timestamps": ["CreateTime"],
                            "amounts": []})

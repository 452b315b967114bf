"""Channel records (what each system would export), one DataFrame per landing entity.

Every frame carries `dt` (the export day) plus the contract's columns; re-deliveries of a
changed record (status progressions, refunds, phone changes) are extra rows on a later `dt`.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from pipelines.lib.generator.config import GeneratorConfig
from pipelines.lib.generator.ids import numbered
from pipelines.lib.generator.phones_typed import invalid_phones, typed_variants
from pipelines.lib.generator.population import Population

PLACEHOLDERS = np.array(["13800138000", "13900000000", "13888888888", "18888888888"])


def ts(start: np.datetime64, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
    if len(day) == 0:  # numpy's string replace cannot reduce over an empty array
        return np.array([], dtype="<U19")
    t = start.astype("datetime64[s]") + day.astype("timedelta64[D]") + secs.astype("timedelta64[s]")
    return np.char.replace(np.datetime_as_string(t, unit="s"), "T", " ")


def iso_ts(start: np.datetime64, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
    """ISO-8601 with the +08:00 offset, as the mini-program backend writes it."""
    if len(day) == 0:
        return np.array([], dtype="<U25")
    return np.char.add(np.char.replace(ts(start, day, secs), " ", "T"), "+08:00")


def dt_str(start: np.datetime64, day: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(start + day.astype("timedelta64[D]"), unit="D")


def epoch(start: np.datetime64, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
    local = start.astype("datetime64[s]") + day.astype("timedelta64[D]") + secs.astype("timedelta64[s]")
    return (local - np.timedelta64(8, "h")).astype("int64")


def sha256_hex(values: np.ndarray) -> np.ndarray:
    # hashlib has no vectorised form; this runs once per distinct phone (≤ 2 per person)
    return np.array([hashlib.sha256(v.encode()).hexdigest() for v in values], dtype=object)


def masked(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype=object)
    return (s.str[:3] + "****" + s.str[-4:]).to_numpy()


def pos_members(rng, pop: Population, days, start, cfg: GeneratorConfig, stores,
                counter_phones: np.ndarray, truth_shared: list) -> pd.DataFrame:
    idx = np.flatnonzero(pop.has_pos & (pop.reg_day["pos"] < days))
    n = len(idx)
    phone = pop.phone_a[idx].copy()
    r = rng.random(n)
    kind = np.full(n, "own", dtype=object)
    edges = np.cumsum([cfg.p_couple_shared_phone, cfg.p_counter_phone, cfg.p_placeholder_phone,
                       cfg.p_phone_invalid, cfg.p_phone_empty])
    kind[r < edges[4]] = "empty"
    kind[r < edges[3]] = "invalid"
    kind[r < edges[2]] = "placeholder"
    kind[r < edges[1]] = "counter"
    kind[r < edges[0]] = "couple"
    couple = kind == "couple"
    partner = rng.integers(0, pop.n, int(couple.sum()))
    phone[couple] = pop.phone_a[partner]
    truth_shared.append(("couple", pop.phone_a[partner]))
    counter = kind == "counter"
    store_of_counter = pop.home_store[idx][counter] % cfg.counter_phone_stores
    phone[counter] = counter_phones[store_of_counter]
    phone[kind == "placeholder"] = PLACEHOLDERS[rng.integers(0, len(PLACEHOLDERS),
                                                             int((kind == "placeholder").sum()))]
    typed = typed_variants(rng, phone, cfg.p_phone_variant).astype(object)
    typed[kind == "invalid"] = invalid_phones(rng, int((kind == "invalid").sum()))
    typed[kind == "empty"] = ""
    day = pop.reg_day["pos"][idx]
    secs = rng.integers(10 * 3600, 21 * 3600, n)
    bday = np.datetime_as_string(pop.birthday[idx], unit="D").astype(object)
    bday[rng.random(n) < 0.35] = ""
    gender = pop.gender[idx].astype(object)
    gender[rng.random(n) < 0.05] = ""
    frame = pd.DataFrame({
        "member_card_no": pop.card[idx], "mobile": typed, "name": pop.name[idx],
        "gender": gender, "birthday": bday,
        "store_id": stores["store_id"].to_numpy()[pop.home_store[idx]],
        "registered_at": ts(start, day, secs), "dt": dt_str(start, day), "_person": idx,
        "_kind": kind,
    })
    # phone changes: the same card re-delivered later with the person's other phone
    change = (rng.random(n) < cfg.p_phone_change) & (kind == "own")
    later = day[change] + rng.integers(5, 120, int(change.sum()))
    ok = later < days
    moved = frame[change][ok].copy()
    moved["mobile"] = typed_variants(rng, pop.phone_b[idx][change][ok], cfg.p_phone_variant)
    moved["dt"] = dt_str(start, later[ok])
    moved["_kind"] = "changed"
    return pd.concat([frame, moved], ignore_index=True)


def tmall_members(rng, pop: Population, days, start) -> pd.DataFrame:
    idx = np.flatnonzero(pop.has_tmall & (pop.reg_day["tmall"] < days))
    day = pop.reg_day["tmall"][idx]
    return pd.DataFrame({
        "ouid": pop.ouid[idx], "手机号哈希": sha256_hex(pop.phone_b[idx]),
        "入会时间": ts(start, day, rng.integers(0, 86400, len(idx))),
        "会员等级": rng.choice([1, 2, 3, 4], size=len(idx), p=[0.6, 0.25, 0.1, 0.05]).astype(str),
        "dt": dt_str(start, day), "_person": idx,
    })


def mp_users(rng, pop: Population, days, start, cfg: GeneratorConfig) -> pd.DataFrame:
    idx = np.flatnonzero(pop.has_mp & (pop.reg_day["miniprogram"] < days))
    day = pop.reg_day["miniprogram"][idx]
    bound = day >= int(days * cfg.p_unionid_unbound_share)
    authorised = rng.random(len(idx)) < cfg.p_mp_phone_authorised
    phone = pop.phone_b[idx]
    secs = rng.integers(0, 86400, len(idx))
    created = iso_ts(start, day, secs)
    return pd.DataFrame({
        "openid": pop.openid[idx],
        "unionid": np.where(bound, pop.unionid[idx], None),
        "phone": np.where(authorised, phone, None),
        "nickname": np.char.add("微信用户", pop.person_id[idx].astype(str).astype("U12")),
        "created_at": created, "dt": dt_str(start, day), "_person": idx,
    })


def wecom_contacts(rng, pop: Population, days, start, cfg: GeneratorConfig, stores,
                   staff_phones: np.ndarray):
    idx = np.flatnonzero(pop.has_wecom & (pop.reg_day["wecom"] < days))
    n = len(idx)
    day = pop.reg_day["wecom"][idx]
    secs = rng.integers(9 * 3600, 22 * 3600, n)
    staff = rng.integers(0, cfg.n_staff, n)
    has_remark = rng.random(n) < cfg.p_wecom_remark_mobile
    remark_phone = typed_variants(rng, pop.phone_a[idx], cfg.p_phone_variant)
    # a few staff members habitually type their own phone into their contacts' remarks
    staff_typed = rng.random(n) < cfg.p_staff_phone_in_remark
    staff[staff_typed] = rng.integers(0, cfg.n_staff_typing_own_phone, int(staff_typed.sum()))
    state = np.where(rng.random(n) < 0.45,
                     np.char.add("store_", stores["store_id"].to_numpy()[pop.home_store[idx]]
                                 .astype(str)), "")
    frame = pd.DataFrame({
        "external_userid": pop.external_userid[idx], "name": pop.name[idx],
        "gender": np.where(pop.gender[idx] == "F", 2, 1),
        "unionid": pop.unionid[idx], "userid": numbered("staff", staff, 3),
        "remark": pop.name[idx],
        "createtime": epoch(start, day, secs),
        "remark_mobile": np.where(has_remark, remark_phone, None),
        "staff_mobile": np.where(staff_typed, staff_phones[staff], None),
        "state": state, "tag": np.where(rng.random(n) < 0.3, "高意向", "新客"),
        "dt": dt_str(start, day), "_person": idx, "_day": day,
    })
    deleted = rng.random(n) < cfg.p_wecom_deleted
    del_day = day + rng.integers(1, 90, n)
    del_ok = deleted & (del_day < days)
    events = pd.concat([
        pd.DataFrame({"ChangeType": "add_external_contact", "UserID": frame["userid"],
                      "ExternalUserID": frame["external_userid"], "State": frame["state"],
                      "CreateTime": frame["createtime"], "dt": frame["dt"]}),
        pd.DataFrame({"ChangeType": "del_external_contact", "UserID": frame["userid"][del_ok],
                      "ExternalUserID": frame["external_userid"][del_ok], "State": None,
                      "CreateTime": epoch(start, del_day[del_ok], secs[del_ok]),
                      "dt": dt_str(start, del_day[del_ok])}),
    ], ignore_index=True)
    frame["_deleted"] = del_ok
    return frame, events


def make_orders(rng, pop: Population, person, day, channel, days, start, season,
                cfg: GeneratorConfig, stores, products, lines_fn):
    """All orders (members and guests) with lines, discounts and their later re-deliveries."""
    n_guest = int(len(person) * cfg.guest_order_share)
    p = season / season.sum()
    g_day = rng.choice(len(season), size=n_guest, p=p)
    person = np.concatenate([person, np.full(n_guest, -1)])
    day = np.concatenate([day, g_day])
    channel = np.concatenate([channel, rng.integers(0, 2, n_guest)])
    order = np.argsort(day, kind="stable")
    person, day, channel = person[order], day[order], channel[order]
    n = len(person)
    secs = rng.integers(9 * 3600, 23 * 3600, n)
    lines = lines_fn(rng, n, products)
    total = np.round(np.bincount(lines["order_idx"], weights=lines["line_amount"], minlength=n), 2)
    disc = np.where(rng.random(n) < cfg.p_discount,
                    np.round(total * rng.uniform(0.05, 0.2, n), 0), 0.0)
    paid = np.round(total - disc, 2)
    home = np.where(person >= 0, pop.home_store[np.maximum(person, 0)],
                    rng.integers(0, len(stores), n))
    store = np.where(rng.random(n) < 0.9, home, rng.integers(0, len(stores), n))
    refund = rng.random(n) < cfg.p_refund
    partial = refund & (rng.random(n) < cfg.p_partial_refund)
    refund_day = day + rng.integers(1, 10, n)
    orders = pd.DataFrame({
        "order_idx": np.arange(n), "person": person, "day": day, "secs": secs,
        "channel": channel, "total": total, "discount": disc, "paid": paid,
        "store": stores["store_id"].to_numpy()[store], "refund": refund, "partial": partial,
        "refund_day": refund_day,
    })
    first_line = lines.drop_duplicates("order_idx").set_index("order_idx")["line_amount"]
    orders["partial_amount"] = np.minimum(first_line.reindex(orders["order_idx"]).to_numpy(),
                                          orders["paid"].to_numpy())
    return orders, lines

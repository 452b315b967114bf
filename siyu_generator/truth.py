"""`_truth/`: who is who, for scoring identity resolution and scanning for leaks.

* identifiers.csv — person_id,id_type,id_value for every identifier of a person that appears
  in the landing zone (mobile_sha256 only for personal numbers shown in an identity field:
  POS mobile, Tmall 手机号哈希, mini-program phone_info, WeCom remark_mobiles; a number typed
  with NBSP, an ideographic space or full-width punctuation is the same number, so it counts);
* shared_mobiles.csv — mobile_sha256,kind,n_persons for couple / counter / staff /
  placeholder numbers, which are never listed as a person's identifier;
* persons.csv — the latent attributes (channels, purchase rate, dropout, identity case);
* plaintext_mobiles.txt — every normalised 11-digit mobile that appears in plain text
  anywhere in the landing zone (a warehouse must contain none of them);
* malformed_rows.csv — file,line,kind of every deliberately damaged line;
* manifest.json — the summary and the parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from siyu_generator import identity_cases as ic
from siyu_generator import mobiles
from siyu_generator.config import CHANNELS
from siyu_generator.formats import nullable
from siyu_generator.identity_cases import PosPhones, Staff
from siyu_generator.population import Population
from siyu_generator.reference import Reference
from siyu_generator.timeline import Timeline
from siyu_generator.wecom import Contacts


@dataclass
class Sightings:
    """(person, number) pairs of every plaintext or hashed mobile shown, by identity field."""

    person: np.ndarray
    phone: np.ndarray
    plaintext: np.ndarray  # shown in plain text (not only as Tmall's hash)


def mobile_sightings(pop: Population, pp: PosPhones, contacts: Contacts, staff: Staff,
                     mp_phone_shown: np.ndarray, mp_person: np.ndarray,
                     tmall_person: np.ndarray, days: int) -> tuple[Sightings, np.ndarray]:
    """Personal sightings, plus every plaintext number (incl. shared and remark text)."""
    valid = mobiles.is_valid_code(pp.code)
    changed = pp.change_day < days
    wc_own = contacts.own_phone_shown(days)
    persons = [pp.person[valid], pp.person[changed], tmall_person, mp_person[mp_phone_shown],
               contacts.person[wc_own]]
    phones = [pp.phone[valid], pp.new_phone[changed], pop.phone_b[tmall_person],
              pop.phone_b[mp_person[mp_phone_shown]], pop.phone_a[contacts.person[wc_own]]]
    plain = [np.ones(len(x), bool) for x in persons]
    plain[2] = np.zeros(len(tmall_person), bool)
    staff_shown = mobiles.is_valid_code(contacts.staff_phone_code)
    extra_plain = np.concatenate([
        staff.phone[contacts.staff1[staff_shown]],
        pop.phone_a[contacts.person[contacts.remark_phone]],
    ])
    s = Sightings(np.concatenate(persons), np.concatenate(phones), np.concatenate(plain))
    every_plain = np.unique(np.concatenate([s.phone[s.plaintext], extra_plain]))
    return s, every_plain[every_plain > 0]


SHARED_KINDS = ("couple", "counter", "placeholder", "staff")


def shared_pairs(pp: PosPhones, contacts: Contacts, staff: Staff, offset: int = 0
                 ) -> dict[str, np.ndarray]:
    """Per kind, the distinct (number, person) pairs of numbers that belong to no single
    person, persons numbered in the zone (`offset`: the block's first person)."""
    staff_shown = mobiles.is_valid_code(contacts.staff_phone_code)
    sources = [
        ("couple", pp.phone[pp.kind == ic.COUPLE], pp.person[pp.kind == ic.COUPLE],
         pp.partner[pp.kind == ic.COUPLE]),
        ("counter", pp.phone[pp.kind == ic.COUNTER], pp.person[pp.kind == ic.COUNTER], None),
        ("placeholder", pp.phone[pp.kind == ic.PLACEHOLDER],
         pp.person[pp.kind == ic.PLACEHOLDER], None),
        ("staff", staff.phone[contacts.staff1[staff_shown]], contacts.person[staff_shown], None),
    ]
    out = {}
    for name, phone, person, partner in sources:
        if partner is not None:  # the partner's own card shows the number too
            phone = np.concatenate([phone, phone])
            person = np.concatenate([person, partner])
        out[name] = np.unique(np.stack([phone, person + offset], axis=1), axis=0) \
            if len(phone) else np.zeros((0, 2), dtype=np.int64)
    return out


def shared_numbers(pairs: list[dict[str, np.ndarray]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(number, kind, n_persons) of numbers that belong to no single person, over blocks."""
    number, kind, count = [], [], []
    for name in SHARED_KINDS:
        key = np.concatenate([p[name] for p in pairs]) if pairs else np.zeros((0, 2), np.int64)
        key = np.unique(key, axis=0) if len(key) else key
        nums, n = np.unique(key[:, 0], return_counts=True)
        number.append(nums)
        kind.append(np.full(len(nums), name))
        count.append(n)
    return np.concatenate(number), np.concatenate(kind), np.concatenate(count)


def identifiers(con: duckdb.DuckDBPyConnection, pop: Population, parts: list[tuple[str,
                np.ndarray, pa.Array]], sightings: Sightings, shared: np.ndarray) -> pa.Table:
    """All (person_id, id_type, id_value), sorted; mobiles hashed in DuckDB."""
    personal = ~np.isin(sightings.phone, shared)
    tables = [pa.table({"p": person, "id_type": np.full(len(person), t), "id_value": values})
              for t, person, values in parts]
    tables.append(pa.table({
        "p": sightings.person[personal], "id_type": np.full(int(personal.sum()), "mobile_sha256"),
        "id_value": pa.array(sightings.phone[personal]).cast(pa.large_string())}))
    con.register("ids", pa.concat_tables(tables))
    con.register("persons", pa.table({"p": np.arange(pop.n), "person_id": pop.person_id}))
    out = con.sql("""
        SELECT DISTINCT person_id, id_type,
               CASE WHEN id_type = 'mobile_sha256' THEN sha256(id_value) ELSE id_value END
                   AS id_value
        FROM ids JOIN persons USING (p)
        ORDER BY person_id, id_type, id_value""").to_arrow_table()
    return out


def persons_table(pop: Population, ref: Reference, tl: Timeline, pp: PosPhones) -> pa.Table:
    present = np.stack([pop.present(c, tl.days) for c in range(4)], axis=1)
    mask = present.astype(np.int64) @ (1 << np.arange(4))
    labels = np.array(["|".join(c for i, c in enumerate(CHANNELS) if m >> i & 1)
                       for m in range(16)])
    channels = labels[mask]
    case = np.full(pop.n, "", dtype=object)
    case[pop.two_phones()] = "two_phones"
    for kind in (ic.COUPLE, ic.COUNTER, ic.PLACEHOLDER):
        case[pp.person[pp.kind == kind]] = ic.KIND_NAMES[kind] + "_phone_at_pos"
    case[pp.partner[pp.partner >= 0]] = "couple_phone_owner"
    case[pp.person[pp.change_day < tl.days]] = "phone_change"
    first = np.where(present, pop.join_day, 10**9).min(axis=1)
    first_date = np.where(first < 10**8, np.datetime_as_string(
        tl.start64 + np.minimum(first, 10**6).astype("timedelta64[D]"), unit="D"), "")
    return pa.table({
        "person_id": pop.person_id,
        "gender": np.where(pop.female, "F", "M"),
        "birthday": np.datetime_as_string(pop.birthday, unit="D"),
        "city": ref.stores["city"].to_numpy()[pop.home_store],
        "home_store_id": ref.stores["store_id"].to_numpy()[pop.home_store],
        "channels": channels,
        "first_joined": nullable(first_date, first_date != ""),
        "joined_before_window": pop.existing,
        "purchase_rate_per_day": np.round(pop.rate, 6),
        "dropout_probability": np.round(pop.dropout, 6),
        "is_buyer": pop.is_buyer,
        "identity_case": nullable(case.astype(str), case != ""),
    })


def write_csv(con: duckdb.DuckDBPyConnection, table: pa.Table, path: Path) -> None:
    con.register("out_t", table)
    con.execute(f"COPY (SELECT * FROM out_t) TO '{path}' (FORMAT csv, HEADER true)")
    con.unregister("out_t")


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n",
                    encoding="utf-8")

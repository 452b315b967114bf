"""Activation on a hand-computed fixture: audience spells over three nights, the outboxes byte
for byte, arms stable across a re-run, a merge, a suppressed and a forgotten member; then
audience_lift on hand-made spells and orders.

Only the relations the activation models read are created (like the member-value fixture):
`marts.member_audiences` (tonight's lists, rewritten per night), `intermediate.
int_member_value__as_of`, `marts.dim_member`, `marts.member_id_merges`, `marts.fct_orders`,
`identity.member_id_assignments`, `staging.stg_wecom__follow_users`,
`intermediate.int_identity__deleted_wecom_contacts`; dbt builds `member_audience_spells`
(incremental, as on a real night) and the outbox writer reads the result.

Audiences (var audiences overridden): aud_a — holdout_share 0.2, a WeCom tag `etA` and a
coupon `CPN_A`; aud_b — holdout_share 0 (everyone treated), a WeCom tag `etB`.
Arms (salt siyu-holdout-2026; arm_unit = first 32 bits of md5('salt|audience|member') / 2^32,
pipelines/lib/activation/arms.py, checked equal to the SQL below): in aud_a M5 = 0.1862 < 0.2
→ holdout; M1 0.745, M2 0.930, M3 0.2258, M4 0.5115, M6 0.3818, M7 0.2579, M8 0.3451,
M9 0.5044 → treated. aud_b: share 0 → all treated.

| night | aud_a list                         | aud_b | what happens                                      |
|-------|------------------------------------|-------|---------------------------------------------------|
| 06-10 | M1 M2 M3 M6 M7 M8                  | M1    | all enter                                          |
| 06-11 | M1 M3 M4 M6 M7 M8 M9               | —     | M2 leaves a; M4, M9 enter a; M1 leaves b           |
| 06-12 | M1 M2 M4 M5 M7 M8 M9 (M6 merged    | M1    | M3 leaves a; M2 re-enters a (spell 2); M5 enters   |
|       | into M4)                           |       | a (holdout); M1 re-enters b; M6's spell follows M4 |

WeCom: M1's contact wx_m1 is followed by s_li and s_wang; M2 wx_m2 (s_li); M4 wx_m4 (s_wang);
M6 wx_m6 (s_li; after the merge M4's); M7 wx_m7 (s_li); M9 wx_m9 (s_li) deleted; M3, M5, M8
have no contact. Openids: M1 o_m1_b and o_m1_a (the smallest, o_m1_a, is used), M7 o_m7.
M8 holds an identifier on the suppression list (never in an outbox). M7 is forgotten after
the third night (siyu forget's library call, then the outbox scrub the CLI runs).
"""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.activation import arm_unit, erase_from_outboxes, write_outboxes
from pipelines.lib.privacy import _salt, forget, salted
from pipelines.lib.warehouse import connect
from tests.integration.test_member_value_marts import _dbt

SALT = "siyu-holdout-2026"
AUDIENCES = [
    {"code": "aud_a", "name": "A", "rules": [{"field": "city", "op": "eq", "value": "x"}],
     "holdout_share": 0.2,
     "activation": [{"target": "wecom_tag", "tag_id": "etA"},
                    {"target": "coupon", "template": "CPN_A"}]},
    {"code": "aud_b", "name": "B", "rules": [{"field": "city", "op": "eq", "value": "y"}],
     "holdout_share": 0.0, "activation": [{"target": "wecom_tag", "tag_id": "etB"}]},
]
NIGHTS = {
    date(2024, 6, 10): {"aud_a": ["M1", "M2", "M3", "M6", "M7", "M8"], "aud_b": ["M1"]},
    date(2024, 6, 11): {"aud_a": ["M1", "M3", "M4", "M6", "M7", "M8", "M9"], "aud_b": []},
    date(2024, 6, 12): {"aud_a": ["M1", "M2", "M4", "M5", "M7", "M8", "M9"], "aud_b": ["M1"]},
}
MEMBERS = ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9"]
ASSIGNMENTS = [
    ("wecom_external_userid", "wx_m1", "M1"), ("mp_openid", "o_m1_b", "M1"),
    ("mp_openid", "o_m1_a", "M1"), ("wecom_external_userid", "wx_m2", "M2"),
    ("wecom_external_userid", "wx_m4", "M4"), ("wecom_external_userid", "wx_m6", "M6"),
    ("wecom_external_userid", "wx_m7", "M7"), ("mp_openid", "o_m7", "M7"),
    ("pos_card", "C8", "M8"), ("wecom_external_userid", "wx_m9", "M9"),
]
FOLLOWS = [("wx_m1", "s_li"), ("wx_m1", "s_wang"), ("wx_m2", "s_li"), ("wx_m4", "s_wang"),
           ("wx_m6", "s_li"), ("wx_m7", "s_li"), ("wx_m9", "s_li")]
MODELS = ["member_audience_spells"]


def _vars(as_of: date, **extra) -> dict:
    return {"as_of_date": str(as_of), "audiences": AUDIENCES, **extra}


def _create(wh: Path) -> None:
    con = duckdb.connect(str(wh))
    try:
        for schema in ("marts", "staging", "intermediate", "identity", "privacy"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute("CREATE TABLE intermediate.int_member_value__as_of (as_of_date DATE)")
        con.execute("CREATE TABLE marts.member_audiences (member_id VARCHAR, audience_code "
                    "VARCHAR, audience_name VARCHAR, as_of_date DATE)")
        con.execute("CREATE TABLE marts.dim_member (member_id VARCHAR)")
        con.executemany("INSERT INTO marts.dim_member VALUES (?)", [(m,) for m in MEMBERS])
        con.execute("CREATE TABLE marts.member_id_merges (old_member_id VARCHAR, member_id "
                    "VARCHAR, merged_at DATE, reason VARCHAR)")
        con.execute("CREATE TABLE marts.fct_orders (member_id VARCHAR, ordered_at TIMESTAMP, "
                    "paid_at TIMESTAMP, paid_amount DECIMAL(18,2), net_amount DECIMAL(18,2))")
        con.execute("CREATE TABLE identity.member_id_assignments (id_type VARCHAR, "
                    "id_value VARCHAR, member_id VARCHAR)")
        con.executemany("INSERT INTO identity.member_id_assignments VALUES (?, ?, ?)", ASSIGNMENTS)
        con.execute("CREATE TABLE staging.stg_wecom__follow_users (external_userid VARCHAR, "
                    "staff_userid VARCHAR)")
        con.executemany("INSERT INTO staging.stg_wecom__follow_users VALUES (?, ?)", FOLLOWS)
        con.execute("CREATE TABLE intermediate.int_identity__deleted_wecom_contacts "
                    "(external_userid VARCHAR, deleted_at TIMESTAMP)")
        con.execute("INSERT INTO intermediate.int_identity__deleted_wecom_contacts "
                    "VALUES ('wx_m9', TIMESTAMP '2024-06-09 10:00:00')")
    finally:
        con.close()
    with connect(wh) as con:  # the suppression list, salted like siyu forget does it
        salt = _salt(con)
        con.execute("INSERT INTO privacy.suppressed_identifiers VALUES (?, 'pos_card', 'r', "
                    "TIMESTAMP '2024-06-01 00:00:00')", [salted(salt, "C8")])


def _set_night(wh: Path, day: date, drop: tuple[str, ...] = ()) -> None:
    with connect(wh) as con:
        con.execute("DELETE FROM intermediate.int_member_value__as_of")
        con.execute("INSERT INTO intermediate.int_member_value__as_of VALUES (?)", [day])
        con.execute("DELETE FROM marts.member_audiences")
        rows = [(m, a, a.upper(), day) for a, ms in NIGHTS[day].items() for m in ms
                if m not in drop]
        if rows:
            con.executemany("INSERT INTO marts.member_audiences VALUES (?, ?, ?, ?)", rows)
        if day == date(2024, 6, 12):  # OneID: M6 is one person with M4 and retired
            con.execute("DELETE FROM marts.dim_member WHERE member_id = 'M6'")
            con.execute("DELETE FROM marts.member_id_merges")
            con.execute("INSERT INTO marts.member_id_merges VALUES "
                        "('M6', 'M4', DATE '2024-06-12', 'shared_identifier')")
            con.execute("UPDATE identity.member_id_assignments SET member_id = 'M4' "
                        "WHERE member_id = 'M6'")


def _night(tmp: Path, wh: Path, day: date, out: Path, drop: tuple[str, ...] = ()) -> None:
    _set_night(wh, day, drop)
    proc = _dbt(tmp, wh, "build", MODELS, _vars(day))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    with connect(wh, read_only=True) as con:
        write_outboxes(con, out, audiences=AUDIENCES)


def _spells(wh: Path) -> list[tuple]:
    with connect(wh, read_only=True) as con:
        return con.execute("""SELECT audience_code, member_id, spell_number, entered_on::VARCHAR,
                                     left_on::VARCHAR, arm FROM marts.member_audience_spells
                              ORDER BY 1, 2, 3""").fetchall()


def _files(day_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(day_dir.iterdir())}


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("activation")
    wh = tmp / "warehouse.duckdb"
    out = tmp / "outbox"
    _create(wh)
    days = sorted(NIGHTS)
    snapshots = {}
    for day in days:
        _night(tmp, wh, day, out)
        snapshots[day] = _spells(wh)
    files = {day: _files(out / day.isoformat()) for day in days}
    return tmp, wh, out, snapshots, files


def test_python_arm_equals_the_sql_rule(nights):
    """The documented rule computed in Python equals the arms dbt stored (and the values the
    module docstring lists)."""
    _, wh, *_ = nights
    for aud, member, _n, _e, _l, arm in _spells(wh):
        share = {"aud_a": 0.2, "aud_b": 0.0}[aud]
        source = "M6" if (aud, member) == ("aud_a", "M4") else member  # M4's spell is M6's
        assert arm == ("holdout" if arm_unit(source, aud, SALT) < share else "treated")
    assert round(arm_unit("M5", "aud_a", SALT), 4) == 0.1862


def test_spells_over_three_nights(nights):
    _, _, _, snapshots, _ = nights
    assert snapshots[date(2024, 6, 10)] == [
        ("aud_a", m, 1, "2024-06-10", None, "treated") for m in ("M1", "M2", "M3", "M6", "M7", "M8")
    ] + [("aud_b", "M1", 1, "2024-06-10", None, "treated")]
    assert snapshots[date(2024, 6, 12)] == [
        ("aud_a", "M1", 1, "2024-06-10", None, "treated"),
        ("aud_a", "M2", 1, "2024-06-10", "2024-06-11", "treated"),   # left on night 2
        ("aud_a", "M2", 2, "2024-06-12", None, "treated"),           # back on night 3
        ("aud_a", "M3", 1, "2024-06-10", "2024-06-12", "treated"),
        # M6's spell (entered 06-10) follows its survivor M4 and absorbs M4's own (06-11)
        ("aud_a", "M4", 1, "2024-06-10", None, "treated"),
        ("aud_a", "M5", 1, "2024-06-12", None, "holdout"),           # 0.1862 < 0.2
        ("aud_a", "M7", 1, "2024-06-10", None, "treated"),
        ("aud_a", "M8", 1, "2024-06-10", None, "treated"),
        ("aud_a", "M9", 1, "2024-06-11", None, "treated"),
        ("aud_b", "M1", 1, "2024-06-10", "2024-06-11", "treated"),
        ("aud_b", "M1", 2, "2024-06-12", None, "treated"),
    ]


def test_mark_tag_and_coupon_files_byte_for_byte(nights):
    _, _, out, _, files = nights
    n1, n2, n3 = (files[d] for d in sorted(files))
    # night 1: aud_a adds M1 (two followers), M2, M6, M7; M3 has no contact (unreachable),
    # M8 is suppressed; lines sorted by action, external_userid, staff
    assert n1["aud_a.wecom_mark_tag.jsonl"] == (
        b'{"userid":"s_li","external_userid":"wx_m1","add_tag":["etA"]}\n'
        b'{"userid":"s_wang","external_userid":"wx_m1","add_tag":["etA"]}\n'
        b'{"userid":"s_li","external_userid":"wx_m2","add_tag":["etA"]}\n'
        b'{"userid":"s_li","external_userid":"wx_m6","add_tag":["etA"]}\n'
        b'{"userid":"s_li","external_userid":"wx_m7","add_tag":["etA"]}\n')
    assert n1["aud_a.coupon.csv"] == (
        b"member_id,openid,audience_code,coupon_template,entered_on\n"
        b"M1,o_m1_a,aud_a,CPN_A,2024-06-10\nM2,,aud_a,CPN_A,2024-06-10\n"
        b"M3,,aud_a,CPN_A,2024-06-10\nM6,,aud_a,CPN_A,2024-06-10\n"
        b"M7,o_m7,aud_a,CPN_A,2024-06-10\n")
    assert n1["aud_b.wecom_mark_tag.jsonl"] == (
        b'{"userid":"s_li","external_userid":"wx_m1","add_tag":["etB"]}\n'
        b'{"userid":"s_wang","external_userid":"wx_m1","add_tag":["etB"]}\n')
    # night 2: the delta only — M4 and M9 enter (M9's contact is deleted: unreachable), M2
    # leaves; M1 leaves aud_b
    assert n2["aud_a.wecom_mark_tag.jsonl"] == (
        b'{"userid":"s_wang","external_userid":"wx_m4","add_tag":["etA"]}\n'
        b'{"userid":"s_li","external_userid":"wx_m2","remove_tag":["etA"]}\n')
    assert n2["aud_a.coupon.csv"] == (
        b"member_id,openid,audience_code,coupon_template,entered_on\n"
        b"M4,,aud_a,CPN_A,2024-06-11\nM9,,aud_a,CPN_A,2024-06-11\n")
    assert n2["aud_b.wecom_mark_tag.jsonl"] == (
        b'{"userid":"s_li","external_userid":"wx_m1","remove_tag":["etB"]}\n'
        b'{"userid":"s_wang","external_userid":"wx_m1","remove_tag":["etB"]}\n')
    # night 3: M2 re-enters; M5 enters held out (absent); M3 leaves but has no contact
    assert n3["aud_a.wecom_mark_tag.jsonl"] == (
        b'{"userid":"s_li","external_userid":"wx_m2","add_tag":["etA"]}\n')
    assert n3["aud_a.coupon.csv"] == (
        b"member_id,openid,audience_code,coupon_template,entered_on\n"
        b"M2,,aud_a,CPN_A,2024-06-12\n")
    manifest = json.loads(n2["_manifest.json"])
    a_tag = next(t for t in manifest["targets"] if t["file"] == "aud_a.wecom_mark_tag.jsonl")
    assert (a_tag["requests"], a_tag["members_added"], a_tag["members_removed"],
            a_tag["unreachable_members"]) == (2, 2, 1, 1)
    assert json.loads(n1["_manifest.json"])["excluded_suppressed_or_erased"] == 1  # M8
    assert manifest["sent"] is False
    # owner-only folder and files, no temporary file left behind
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(out / "2024-06-11").st_mode) == 0o700
    for p in (out / "2024-06-11").iterdir():
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
        assert not p.name.startswith(".")


def test_rerun_of_a_night_is_identical(nights):
    """Re-running night 3 (dbt increment + outbox) rewrites the same spells and the same bytes;
    the arms do not move."""
    tmp, wh, out, snapshots, files = nights
    _night(tmp, wh, date(2024, 6, 12), out)
    assert _spells(wh) == snapshots[date(2024, 6, 12)]
    assert _files(out / "2024-06-12") == files[date(2024, 6, 12)]


def test_forgotten_member_is_gone(nights):
    """siyu forget: M7's spells go with every other member-keyed mart row; the outbox scrub
    removes M7's mark_tag body and coupon row from night 1's files; a re-run of night 3
    (M7 no longer in the lists) writes no M7 and leaves the other spells as they were."""
    tmp, wh, out, snapshots, files = nights
    with connect(wh) as con:
        ids = [r[0] for r in con.execute("SELECT id_value FROM identity.member_id_assignments "
                                         "WHERE member_id = 'M7'").fetchall()]
        result = forget(con, member_id="M7")
    assert result.members == 1
    assert erase_from_outboxes(out, result.member_ids, ids) == 2
    _night(tmp, wh, date(2024, 6, 12), out, drop=("M7",))
    assert _spells(wh) == [s for s in snapshots[date(2024, 6, 12)] if s[1] != "M7"]
    for day_dir in out.iterdir():
        for p in day_dir.iterdir():
            text = p.read_text(encoding="utf-8")
            assert "M7" not in text and "wx_m7" not in text and "o_m7" not in text
    n1 = _files(out / "2024-06-10")
    assert n1["aud_a.wecom_mark_tag.jsonl"] == files[date(2024, 6, 10)][
        "aud_a.wecom_mark_tag.jsonl"].replace(
        b'{"userid":"s_li","external_userid":"wx_m7","add_tag":["etA"]}\n', b"")


def test_a_target_removed_from_config_loses_its_file(nights, tmp_path):
    tmp, wh, out, *_ = nights
    with connect(wh, read_only=True) as con:
        result = write_outboxes(con, out, date(2024, 6, 12), audiences=AUDIENCES[:1])
    assert result.removed_files == ["aud_b.wecom_mark_tag.jsonl"]
    assert not (out / "2024-06-12" / "aud_b.wecom_mark_tag.jsonl").exists()

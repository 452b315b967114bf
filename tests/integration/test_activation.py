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
from pipelines.lib.platform.warehouse import connect
from pipelines.lib.privacy.forget import _salt, forget, outbox_identifiers, salted
from tests.dbt import dbt_ok

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
    dbt_ok("build", "--select", *MODELS, warehouse=wh, workdir=tmp, dbt_vars=_vars(day))
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
        ids = outbox_identifiers(con, member_id="M7")  # what siyu forget reads first
        assert ids == ["o_m7", "wx_m7"]
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


def test_a_target_removed_from_config_loses_its_file(nights):
    _, wh, out, *_ = nights
    with connect(wh, read_only=True) as con:
        result = write_outboxes(con, out, date(2024, 6, 12), audiences=AUDIENCES[:1])
    assert result.removed_files == ["aud_b.wecom_mark_tag.jsonl"]
    assert not (out / "2024-06-12" / "aud_b.wecom_mark_tag.jsonl").exists()


def test_a_night_with_nobody_in_any_audience_writes_its_empty_outbox(tmp_path):
    """An empty history (a first night with every list empty; likewise after `siyu forget`
    erased an audience's only members) is an ordinary night: its day comes from the
    member-value as-of day, every target's file is written empty and the night succeeds
    (the Dagster asset failed here before: `member_audience_spells is empty`)."""
    wh, out = tmp_path / "warehouse.duckdb", tmp_path / "outbox"
    _create(wh)
    _night(tmp_path, wh, date(2024, 6, 10), out, drop=tuple(MEMBERS))
    assert _spells(wh) == []
    files = _files(out / "2024-06-10")
    assert files["aud_a.wecom_mark_tag.jsonl"] == b"" == files["aud_b.wecom_mark_tag.jsonl"]
    assert files["aud_a.coupon.csv"] == b"member_id,openid,audience_code,coupon_template,entered_on\n"
    manifest = json.loads(files["_manifest.json"])
    assert manifest["sent"] is False
    assert [t["requests"] for t in manifest["targets"]] == [0, 0, 0]


# --- audience_lift on hand-made spells and orders -------------------------------------------
#
# aud_x, cohort week Monday 2024-06-03, window 14 days (entry + 1 .. entry + 14), as of
# 2024-07-01 (06-03 + 6 + 14 = 06-23 <= 07-01: the week's windows are closed), min arm 3.
#   treated T1 in 06-03: 06-03 100 (entry day: not counted), 06-10 50       → bought, 50
#           T2 in 06-05: 06-19 80 (05 + 14 = 19: the last day counts)       → bought, 80
#           T3 in 06-09: 06-24 30 (after 09 + 14 = 23)                      → no, 0
#   holdout H1 in 06-03: 06-17 paid 60, 20 refunded (net 40; 03 + 14 = 17) → bought, 40
#           H2 in 06-04, H3 in 06-06: nothing                               → no, 0
# conversion: 2/3 − 1/3 = 1/3; se = sqrt((2/3·1/3)/3 + (1/3·2/3)/3) = sqrt(4/27) = 0.384900
#   → 1/3 ± 1.959964 × 0.384900 = 1/3 ± 0.754391 = [−0.421057, 1.087724]
# GMV: treated 50, 80, 0 (mean 43.3333, variance (6.6667² + 36.6667² + 43.3333²)/2 = 1633.33);
#   holdout 40, 0, 0 (mean 13.3333, variance (26.6667² + 2 × 13.3333²)/2 = 533.333)
#   diff 30; se² = 1633.33/3 + 533.333/3 = 722.222 (se 26.8742); Welch df = 722.222² /
#   (544.444²/2 + 177.778²/2) = 521604.9 / 164012.3 = 3.18028
# aud_y, same week: 3 treated, 2 holdout → not_enough_members; aud_z entered 06-24 (week
# 06-24 + 20 = 07-14 > 07-01) → window_open.
# aud_w, same week: treated W1 W2 W3 each buy 100 on 06-10, holdout W4 W5 W6 nothing →
#   conversion 1 − 0 = 1, se sqrt(1·0/3 + 0·1/3) = 0 → [1, 1]; GMV 100 − 0, both variances 0
#   (30000 − 300²/3 = 0), no Welch df → z · 0 → [100, 100]: both intervals above 0.
# aud_v: the same members with the arms swapped → −1 [−1, −1] and −100 [−100, −100].
#
# bi.audience_lift over these rows (var audiences: aud_x 复购券, aud_y 召回, aud_w 提醒,
# aud_v 反例; aud_z is no longer configured → its code, sorted last at 5):
#   window_closes_on = cohort week + 6 + 14: 06-03 → 06-23, 06-24 → 07-14;
#   aud_x ok, conversion [−0.42, 1.09] and GMV 30 ± t(3.18) · 26.87 ≈ [−55, 115] contain 0 →
#     无显著差异 / 无显著差异; aud_w 显著提升 twice; aud_v 显著下降 twice;
#   aud_y 样本不足 (3 and 2 against 3), aud_z 观察期未结束 (until 07-14).
LIFT_SPELLS = [
    ("T1", "aud_x", "2024-06-03", "treated"), ("T2", "aud_x", "2024-06-05", "treated"),
    ("T3", "aud_x", "2024-06-09", "treated"), ("H1", "aud_x", "2024-06-03", "holdout"),
    ("H2", "aud_x", "2024-06-04", "holdout"), ("H3", "aud_x", "2024-06-06", "holdout"),
    ("T1", "aud_y", "2024-06-03", "treated"), ("T2", "aud_y", "2024-06-03", "treated"),
    ("T3", "aud_y", "2024-06-03", "treated"), ("H1", "aud_y", "2024-06-03", "holdout"),
    ("H2", "aud_y", "2024-06-03", "holdout"), ("T1", "aud_z", "2024-06-24", "treated"),
    *[(m, "aud_w", "2024-06-03", arm) for m, arm in (
        ("W1", "treated"), ("W2", "treated"), ("W3", "treated"),
        ("W4", "holdout"), ("W5", "holdout"), ("W6", "holdout"))],
    *[(m, "aud_v", "2024-06-03", arm) for m, arm in (
        ("W1", "holdout"), ("W2", "holdout"), ("W3", "holdout"),
        ("W4", "treated"), ("W5", "treated"), ("W6", "treated"))],
]
LIFT_ORDERS = [("T1", "2024-06-03", 100, 100), ("T1", "2024-06-10", 50, 50),
               ("T2", "2024-06-19", 80, 80), ("T3", "2024-06-24", 30, 30),
               ("H1", "2024-06-17", 60, 40), ("W1", "2024-06-10", 100, 100),
               ("W2", "2024-06-10", 100, 100), ("W3", "2024-06-10", 100, 100)]
LIFT_AUDIENCES = [
    {"code": code, "name": name, "rules": [{"field": "city", "op": "eq", "value": code}]}
    for code, name in (("aud_x", "复购券 repurchase coupon"), ("aud_y", "召回 winback"),
                       ("aud_w", "提醒 reminder"), ("aud_v", "反例 counter-example"))]


def _t_quantile(df: float, z: float = 1.959964) -> float:
    """macros/activation.sql's Cornish-Fisher expansion, term for term."""
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def test_t_quantile_expansion_is_close_to_student_t():
    from scipy.stats import t

    for df in (3.18, 5, 10, 30, 200):
        assert abs(_t_quantile(df) - t.ppf(0.975, df)) / t.ppf(0.975, df) < (0.01 if df < 5 else 0.002)


@pytest.fixture(scope="module")
def lift(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lift")
    wh = tmp / "warehouse.duckdb"
    _create(wh)
    with connect(wh) as con:
        con.execute("INSERT INTO intermediate.int_member_value__as_of VALUES (DATE '2024-07-01')")
        con.execute("CREATE TABLE marts.member_audience_spells (member_id VARCHAR, audience_code "
                    "VARCHAR, entered_on DATE, arm VARCHAR)")
        con.executemany("INSERT INTO marts.member_audience_spells VALUES (?, ?, ?, ?)", LIFT_SPELLS)
        con.executemany("INSERT INTO marts.fct_orders VALUES (?, ?::TIMESTAMP, ?::TIMESTAMP + "
                        "INTERVAL 10 HOUR, ?, ?)", [(m, d, d, p, n) for m, d, p, n in LIFT_ORDERS])
    dbt_ok("build", "--select", "audience_lift", "bi_audience_lift", warehouse=wh, workdir=tmp,
           dbt_vars={**_vars(date(2024, 7, 1), activation={
               "arm_salt": SALT, "default_holdout_share": 0.1, "lift_window_days": 14,
               "lift_min_members_per_arm": 3, "lift_z": 1.959964}),
               "audiences": LIFT_AUDIENCES})

    def rows(relation: str) -> dict[str, dict]:
        cols = [c[0] for c in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in
                con.execute(f"SELECT * FROM {relation} ORDER BY 1").fetchall()}

    with connect(wh, read_only=True) as con:
        return {**rows("marts.audience_lift"), "bi": rows("bi.audience_lift")}


def test_lift_by_hand(lift):
    x = lift["aud_x"]
    assert (x["cohort_week"], x["treated_members"], x["holdout_members"], x["status"]) == (
        date(2024, 6, 3), 3, 3, "ok")
    assert x["treated_conversion"] == pytest.approx(2 / 3)
    assert x["holdout_conversion"] == pytest.approx(1 / 3)
    assert x["conversion_diff"] == pytest.approx(1 / 3)
    assert (x["conversion_diff_ci_low"], x["conversion_diff_ci_high"]) == (
        pytest.approx(-0.421057, abs=1e-6), pytest.approx(1.087724, abs=1e-6))
    assert (x["treated_gmv_per_member"], x["holdout_gmv_per_member"], x["gmv_diff"]) == (
        pytest.approx(43.333333), pytest.approx(13.333333), pytest.approx(30.0))
    assert x["gmv_welch_df"] == pytest.approx(3.18028, abs=1e-5)
    half = _t_quantile(3.180279) * 26.874192
    assert (x["gmv_diff_ci_low"], x["gmv_diff_ci_high"]) == (
        pytest.approx(30 - half, abs=1e-4), pytest.approx(30 + half, abs=1e-4))


def test_lift_refuses_small_arms_and_open_windows(lift):
    y, z = lift["aud_y"], lift["aud_z"]
    assert (y["treated_members"], y["holdout_members"], y["status"]) == (3, 2, "not_enough_members")
    assert (z["cohort_week"], z["treated_members"], z["status"]) == (date(2024, 6, 24), 1, "window_open")
    for row in (y, z):
        assert row["conversion_diff"] is None and row["gmv_diff_ci_low"] is None


def test_lift_clear_effects_either_way(lift):
    w, v = lift["aud_w"], lift["aud_v"]
    assert (w["status"], w["conversion_diff"], w["conversion_diff_ci_low"], w["conversion_diff_ci_high"],
            w["gmv_diff"], w["gmv_diff_ci_low"], w["gmv_diff_ci_high"]) == (
        "ok", 1.0, 1.0, 1.0, 100.0, 100.0, 100.0)
    assert (v["conversion_diff"], v["conversion_diff_ci_low"], v["gmv_diff_ci_high"]) == (
        -1.0, -1.0, -100.0)


def test_bi_view_labels_and_explains_the_status(lift):
    """bi.audience_lift: the Chinese label and order from var audiences, the verdict of each
    interval and why a row is or is not readable (hand-computed above the LIFT_SPELLS)."""
    bi = lift["bi"]
    assert set(bi) == {"aud_x", "aud_y", "aud_z", "aud_w", "aud_v"}
    got = {code: (r["audience_label"], r["audience_order"], r["window_closes_on"], r["status_name"],
                  r["conversion_verdict_name"], r["gmv_verdict_name"], r["status_note"])
           for code, r in bi.items()}
    assert got == {
        "aud_x": ("复购券", 1, date(2024, 6, 23), "可解读", "无显著差异", "无显著差异",
                  "观察期已于 2024-06-23 结束，两组均不少于 3 人"),
        "aud_y": ("召回", 2, date(2024, 6, 23), "样本不足", None, None,
                  "样本不足：实验组 3 人、对照组 2 人，每组至少需 3 人"),
        "aud_w": ("提醒", 3, date(2024, 6, 23), "可解读", "显著提升", "显著提升",
                  "观察期已于 2024-06-23 结束，两组均不少于 3 人"),
        "aud_v": ("反例", 4, date(2024, 6, 23), "可解读", "显著下降", "显著下降",
                  "观察期已于 2024-06-23 结束，两组均不少于 3 人"),
        "aud_z": ("aud_z", 5, date(2024, 7, 14), "观察期未结束", None, None,
                  "观察期未结束：本周入组会员的 14 天观察期到 2024-07-14 才全部结束，之前不看转化与 GMV"),
    }
    # the numbers are the mart's, untouched
    for code, row in bi.items():
        for col in ("treated_members", "holdout_members", "conversion_diff", "conversion_diff_ci_low",
                    "conversion_diff_ci_high", "gmv_diff", "gmv_diff_ci_low", "gmv_diff_ci_high",
                    "treated_conversion", "holdout_gmv_per_member", "status", "as_of_date"):
            assert row[col] == lift[code][col], (code, col)

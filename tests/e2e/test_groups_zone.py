"""WeCom customer groups (issue 23) end to end on a hand-written zone: three groups over ten
days (tests/fixtures/groups.py tells the story) through `siyu run`. Every spell, daily count,
conversion, layer and zombie flag below is worked out by hand from the rules in
docs/groups.md (var groups defaults: zombie 30 days, layers over 90 days, core top 20,
conversion within 7 / 30 days); the as-of day is 2024-06-10.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from pipelines.lib.platform.warehouse import connect
from tests.e2e.runs import siyu
from tests.fixtures.groups import NAMES, write_groups_zone

pytestmark = pytest.mark.slow
T = dt.datetime.fromisoformat
D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("groups")
    zone = write_groups_zone(tmp / "zone")
    warehouse = tmp / "wh" / "siyu.duckdb"
    run = siyu("run", data_dir=zone, warehouse=warehouse, home=tmp / "home")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    return warehouse


def rows(wh, sql: str) -> list[tuple]:
    with connect(wh, read_only=True) as con:
        return con.execute(sql).fetchall()


def who(wh) -> dict[str, str]:
    """member_id → the person's external_userid (or openid) — member ids are minted."""
    out: dict[str, str] = {}
    for member_id, id_type, value in rows(wh, "select member_id, id_type, id_value "
                                              "from marts.member_identities order by 2 desc"):
        if id_type in ("wecom_external_userid", "mp_openid"):
            out.setdefault(member_id, value)
    return out


def test_ingestion_quarantines_the_broken_line_without_names(wh):
    got = rows(wh, "select source_file, source_line, reason, raw_record from quarantine.rejected_rows")
    assert [(f, line, r) for f, line, r, _ in got] == [
        ("landing/wecom/group_chats/dt=2024-06-02/groups.jsonl", 2,
         "group_chat.member_list[1].type: not 1 (staff member) or 2 (external contact) '9'")]
    record = json.loads(got[0][3])["group_chat"]
    assert record["member_list"][0]["name"] == record["member_list"][0]["group_nickname"] \
        == record["name"] == "[name]"
    assert "13800138000" not in got[0][3]  # the notice's phone, redacted like everywhere


def test_no_member_name_anywhere(wh):
    with connect(wh, read_only=True) as con:
        cols = con.execute("select table_schema, table_name, column_name from "
                           "information_schema.columns where data_type = 'VARCHAR'").fetchall()
        for schema, table, column in cols:
            for name in NAMES:
                n = con.execute(f'select count(*) from "{schema}"."{table}" '
                                f'where contains("{column}", ?)', [name]).fetchall()[0][0]
                assert n == 0, (schema, table, column, name)


def test_staging(wh):
    # 06-06 was delivered twice: the later file's list (with C) is the day's list
    assert rows(wh, "select userid from staging.stg_wecom__group_chat_members "
                    "where chat_id = 'wrG1' and snapshot_dt = '2024-06-06' order by position") == [
        ("staff1",), ("wmA",), ("wmB",), ("wmL",), ("wmC",)]
    # 17 callback lines (4 + 3 + 1 + 2 + 3 + 1 + 2 + 1 over the eight days delivered), 2 of
    # them repeats (C's join twice on 06-02; E's removal again on 06-04): 15 events
    assert rows(wh, "select count(*) from raw.wecom__group_events") == [(17,)]
    assert rows(wh, "select count(*) from staging.stg_wecom__group_events") == [(15,)]
    assert rows(wh, "select count(*), count(distinct event_id) from "
                    "staging.stg_wecom__group_event_members where userid = 'wmC'") == [(3, 3)]


def test_group_members_are_members_staff_never(wh):
    ids = rows(wh, "select member_id, id_type, id_value from marts.member_identities")
    by_value = {v: m for m, _, v in ids}
    assert not {v for _, _, v in ids} & {"staff1", "staff2"}
    # group-only members without a unionid still get a member id
    assert {"wmC", "wmE", "wmG"} <= set(by_value)
    # a group member's unionid links it to the mini-program user (B, F, H, L are no contacts)
    for ext, openid in (("wmB", "oB"), ("wmF", "oF"), ("wmH", "oH"), ("wmL", "oL")):
        assert by_value[ext] == by_value[openid]
    assert len({by_value[x] for x in ("wmA", "wmB", "wmC", "wmD", "wmE", "wmF", "wmG", "wmH",
                                       "wmI", "wmK", "wmL", "oJ")}) == 12


def test_spells(wh):
    names = who(wh)
    got = {(names[m], c, j): rest for m, c, j, *rest in rows(wh, """
        select member_id, chat_id, joined_at, left_at, join_scene, quit_scene, left_at_exact,
               is_current, spell_source, invited_by_member_id
        from marts.member_group_spells""")}
    by = {v: k for k, v in names.items()}
    assert got == {
        # G1: A and B from the lists (exact join_time; their join callbacks are the same joins)
        ("wmA", "wrG1", T("2024-06-01 09:00")): [None, "invited_directly", None, False, True, "member_list", None],
        ("wmB", "wrG1", T("2024-06-02 10:00")): [None, "qr_code", None, False, True, "member_list", None],
        # C listed on 06-02 only; the leave callback (06-04 15:00, delivered on 06-05) is after
        # the end of 06-02 and before the re-join: exact; invited by A (join_scene 2, by link)
        ("wmC", "wrG1", T("2024-06-02 11:00")): [T("2024-06-04 15:00"), "invited_by_link", "left", True, False, "member_list", by["wmA"]],
        ("wmC", "wrG1", T("2024-06-06 09:00")): [None, "qr_code", None, False, True, "member_list", None],
        ("wmL", "wrG1", T("2024-06-04 09:00")): [None, "qr_code", None, False, True, "member_list", None],
        # I: only callbacks saw it (join 11:00, leave 11:30, the leave first in the file)
        ("wmI", "wrG1", T("2024-06-08 11:00")): [T("2024-06-08 11:30"), "invited_by_member", "left", True, False, "callbacks", None],
        # G2: D gone from the 06-07 list, no callback: the day is known, not the time; the
        # dismissal on 06-09 is after D left, so it is not D's leave
        ("wmD", "wrG2", T("2024-06-01 10:00")): [T("2024-06-07 00:00"), "qr_code", "unknown", False, False, "member_list", None],
        # E removed by the owner (QuitScene 1), the callback delivered twice
        ("wmE", "wrG2", T("2024-06-01 11:00")): [T("2024-06-03 20:00"), "invited_directly", "removed", True, False, "member_list", None],
        # H: the callback (10:00:00) is 30 s before the list's join_time: one join, the
        # list's time; still in the group when it was dismissed
        ("wmH", "wrG2", T("2024-06-05 10:00:30")): [T("2024-06-09 12:00"), "invited_by_link", "group_dismissed", True, False, "member_list", None],
        # G3: the zombie group's two customers, in since April
        ("wmF", "wrG3", T("2024-04-01 10:00")): [None, "invited_directly", None, False, True, "member_list", None],
        ("wmG", "wrG3", T("2024-04-02 12:00")): [None, "qr_code", None, False, True, "member_list", None],
    }


DAILY_COLUMNS = ("members", "joins", "leaves", "buying_members", "orders", "gmv", "joiners",
                 "converted_short", "conversion_rate_short", "converted_long",
                 "conversion_rate_long")


def test_group_daily(wh):
    got = {(c, d): r for c, d, *r in rows(wh, f"""
        select chat_id, day, {', '.join(DAILY_COLUMNS)} from marts.group_daily""")}
    Y = Decimal
    # conversion within 7 days is known for days up to 06-03 (d + 7 <= 06-10), within 30
    # days for none of June; null before (and the rate null without joiners)
    assert [got[("wrG1", D(f"2024-06-{d:02d}"))] for d in range(1, 11)] == [
        # end-of-day members; A joined; A bought on 06-03 14:00, within 7 days: 1 / 1
        [1, 1, 0, 0, 0, Y("0.00"), 1, 1, 1.0, None, None],
        # B and C joined; B bought 06-05 16:00 (< 06-09 10:00), C never: 1 / 2
        [3, 2, 0, 0, 0, Y("0.00"), 2, 1, 0.5, None, None],
        # A's 200 yuan while in G1; nobody joined (0 converted, rate null)
        [3, 0, 0, 1, 1, Y("200.00"), 0, 0, None, None, None],
        # L joined 09:00, C left 15:00: A, B, L
        [3, 1, 1, 0, 0, Y("0.00"), 1, None, None, None, None],
        # B's 100 yuan
        [3, 0, 0, 1, 1, Y("100.00"), 0, None, None, None, None],
        # C re-joined: A, B, L, C
        [4, 1, 0, 0, 0, Y("0.00"), 1, None, None, None, None],
        [4, 0, 0, 0, 0, Y("0.00"), 0, None, None, None, None],
        # I joined and left within the day: counted in joins and leaves, not at the day's end
        [4, 1, 1, 0, 0, Y("0.00"), 1, None, None, None, None],
        [4, 0, 0, 0, 0, Y("0.00"), 0, None, None, None, None],
        [4, 0, 0, 0, 0, Y("0.00"), 0, None, None, None, None],
    ]
    assert [got[("wrG2", D(f"2024-06-{d:02d}"))] for d in range(1, 10)] == [
        # D and E joined; D bought 06-08 10:00 = exactly 7 days after 06-01 10:00, outside
        # [joined, joined + 7 days); E never: 0 / 2
        [2, 2, 0, 0, 0, Y("0.00"), 2, 0, 0.0, None, None],
        [2, 0, 0, 0, 0, Y("0.00"), 0, 0, None, None, None],
        # E removed 20:00
        [1, 0, 1, 0, 0, Y("0.00"), 0, 0, None, None, None],
        [1, 0, 0, 0, 0, Y("0.00"), 0, None, None, None, None],
        # H joined
        [2, 1, 0, 0, 0, Y("0.00"), 1, None, None, None, None],
        # H's 80 yuan
        [2, 0, 0, 1, 1, Y("80.00"), 0, None, None, None, None],
        # D left (absent from the 06-07 list)
        [1, 0, 1, 0, 0, Y("0.00"), 0, None, None, None, None],
        # D's 300 yuan on 06-08 is a purchase out of the group: not counted
        [1, 0, 0, 0, 0, Y("0.00"), 0, None, None, None, None],
        # dismissed 06-09 12:00: H's spell ends, the group has no later day
        [0, 0, 1, 0, 0, Y("0.00"), 0, None, None, None, None],
    ]
    assert ("wrG2", D("2024-06-10")) not in got
    # G3 from its creation (2024-04-01) to the as-of day: 30 + 31 + 10 days
    g3 = {d: r for (c, d), r in got.items() if c == "wrG3"}
    assert len(g3) == 71 and min(g3) == D("2024-04-01")
    # F joined 04-01 10:00 and bought 04-15 12:00: not within 7 days, within 30: 0/1, 1/1
    assert g3[D("2024-04-01")] == [1, 1, 0, 0, 0, Y("0.00"), 1, 0, 0.0, 1, 1.0]
    assert g3[D("2024-04-02")] == [2, 1, 0, 0, 0, Y("0.00"), 1, 0, 0.0, 0, 0.0]
    assert g3[D("2024-04-15")] == [2, 0, 0, 1, 1, Y("300.00"), 0, 0, None, 0, None]
    # J's 50 yuan (06-04) is in no group's row
    assert sum(r[5] for r in got.values()) == Y("680.00")  # 200 + 100 + 80 + 300


def test_layers(wh):
    names = who(wh)
    got = {(names[m], c): r for m, c, *r in rows(wh, """
        select member_id, chat_id, layer, layer_name, purchase_rank, net_amount_window,
               orders_window, invites_window, events_window from marts.group_member_layers""")}
    Y = Decimal
    assert got == {
        # G1's current members; 90-day window 2024-03-13 .. 06-10
        ("wmA", "wrG1"): ["core", "核心", 1, Y("200.00"), 1, 1, 0],  # invited C on 06-02
        ("wmB", "wrG1"): ["core", "核心", 2, Y("100.00"), 1, 0, 0],
        ("wmL", "wrG1"): ["influence", "影响", None, Y("0.00"), 0, 0, 1],  # a favourite 06-09
        ("wmC", "wrG1"): ["periphery", "外围", None, Y("0.00"), 0, 0, 0],
        # G2 is dismissed: nobody is in it
        ("wmF", "wrG3"): ["core", "核心", 1, Y("300.00"), 1, 0, 0],  # 04-15 is in the window
        ("wmG", "wrG3"): ["periphery", "外围", None, Y("0.00"), 0, 0, 0],
    }


def test_group_chats(wh):
    got = {c: r for c, *r in rows(wh, """
        select chat_id, owner_userid, store_id, status, dismissed_at, current_size,
               current_customers, customers_ever, joins_zombie_window,
               member_orders_zombie_window, member_gmv_zombie_window, last_member_purchase_date,
               core_members, influence_members, periphery_members, last_delivered_dt
        from marts.group_chats""")}
    Y = Decimal
    assert got == {
        # store: both of staff1's contacts scanned store_S01; the last list (06-08) holds
        # staff1, A, B, L, C; 6 joins since 05-12 (A, B, C, L, C again, I), 2 purchases
        "wrG1": ["staff1", "S01", "active", None, 5, 4, 5, 6, 2, Y("300.00"), D("2024-06-05"),
                 2, 1, 1, D("2024-06-08")],
        "wrG2": ["staff2", "S02", "dismissed", T("2024-06-09 12:00"), 0, 0, 3, 3, 1,
                 Y("80.00"), D("2024-06-06"), 0, 0, 0, D("2024-06-07")],
        # no join and no member purchase in 30 days (05-12 .. 06-10): a zombie
        "wrG3": ["staff1", "S01", "zombie", None, 3, 2, 2, 0, 0, Y("0.00"), D("2024-04-15"),
                 1, 0, 1, D("2024-06-01")],
    }


def test_member_profile_and_the_zombie_audience(wh):
    names = who(wh)
    got = {names[m]: r for m, *r in rows(wh, """
        select member_id, in_any_group, groups_count, best_group_layer, zombie_groups_as_core
        from marts.member_profile""")}
    assert got["wmA"] == [True, 1, "core", 0]
    assert got["wmL"] == [True, 1, "influence", 0]
    assert got["wmC"] == [True, 1, "periphery", 0]
    assert got["wmF"] == [True, 1, "core", 1]  # core of the zombie group G3
    for gone in ("wmD", "wmE", "wmH", "wmI", "wmK", "oJ"):  # left, removed, dismissed, never
        assert got[gone] == [False, 0, None, 0], gone
    audience = rows(wh, "select member_id from marts.member_audiences "
                        "where audience_code = 'zombie_group_core_members'")
    assert [names[m] for (m,) in audience] == ["wmF"]
    tags = dict(rows(wh, "select t.tag, t.value from marts.member_tags t join "
                         "marts.member_identities i using (member_id) where i.id_value = 'wmL'"))
    assert (tags["in_any_group"], tags["groups_count"], tags["best_group_layer"]) == \
        ("true", "1", "influence")


def test_forget_erases_a_group_member_everywhere(wh, tmp_path):
    """`siyu forget` on a copy of the warehouse. A, who invited C into G1: C's spell stays,
    its invited_by_member_id blanked. Then C (a group-only member: left G1 and came back): no
    row of any group table names C's external_userid or member id any more; the groups
    themselves and their daily aggregates stay."""
    import shutil

    copy = tmp_path / "wh" / "siyu.duckdb"
    shutil.copytree(wh.parent, copy.parent)
    ids = dict(rows(copy, "select id_value, member_id from marts.member_identities "
                          "where id_value in ('wmA', 'wmC')"))

    def forget(identifier: str) -> None:
        run = siyu("forget", "--identifier", identifier, data_dir=tmp_path / "zone",
                   warehouse=copy, home=tmp_path / "home")
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    forget("wecom_external_userid:wmA")
    assert rows(copy, "select invited_by_member_id from marts.member_group_spells "
                      f"where member_id = '{ids['wmC']}' and joined_at = '2024-06-02 11:00'") == [(None,)]
    assert rows(copy, "select count(*) from marts.member_group_spells "
                      f"where member_id = '{ids['wmA']}'") == [(0,)]
    forget("wecom_external_userid:wmC")
    member_id = ids["wmC"]
    with connect(copy, read_only=True) as con:
        tables = con.execute("select table_schema, table_name, column_name from "
                             "information_schema.columns where data_type = 'VARCHAR' and "
                             "table_schema in ('raw', 'staging', 'intermediate', 'marts') and "
                             "(table_name like '%group%')").fetchall()
        assert len({t for _, t, _ in tables}) >= 12
        for schema, table, column in tables:
            n = con.execute(f'select count(*) from "{schema}"."{table}" where "{column}" in (?, ?)',
                            ["wmC", member_id]).fetchall()[0][0]
            assert n == 0, (schema, table, column)
    assert rows(copy, "select count(*) from marts.group_chats") == [(3,)]
    # G1's spells without A's and C's two: B, L, I
    assert rows(copy, "select count(*) from marts.member_group_spells where chat_id = 'wrG1'") == [(3,)]

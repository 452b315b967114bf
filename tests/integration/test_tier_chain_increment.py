"""The tier chain (growth balance → tier days → tier spells → member_tier_history / member_tiers)
is incremental by member (macros/member_increments.sql): a night recomputes only the members
whose inputs changed, and what it stores equals a full rebuild.

On the hand-made member-value fixture: a build as of 2024-04-15, then a "night" as of 2024-06-15
that crosses two review days (05-01, 06-01), B's points expiring (05-09), K's expiry falling
due inside the 30-day look-ahead, new members and orders, a refund, and a OneID merge (J's
order moves to H, J disappears). The generated zone's nights cross none of the review days
or expiries (90 days, a 365-day window), so this is where they are pinned.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.lib.platform.warehouse import connect
from tests.fixtures.member_value.fixture import AS_OF, write_member_value_inputs
from tests.integration.test_member_value_marts import MODELS, _dbt, _project_vars, d

BEFORE = "2024-04-15"
CHAIN = ["int_member_value__growth_balance", "int_member_value__tier_days",
         "int_member_value__tier_spells", "member_tier_history", "member_tiers"]
UPSTREAM = ["int_member_value__as_of", "int_member_value__orders", "int_member_value__activity",
            "member_growth_ledger"]
TABLES = {"int_member_value__growth_balance": "intermediate", "int_member_value__tier_days": "intermediate",
          "int_member_value__tier_spells": "intermediate", "member_tier_history": "marts",
          "member_tiers": "marts"}


def _build(tmp: Path, wh: Path, select: list[str], as_of: str, *, full_refresh: bool = False,
           extra_vars: dict | None = None, command: str = "build") -> None:
    """`command` "run" where only the rows matter (the data tests ran on that build's input or
    run in the night being compared), to keep dbt invocations short."""
    proc = _dbt(tmp, wh, command, select, {"as_of_date": as_of, **(extra_vars or {})},
                ("--full-refresh",) if full_refresh else ())
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def _rows(wh: Path) -> dict[str, list[tuple]]:
    with connect(wh, read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {s}.{t}").fetchall(), key=repr)
                for t, s in TABLES.items()}


def _night(tmp: Path, wh: Path, extra_vars: dict | None = None) -> None:
    """The upstream as of the new day rebuilt (the ledger refuses a back-dated increment),
    then the chain as an increment."""
    _build(tmp, wh, UPSTREAM, str(AS_OF), full_refresh=True, extra_vars=extra_vars, command="run")
    _build(tmp, wh, CHAIN, str(AS_OF), extra_vars=extra_vars)
    ran = (tmp / "target" / "run" / "siyu" / "models" / "intermediate" / "member_value"
           / "int_member_value__tier_days.sql").read_text()
    assert "delete from" in ran and "__dbt_tmp" in ran  # delete+insert: the increment


@pytest.fixture(scope="module")
def built_before(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tier_chain")
    wh = write_member_value_inputs(tmp / "warehouse.duckdb")
    with connect(wh) as con:
        # P: two equal orders and nothing else, before both days
        con.execute("INSERT INTO marts.dim_member VALUES ('P', TIMESTAMP '2024-01-20 09:00:00', "
                    "'pos', 'unknown', NULL, NULL)")
        for key, day in (("pos:P1", "2024-02-01"), ("pos:P2", "2024-03-01")):
            con.execute(f"INSERT INTO marts.fct_orders VALUES ('{key}', 'pos', 'P', "
                        f"TIMESTAMP '{day} 10:00:00', TIMESTAMP '{day} 10:00:00', 100, 0, 100, 0, "
                        "100, NULL)")
    _build(tmp, wh, MODELS, BEFORE)
    with connect(wh) as con:
        # the merge: J's order now belongs to H, and J is gone
        con.execute("UPDATE marts.fct_orders SET member_id = 'H' WHERE member_id = 'J'")
        con.execute("DELETE FROM marts.dim_member WHERE member_id = 'J'")
    return wh


@pytest.fixture()
def warehouse(built_before: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(built_before, tmp_path / "warehouse.duckdb"))


def test_a_night_recomputes_only_changed_members_and_equals_a_rebuild(warehouse, tmp_path):
    with connect(warehouse) as con:
        # G's only points (800, 2023-06-01) expire on 2024-05-31, between the two days:
        # projected since the first build, so G's inputs do not change and G must not be
        # recomputed. A marker on G's stored 2023-06-01 row (which the marts do not read: they
        # take the newest row up to the as-of day) shows whether it was.
        assert con.execute("SELECT growth_value FROM intermediate.int_member_value__growth_balance "
                           "WHERE member_id = 'G' ORDER BY change_date").fetchall() == [(0,), (800,), (0,)]
        con.execute("UPDATE intermediate.int_member_value__growth_balance SET growth_value = 7 "
                    "WHERE member_id = 'G' AND change_date = DATE '2023-06-01'")
        # the same one level down (the spells read is_review_day only to name a fall, and G,
        # 800 points at most, never leaves the regular tier)
        con.execute("UPDATE intermediate.int_member_value__tier_days SET is_review_day = true "
                    "WHERE member_id = 'G'")
        before = {m for (m,) in con.execute(
            "SELECT DISTINCT member_id FROM intermediate.int_member_value__tier_spells").fetchall()}
    assert "J" in before and "E" not in before

    _night(tmp_path, warehouse)

    with connect(warehouse) as con:
        assert con.execute("SELECT growth_value FROM intermediate.int_member_value__growth_balance "
                           "WHERE member_id = 'G' AND change_date = DATE '2023-06-01'"
                           ).fetchall() == [(7,)]
        con.execute("UPDATE intermediate.int_member_value__growth_balance SET growth_value = 800 "
                    "WHERE member_id = 'G' AND change_date = DATE '2023-06-01'")
        assert con.execute("SELECT bool_and(is_review_day) FROM intermediate.int_member_value__tier_days "
                           "WHERE member_id = 'G'").fetchall() == [(True,)]
        con.execute("UPDATE intermediate.int_member_value__tier_days SET is_review_day = false "
                    "WHERE member_id = 'G'")
        for table, schema in TABLES.items():  # the post-hooks dropped the merged-away member
            assert con.execute(f"SELECT count(*) FROM {schema}.{table} WHERE member_id = 'J'"
                               ).fetchall() == [(0,)], table
        # H got J's 700 yuan of 03-01 (7000 points, in the window until 2025-03-01): gold
        assert con.execute("SELECT tier_code, tier_since FROM marts.member_tiers "
                           "WHERE member_id = 'H'").fetchall() == [("gold", AS_OF.replace(month=3, day=1))]
    night = _rows(warehouse)

    _build(tmp_path, warehouse, CHAIN, str(AS_OF), full_refresh=True, command="run")
    assert _rows(warehouse) == night


SILVER_AT_1500 = {"tiers": [{**t, "min_growth_value": 1500} if t["tier_code"] == "silver" else t
                            for t in _project_vars()["tiers"]]}


@pytest.mark.parametrize("rule", [SILVER_AT_1500, {"points_per_yuan": 20},
                                  {"refund_reverses_upgrade": False}],
                         ids=["threshold", "points", "refund_rule"])
def test_a_changed_rule_recomputes_the_members_it_changes(warehouse, tmp_path, rule):
    """A threshold is part of every fingerprint (the model's signature); points per yuan
    reach it through the ledger rows, where a member's equal orders (P: two of 100 yuan) both
    change the same way and must not cancel out; refund_reverses_upgrade is part of the tier
    days' signature (the growth balance does not read it). Either way the increment must give
    what a rebuild with the new rule gives, which differs from the old one's."""
    _night(tmp_path, warehouse, rule)
    night = _rows(warehouse)

    _build(tmp_path, warehouse, CHAIN, str(AS_OF), full_refresh=True, extra_vars=rule,
           command="run")
    assert _rows(warehouse) == night
    with connect(warehouse, read_only=True) as con:
        if "refund_reverses_upgrade" in rule:
            # A's inputs did not change since the first build, yet A is recomputed: the refund
            # of 03-20 no longer drops A at once, gold lasts until the 04-01 review
            assert con.execute("SELECT valid_from, change_reason FROM marts.member_tier_history "
                               "WHERE member_id = 'A' AND spell_number = 4").fetchall() == [
                (d("2024-04-01"), "downgrade")]
            return
        # and the rule did change the history: A (200 yuan on 01-10) is silver from that day,
        # not from 02-20 as with 3000 points and 10 per yuan
        assert con.execute("SELECT min(valid_from) FROM marts.member_tier_history WHERE "
                           "member_id = 'A' AND tier_code = 'silver'").fetchall() == [(d("2024-01-10"),)]


def test_a_warehouse_built_before_the_fingerprints_upgrades_on_its_next_night(warehouse, tmp_path):
    """Tables of the chain written by an older Siyu have no inputs_fingerprint column: the
    next night adds it and recomputes everyone, instead of failing on the missing column."""
    with connect(warehouse) as con:
        for table in ("int_member_value__growth_balance", "int_member_value__tier_days",
                      "int_member_value__tier_spells"):
            con.execute(f"ALTER TABLE intermediate.{table} DROP COLUMN inputs_fingerprint")
    _night(tmp_path, warehouse)
    night = _rows(warehouse)

    _build(tmp_path, warehouse, CHAIN, str(AS_OF), full_refresh=True, command="run")
    assert _rows(warehouse) == night

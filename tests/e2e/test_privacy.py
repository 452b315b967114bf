"""Personal data: erasure that survives the next night, and scans of every VARCHAR column.

One hand-made zone, one `siyu run`, `siyu forget --mobile …` for the person behind card C001
(Tmall OU1, mini-program o1, unionid u1, WeCom wm1), then the nightly run again over the same
landing files (which still contain the person).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.lib.platform.warehouse import connect
from tests.conftest import copy_built
from tests.e2e.runs import siyu
from tests.fixtures.handmade import (
    MP_USERS,
    POS_MEMBERS,
    TMALL_ORDERS,
    WECOM_CONTACTS,
    all_plaintext_mobiles,
)

pytestmark = pytest.mark.slow

PERSON_MOBILE = "+86 138-0013-8001"
PERSON_TOKENS = {"C001", "OU1", "o1", "u1", "wm1", "tb_nick1", "tb_nick3", "138****8001"}
PERSON_TEXT = {"张三", "小张"}
#: column names that are direct identifiers and must never appear in a `bi` view
IDENTIFYING_COLUMNS = re.compile(
    r"(name|nick|birthday|birth|mobile|phone|remark|openid|unionid|ouid|card|external_userid|"
    r"id_value|order_key|source_order_id|order_id|order_no)", re.I)
#: Chinese labels of codes in the `bi` views (tiers, segments, stages, channels, audiences,
#: the lift's status and verdicts):
#: named *_name like the marts' columns, never a person's name (their values are scanned below)
LABEL_COLUMNS = {"tier_name", "qualified_tier_name", "next_tier_name", "from_tier_name",
                 "segment_name", "lifecycle_stage_name", "aipl_stage_name", "change_reason_name",
                 "channel_name", "acquisition_channel_name", "gender_name", "city_name",
                 "factor_name", "audience_name", "status_name", "conversion_verdict_name",
                 "gmv_verdict_name",
                 # WeCom customer groups: 活跃群/僵尸群/已解散, 核心/影响/外围
                 "layer_name"}
TOTALS = ("SELECT count(*), sum(paid_amount), sum(net_amount), sum(refund_amount) "
          "FROM marts.fct_orders")


def _landing_names() -> set[str]:
    names = {line.split(",")[2] for line in POS_MEMBERS.strip().splitlines()[1:] if line.count(",") >= 2}
    names |= {u["nickname"] for u in MP_USERS}
    names |= {c["external_contact"]["name"] for c in WECOM_CONTACTS}
    names |= {line.split(",")[1] for line in TMALL_ORDERS.strip().splitlines()[1:]}
    return {n for n in names if len(n) >= 2}


def _varchar_values(wh: Path, schemas: tuple[str, ...] | None = None):
    """(where, value) for every non-null VARCHAR value of every table and view."""
    with connect(wh, read_only=True) as con:
        cols = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                           "WHERE data_type = 'VARCHAR' ORDER BY ALL").fetchall()
        for schema, table, column in cols:
            if schemas and schema not in schemas:
                continue
            for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}" '
                                    f'WHERE "{column}" IS NOT NULL').fetchall():
                yield f"{schema}.{table}.{column}", v


def _person_hits(wh: Path, member_id: str, mobile_hash: str) -> list[tuple[str, str]]:
    tokens = PERSON_TOKENS | {member_id, mobile_hash}
    hits = []
    for where, v in _varchar_values(wh):
        parts = set(re.split(r"[^0-9A-Za-z_*]+", v))
        if parts & tokens or any(t in v for t in PERSON_TEXT):
            hits.append((where, v))
    return hits


@pytest.fixture(scope="module")
def erased(tmp_path_factory, built) -> dict:
    from pipelines.lib.privacy.phones import hash_mobile, normalize_mobile

    copy = copy_built(built, tmp_path_factory.mktemp("privacy"))  # a hand-made run of our own
    zone, wh, home = copy.zone, copy.warehouse, copy.dagster_home
    with connect(wh, read_only=True) as con:
        totals = con.execute(TOTALS).fetchall()
        member_id = con.execute("SELECT member_id FROM marts.member_identities "
                                "WHERE id_type = 'pos_card' AND id_value = 'C001'").fetchall()[0][0]
    mobile_hash = hash_mobile(normalize_mobile(PERSON_MOBILE))
    before = _person_hits(wh, member_id, mobile_hash)
    forget = siyu("forget", "--mobile", PERSON_MOBILE, data_dir=zone, warehouse=wh, home=home)
    return {"zone": zone, "wh": wh, "home": home, "totals": totals, "member_id": member_id,
            "mobile_hash": mobile_hash, "before": before, "forget": forget}


def test_forget_erases_everywhere_and_keeps_totals(erased):
    proc, wh = erased["forget"], erased["wh"]
    assert erased["before"], "the scan must find the person before erasure"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["members_erased"] == 1 and out["identifiers_suppressed"] >= 6
    assert "13800138001" not in proc.stdout and "C001" not in proc.stdout
    assert _person_hits(wh, erased["member_id"], erased["mobile_hash"]) == []
    with connect(wh, read_only=True) as con:
        assert con.execute(TOTALS).fetchall() == erased["totals"]
        guests = con.execute("SELECT count(*) FROM marts.fct_orders WHERE member_id IS NULL AND "
                             "order_key IN ('pos:P1', 'tmall:3912345678901234', 'miniprogram:W1')"
                             ).fetchall()[0][0]
        assert guests == 3
        audit = con.execute("SELECT selector_kind, members_erased, rows_deleted, rows_anonymised, "
                            "quarantine_redacted FROM privacy.erasure_requests").fetchall()
        assert audit == [("mobile", 1, 9, 5, 4)]
        # quarantine keeps the row (reconciliation) without the record
        assert con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchall()[0][0] == 9


def test_erased_person_stays_out_after_the_next_nightly_run(erased):
    wh = erased["wh"]
    proc = siyu("run", data_dir=erased["zone"], warehouse=wh, home=erased["home"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _person_hits(wh, erased["member_id"], erased["mobile_hash"]) == []
    with connect(wh, read_only=True) as con:
        assert con.execute(TOTALS).fetchall() == erased["totals"]
        # nobody else was erased: the other members are still resolved
        assert con.execute("SELECT count(*) FROM marts.member_identities "
                           "WHERE id_value IN ('C002', 'C004', 'OU2', 'o2', 'wm2')").fetchall()[0][0] == 5


def test_no_plaintext_mobile_in_any_varchar_column(erased):
    numbers = all_plaintext_mobiles()
    for where, v in _varchar_values(erased["wh"]):
        digits = re.sub(r"[^0-9]", "", v.translate(str.maketrans("０１２３４５６７８９", "0123456789")))
        if re.fullmatch(r"[0-9a-f]{64}", v) or re.fullmatch(r"[0-9]{16,}", digits):
            continue  # hashes and long order numbers
        assert not any(n in digits for n in numbers), (where, v)


def test_bi_views_have_no_identifying_columns_and_no_landing_names(erased):
    wh = erased["wh"]
    with connect(wh, read_only=True) as con:
        views = con.execute("SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'bi'").fetchall()
        cols = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_schema = 'bi'").fetchall()
    assert {v for (v,) in views} >= {"members", "orders", "member_ltv", "ltv_cohorts",
                                     "member_tiers", "tier_history", "member_rfm",
                                     "member_lifecycle", "gmv_drivers", "gmv_contributions",
                                     "member_audiences", "audience_sizes", "audience_lift"}
    assert [c for c in cols
            if IDENTIFYING_COLUMNS.search(c[1]) and c[1] not in LABEL_COLUMNS] == []
    names = _landing_names()
    assert {"张三", "李四", "小张", "tb_nick2"} <= names
    for where, v in _varchar_values(wh, ("bi",)):
        assert not any(n in v for n in names), (where, v)

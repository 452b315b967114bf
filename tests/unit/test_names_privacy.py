"""Customers' names at the door (issue 21): the keyed hash (field kind `name`), its key, the
quarantine text without names, and the one-time migration of warehouses and lakes that an
older version filled with clear names."""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lib.ingest.loader import load_entity, validate_batch
from pipelines.lib.ingest.readers import read_csv
from pipelines.lib.ingest.sinks import MIGRATED_MARKER, DuckDBSink, ParquetSink
from pipelines.lib.ingest.specs import SPECS_BY_NAME
from pipelines.lib.platform.warehouse import connect
from pipelines.lib.privacy import keys, names
from pipelines.lib.privacy.phones import BLANKS
from tests.conftest import NAME_KEY

DAY = date(2024, 5, 1)
AT = datetime(2024, 1, 1)
POS_HEADER = "member_card_no,mobile,name,gender,birthday,store_id,registered_at\n"
OTHER_KEY = "another-key-0123456789abcdef0123456789abcdef"


def _sha(key: str, name: str) -> str:
    return hashlib.sha256(f"{key}\x1f{name}".encode()).hexdigest()


def _put(root: Path, rel: str, text: str, encoding: str = "utf-8") -> Path:
    p = root / "landing" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text.encode(encoding))
    return p


def _pos_hashes(tmp_path: Path, rows: list[str], key: str | None) -> list:
    path = _put(tmp_path, f"pos/members/dt={DAY}/m.csv", POS_HEADER + "".join(rows))
    spec = SPECS_BY_NAME["pos__members"]
    pf = read_csv(path, spec.encoding, spec.required_sources(), spec.known_sources())
    v = validate_batch(spec, [(pf, "m.csv", DAY)], key)
    assert v.rejected.num_rows == 0
    assert "name" not in v.accepted.column_names
    return v.accepted.column("name_hash").to_pylist()


# ------------------------------------------------------------------ the kind `name`

def test_same_name_same_hash_trimmed_and_empty_is_null(tmp_path):
    rows = ["C1,,张伟,F,,S01,2024-05-01 10:00:00\n",
            'C2,,"  张伟\u3000",F,,S01,2024-05-01 10:00:00\n',  # spaces, ideographic space
            'C3,,"\ufeff张伟\t",F,,S01,2024-05-01 10:00:00\n',  # BOM, tab
            "C4,,李娜,F,,S01,2024-05-01 10:00:00\n",
            'C5,," ",F,,S01,2024-05-01 10:00:00\n',
            "C6,,,F,,S01,2024-05-01 10:00:00\n"]
    got = _pos_hashes(tmp_path, rows, NAME_KEY)
    # sha256(key + U+001F + trimmed name), by hand with hashlib
    assert got == [_sha(NAME_KEY, "张伟")] * 3 + [_sha(NAME_KEY, "李娜"), None, None]
    assert got[0] != got[3]
    # the reference implementation agrees
    assert [names.name_hash(NAME_KEY, n, BLANKS) for n in ("  张伟\u3000", "李娜", " ")] == \
        [got[1], got[3], None]


def test_another_key_gives_other_hashes(tmp_path):
    rows = ["C1,,张伟,F,,S01,2024-05-01 10:00:00\n", "C2,,李娜,F,,S01,2024-05-01 10:00:00\n"]
    a = _pos_hashes(tmp_path / "a", rows, NAME_KEY)
    b = _pos_hashes(tmp_path / "b", rows, OTHER_KEY)
    assert a[0] != b[0] and a[1] != b[1]
    assert b == [_sha(OTHER_KEY, "张伟"), _sha(OTHER_KEY, "李娜")]


def test_without_a_key_a_name_stops_the_batch_with_a_clear_error(tmp_path):
    with pytest.raises(duckdb.Error, match=r"no name key.*SIYU_NAME_KEY"):
        _pos_hashes(tmp_path, ["C1,,张伟,F,,S01,2024-05-01 10:00:00\n"], None)


def test_the_key_is_a_bound_variable_not_statement_text(tmp_path, monkeypatch):
    seen: list[str] = []
    real = duckdb.DuckDBPyConnection.execute

    class Spy:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            seen.append(sql)
            return real(self.con, sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    connect_ = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: Spy(connect_(*a, **k)))
    assert _pos_hashes(tmp_path, ["C1,,张伟,F,,S01,2024-05-01 10:00:00\n"], NAME_KEY)[0]
    assert any("SET VARIABLE siyu_name_key = ?" in s for s in seen)
    assert not any(NAME_KEY in s for s in seen)


# ------------------------------------------------------------------ the key

def test_key_file_created_once_private_and_reused(tmp_path):
    wh = tmp_path / "wh" / "siyu.duckdb"
    k1 = keys.name_key(wh, environ={})
    k2 = keys.name_key(wh, environ={})
    path = tmp_path / "wh" / "keys" / "name.key"
    assert k1 == k2 and len(k1) == 64 and int(k1, 16) >= 0
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["name.key"]  # no temporary left
    assert not wh.exists()  # beside the warehouse, never in it


def test_environment_key_wins_and_a_short_one_is_refused(tmp_path):
    wh = tmp_path / "siyu.duckdb"
    assert keys.name_key(wh, environ={"SIYU_NAME_KEY": OTHER_KEY}) == OTHER_KEY
    assert not (tmp_path / "keys").exists()
    with pytest.raises(keys.NameKeyError, match="SIYU_NAME_KEY has 6 characters") as e:
        keys.name_key(wh, environ={"SIYU_NAME_KEY": "secret"})
    assert "secret" not in str(e.value)


def test_processes_starting_together_share_one_key(tmp_path):
    # Run late in a pytest worker that earlier tests had changed, a `with Pool(...)` hung for
    # minutes twice: its exit *terminates* the idle workers with SIGTERM, which the worker
    # process had come to ignore (SigIgn in /proc; a spawned child inherits it), so one stayed
    # blocked on the task queue's lock. The pool is closed instead (each worker takes a stop
    # sentinel and exits), and spawned, not forked, from a process with threads. The workers
    # import only the keys module: `name_key` is pickled by reference.
    wh = tmp_path / "siyu.duckdb"
    pool = multiprocessing.get_context("spawn").Pool(4)
    try:
        got = pool.map(functools.partial(keys.name_key, environ={}), [wh] * 8)
    finally:
        pool.close()
        pool.join()
    assert len(set(got)) == 1 and got[0] == keys.name_key(wh, environ={})


# ------------------------------------------------------------------ quarantine text

def _load(tmp_path: Path, entity: str, rel: str, text: str, encoding: str = "utf-8"):
    _put(tmp_path, rel, text, encoding)
    con = duckdb.connect()
    r = load_entity(SPECS_BY_NAME[entity], tmp_path, None, DuckDBSink(con), AT, name_key=NAME_KEY)
    rows = con.execute("SELECT source_line, raw_record, reason FROM quarantine.rejected_rows "
                       "ORDER BY source_line").fetchall()
    return r, rows


def test_csv_quarantine_text_has_no_name(tmp_path):
    r, rows = _load(tmp_path, "pos__members", f"pos/members/dt={DAY}/m.csv", POS_HEADER
                    + "C1,13800138001,张伟,F,1985-13-40,S01,2024-05-01 10:00:00\n"  # bad date
                    + "C2,13800138002,李娜,F\n"  # cannot be split into the header's fields
                    + "C3,,,X,,S01,2024-05-01 10:00:00\n")  # bad gender, no name
    assert r.rejected == 3
    (l2, rec2, why2), (l3, rec3, why3), (l4, rec4, _) = rows
    assert (l2, l3, l4) == (2, 3, 4)
    assert json.loads(rec2)["name"] == "[name]" and "birthday" in why2
    assert json.loads(rec2)["member_card_no"] == "C1"
    assert rec3 is None and "malformed CSV row" in why3  # file and line say where it is
    assert json.loads(rec4)["name"] == ""  # nothing to hide
    assert not any("张伟" in str(x) or "李娜" in str(x) for row in rows for x in row)


def test_tmall_buyer_nick_is_redacted_though_not_read(tmp_path):
    header = ("订单编号,买家会员名,ouid,买家应付货款,买家实际支付金额,订单状态,订单创建时间,"
              "订单付款时间,收货人手机号,退款金额,店铺名称\n")
    r, rows = _load(tmp_path, "tmall__orders", f"tmall/orders/dt={DAY}/o.csv", header
                    + "3912345678901235,tb_zhangwei,,59.00,59.00,已发货,2024-05-01 08:00:00,,"
                    "138****8001,0.00,旗舰店\n", "gbk")
    assert r.rejected == 1 and not r.warnings  # a known column: no "extra column" warning
    rec = json.loads(rows[0][1])
    assert rec["买家会员名"] == "[name]" and rec["订单状态"] == "已发货"


def test_csv_parser_rejects_keep_their_text_where_no_name_can_be(tmp_path):
    header = ("order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
              "paid_amount,payment_method,order_type,original_order_id\n")
    _, rows = _load(tmp_path, "pos__orders", f"pos/orders/dt={DAY}/o.csv",
                    header + "P1,S01,C1,2024-05-01 10:00:00,1.00\n")
    assert rows[0][1] == "P1,S01,C1,2024-05-01 10:00:00,1.00"


def test_json_quarantine_text_has_no_name(tmp_path):
    contact = {"external_contact": {"external_userid": "wm1", "name": "张伟", "type": 3,
                                    "gender": 1},
               "follow_user": [{"userid": "s1", "remark": "张伟 老客户", "createtime": 1714528800,
                                "tags": [{"group_name": "等级", "tag_name": "VIP", "type": 1}],
                                "remark_mobiles": [], "add_way": 1, "state": ""}]}
    text = (json.dumps(contact, ensure_ascii=False) + "\n"
            + '{"external_contact": {"external_userid": "wm2", "name": "李娜"\n')  # cut short
    r, rows = _load(tmp_path, "wecom__external_contacts",
                    f"wecom/external_contacts/dt={DAY}/c.jsonl", text)
    assert r.rejected == 2
    rec = json.loads(rows[0][1])
    assert rec["external_contact"]["name"] == "[name]"
    assert rec["follow_user"][0]["remark"] == "[name]"
    assert rec["follow_user"][0]["tags"][0]["tag_name"] == "VIP"  # not a name key
    assert rec["external_contact"]["type"] == 3 and "external_contact.type" in rows[0][2]
    assert rows[1][1] is None and "malformed JSON line" in rows[1][2]
    assert not any("张伟" in str(x) or "李娜" in str(x) for row in rows for x in row)


def test_mini_program_nickname_in_quarantine(tmp_path):
    user = {"openid": "o1", "unionid": None, "phone_info": None, "nickname": "小\"张\"",
            "created_at": "yesterday"}
    _, rows = _load(tmp_path, "miniprogram__users", f"miniprogram/users/dt={DAY}/u.jsonl",
                    json.dumps(user, ensure_ascii=False) + "\n")
    assert json.loads(rows[0][1]) == {**user, "nickname": "[name]"}


def test_malformed_json_keeps_its_text_where_no_name_can_be(tmp_path):
    _, rows = _load(tmp_path, "miniprogram__orders", f"miniprogram/orders/dt={DAY}/o.jsonl",
                    '{"order_no": "W1", "openid"\n')
    assert rows[0][1] == '{"order_no": "W1", "openid"'


@pytest.mark.parametrize(("record", "want"), [
    ('{"name":"张\\"伟","tag_name":"VIP","x":{"remark": "a\\\\"}}',
     '{"name":"[name]","tag_name":"VIP","x":{"remark": "[name]"}}'),
    ('{"name":42,"remark":null,"nickname":true}',
     '{"name":"[name]","remark":null,"nickname":"[name]"}'),
    ('{"name":["张伟"]}', None),  # a name in an array cannot be cut out: no text at all
])
def test_name_keys_redacted_at_any_depth(record, want):
    sql = names.sql_redact_name_keys("r", ("name", "remark", "nickname"))
    assert duckdb.connect().execute(f"SELECT {sql} FROM (SELECT ? AS r)",
                                    [record]).fetchall()[0][0] == want


# ------------------------------------------------------------------ migration

#: a warehouse as the version before issue 21 left it: clear names in raw, staging and
#: quarantine (three cards, two of them one person typed twice, one a different person)
OLD_MEMBERS = [("C1", "张伟"), ("C2", "张伟"), ("C3", "李娜"), ("C4", None)]


def _old_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    for schema in ("raw", "staging", "quarantine"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute("CREATE TABLE raw.pos__members (member_card_no VARCHAR, mobile_sha256 VARCHAR, "
                "mobile_masked VARCHAR, mobile_status VARCHAR, name VARCHAR, gender VARCHAR, "
                "birthday DATE, store_id VARCHAR, registered_at TIMESTAMP, _source_file VARCHAR, "
                "_source_line BIGINT, _dt DATE, _ingested_at TIMESTAMP)")
    con.executemany("INSERT INTO raw.pos__members VALUES (?, NULL, NULL, 'empty', ?, 'F', NULL, "
                    "'S01', TIMESTAMP '2024-05-01 10:00:00', 'f', 1, DATE '2024-05-01', "
                    "TIMESTAMP '2024-05-01')", OLD_MEMBERS)
    con.execute("CREATE TABLE staging.stg_pos__members AS "
                "SELECT member_card_no, name AS member_name FROM raw.pos__members")
    con.execute("CREATE TABLE staging.stg_pos__orders AS SELECT 1 AS keep_me")
    con.execute("CREATE TABLE raw.wecom__external_contacts__follow_users "
                "(external_userid VARCHAR, userid VARCHAR, remark VARCHAR, _dt DATE)")
    con.execute("INSERT INTO raw.wecom__external_contacts__follow_users "
                "VALUES ('wm1', 's1', '张伟 老客户', DATE '2024-05-01')")
    con.execute("""CREATE TABLE quarantine.rejected_rows (channel VARCHAR, entity VARCHAR,
        source_file VARCHAR, source_line BIGINT, raw_record VARCHAR, reason VARCHAR, dt DATE,
        ingested_at TIMESTAMP)""")
    con.executemany(
        "INSERT INTO quarantine.rejected_rows VALUES (?, ?, 'f', ?, ?, 'r', DATE '2024-05-01', "
        "TIMESTAMP '2024-05-01')",
        [("pos", "members", 2, '{"member_card_no":"C9","name":"王芳","gender":"X"}'),
         ("pos", "members", 3, "C8,13800138008,王芳,F"),  # a line the parser could not split
         ("pos", "members", 4, "[erased on request]"),
         ("pos", "orders", 5, "P1,S01,C1,王芳"),  # another entity: untouched
         ("wecom", "external_contacts", 6,
          '{"external_contact":{"name":"王芳"},"follow_user":[{"remark":"王芳"}]}')])


def test_migration_turns_clear_names_into_hashes_with_the_same_equality(tmp_path):
    wh = tmp_path / "siyu.duckdb"
    with connect(wh) as con:
        _old_warehouse(con)
        sink = DuckDBSink(con)
        sink.prepare(SPECS_BY_NAME["pos__members"], NAME_KEY)
        sink.prepare(SPECS_BY_NAME["wecom__external_contacts"], NAME_KEY)
        cols = [c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
            "AND table_name = 'pos__members'").fetchall()]
        rows = dict(con.execute("SELECT member_card_no, name_hash FROM raw.pos__members").fetchall())
        follow = con.execute("SELECT * FROM raw.wecom__external_contacts__follow_users").fetchall()
        staging = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = 'staging'").fetchall()}
        quarantine = dict(con.execute("SELECT source_line, raw_record FROM "
                                      "quarantine.rejected_rows").fetchall())
    assert "name" not in cols and "name_hash" in cols
    # the same equality classes: C1 = C2 (张伟) ≠ C3 (李娜); C4 had no name
    assert rows == {"C1": _sha(NAME_KEY, "张伟"), "C2": _sha(NAME_KEY, "张伟"),
                    "C3": _sha(NAME_KEY, "李娜"), "C4": None}
    assert follow == [("wm1", "s1", date(2024, 5, 1))]  # remark dropped
    assert staging == {"stg_pos__orders"}  # stale name tables dropped; dbt rebuilds them
    assert json.loads(quarantine[2]) == {"member_card_no": "C9", "name": "[name]", "gender": "X"}
    assert quarantine[3] is None and quarantine[4] == "[erased on request]"
    assert quarantine[5] == "P1,S01,C1,王芳"  # pos/orders holds no names; not its migration
    assert json.loads(quarantine[6]) == {"external_contact": {"name": "[name]"},
                                         "follow_user": [{"remark": "[name]"}]}


def test_migrated_hashes_equal_what_ingestion_computes_and_loading_goes_on(tmp_path):
    wh = tmp_path / "siyu.duckdb"
    _put(tmp_path, "pos/members/dt=2024-05-02/m.csv",
         POS_HEADER + 'C5,,"  张伟 ",F,,S01,2024-05-02 10:00:00\n')
    with connect(wh) as con:
        _old_warehouse(con)
        load_entity(SPECS_BY_NAME["pos__members"], tmp_path, None, DuckDBSink(con), AT,
                    name_key=NAME_KEY)
        rows = dict(con.execute("SELECT member_card_no, name_hash FROM raw.pos__members").fetchall())
        again = DuckDBSink(con)
        again.prepare(SPECS_BY_NAME["pos__members"], None)  # migrated: no key needed, no change
    assert rows["C5"] == rows["C1"] == _sha(NAME_KEY, "张伟")


def test_parquet_lake_is_migrated_once(tmp_path):
    lake = tmp_path / "lake"
    raw = lake / "raw" / "pos__members" / "_dt=2024-05-01"
    raw.mkdir(parents=True)
    pq.write_table(pa.table({"member_card_no": ["C1", "C2", "C3"], "name": ["张伟", "张伟", "李娜"]}),
                   raw / "part-0.parquet")
    q = lake / "quarantine" / "rejected_rows" / "dt=2024-05-01"
    q.mkdir(parents=True)
    pq.write_table(pa.table({"raw_record": ['{"name":"王芳","gender":"X"}', "C8,1,王芳"]}),
                   q / "pos__members.parquet")
    pq.write_table(pa.table({"raw_record": ["P1,王芳"]}), q / "pos__orders.parquet")
    ParquetSink(lake).prepare(SPECS_BY_NAME["pos__members"], NAME_KEY)
    t = pq.read_table(raw / "part-0.parquet").to_pylist()
    assert t == [{"member_card_no": c, "name_hash": _sha(NAME_KEY, n)}
                 for c, n in (("C1", "张伟"), ("C2", "张伟"), ("C3", "李娜"))]
    assert pq.read_table(q / "pos__members.parquet").column("raw_record").to_pylist() == \
        ['{"name":"[name]","gender":"X"}', None]
    assert pq.read_table(q / "pos__orders.parquet").column("raw_record").to_pylist() == ["P1,王芳"]
    marker = lake / "raw" / "pos__members" / MIGRATED_MARKER
    assert marker.exists()
    before = os.stat(raw / "part-0.parquet").st_mtime_ns
    ParquetSink(lake).prepare(SPECS_BY_NAME["pos__members"], None)  # the marker: nothing read
    assert os.stat(raw / "part-0.parquet").st_mtime_ns == before

"""Customers' names stay out of the warehouse (issue 21): every text column of every table and
view, in every schema, is scanned for every name the landing zone holds.

Reuses the shared hand-made run (`built`, tests/conftest.py): no `siyu run` of its own. The
names are read from the landing files by hand (csv/json, not the ingestion code): POS `name`,
Tmall `买家会员名`, mini-program `nickname`, WeCom contact `name` and the staff's `remark` —
trimmed, at least 2 characters (a 1-character "name" such as `x` is found in any text).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.lib.platform.warehouse import connect
from pipelines.lib.privacy.keys import key_path
from pipelines.lib.privacy.phones import BLANKS

pytestmark = pytest.mark.slow

#: landing entity folder → (format, encoding, where the names are)
NAME_SOURCES = {
    "pos/members": ("csv", "utf-8-sig", ("name",)),
    "tmall/orders": ("csv", "gbk", ("买家会员名",)),
    "miniprogram/users": ("jsonl", "utf-8", ("nickname",)),
    "wecom/external_contacts": ("jsonl", "utf-8", ("external_contact.name", "follow_user[].remark")),
}


def _text(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode(encoding)


def _json_values(obj, path: str) -> list:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = obj.get(head[:-2]) if isinstance(obj, dict) else None
        return [v for it in (items or []) for v in _json_values(it, rest)]
    value = obj.get(head) if isinstance(obj, dict) else None
    return _json_values(value, rest) if rest else [value]


def landing_names(zone: Path) -> set[str]:
    """Every customer's name in the landing files (also on lines ingestion rejects)."""
    out: set[str] = set()
    for folder, (fmt, encoding, fields) in NAME_SOURCES.items():
        for path in sorted((zone / "landing" / folder).rglob("*")):
            if not path.is_file():
                continue
            text = _text(path, encoding)
            if fmt == "csv":
                rows = csv.DictReader(io.StringIO(text))
                values = [r.get(f) for r in rows for f in fields]
            else:
                values = []
                for line in text.splitlines():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    values += [v for f in fields for v in _json_values(obj, f)]
            out |= {v.strip(BLANKS) for v in values if isinstance(v, str)}
    return {n for n in out if len(n) >= 2}


def name_hits(warehouse: Path, names: set[str]) -> list[tuple[str, str]]:
    """(name, schema.table.column) for every name found inside any text value (VARCHAR, JSON,
    lists and structs of them, cast to text) of any table or view of the warehouse."""
    hits = []
    with connect(warehouse, read_only=True) as con:
        con.register("_names", pa.table({"n": sorted(names)}))
        cols = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() "
            "AND (data_type LIKE '%VARCHAR%' OR data_type LIKE '%JSON%') ORDER BY ALL").fetchall()
        for schema, table, column in cols:
            found = con.execute(
                f'SELECT DISTINCT n FROM _names, (SELECT DISTINCT CAST("{column}" AS VARCHAR) AS v '
                f'FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL) AS t '
                "WHERE contains(v, n) ORDER BY n").fetchall()
            hits += [(n, f"{schema}.{table}.{column}") for (n,) in found]
    return hits


@pytest.fixture(scope="module")
def names(built) -> set[str]:
    return landing_names(built.zone)


def test_the_landing_zone_holds_names(names):
    # tests/fixtures/handmade.py: POS, Tmall, mini-program, WeCom name and remark, and the
    # name on the POS line the parser cannot split (坏行)
    assert {"张三", "李四", "王五", "坏行", "tb_nick2", "小张", "张三 13800138001"} <= names


def test_no_landing_name_in_any_text_column(built, names):
    assert name_hits(built.warehouse, names) == []


def test_no_landing_name_in_any_file_the_run_wrote(built, names):
    # the warehouse file's bytes, dbt's target and logs, exports, the Dagster home (event log,
    # run metadata): UTF-8, and JSON-escaped as `\uXXXX`. Names of 4+ bytes: a 2-letter one
    # (`n2`) turns up by chance in binary files (Dagster's runs.db: "…overwritten2026…").
    forms = {n: {n.encode(), json.dumps(n)[1:-1].encode()} for n in names
             if len(n.encode()) >= 4}
    assert {"张三", "tb_nick2", "小张"} <= set(forms)
    files = [p for root in (built.warehouse.parent, built.dagster_home)
             for p in sorted(root.rglob("*")) if p.is_file()]
    assert built.warehouse in files and len(files) > 10
    hits = []
    for p in files:
        data = p.read_bytes()
        hits += [(n, str(p)) for n, fs in forms.items() if any(f in data for f in fs)]
    assert hits == []


def test_the_scan_finds_text_that_is_there(built):
    # the same scan finds delivered text that is not a customer's name (a store's name)
    assert ("南京西路店", "raw.reference__stores.store_name") in name_hits(built.warehouse,
                                                                          {"南京西路店"})


def test_names_leave_a_hash_and_placeholders(built):
    with connect(built.warehouse, read_only=True) as con:
        hashes = con.execute("SELECT member_card_no, name_hash FROM raw.pos__members "
                             "ORDER BY ALL").fetchall()
        records = con.execute("SELECT source_line, raw_record FROM quarantine.rejected_rows "
                              "WHERE entity = 'members' AND channel = 'pos' "
                              "ORDER BY source_line").fetchall()
    # accepted: C001 张三, C002 李四, C004 赵六 (a landline is an invalid mobile, not a reject)
    assert [c for c, _ in hashes] == ["C001", "C002", "C004"]
    assert all(len(h) == 64 and set(h) <= set("0123456789abcdef") for _, h in hashes)
    assert len({h for _, h in hashes}) == 3
    # rejected: line 4 C003 (birthday), 6 empty card, 8 C007 (timestamp) with `[name]`;
    # line 7 C006 cannot be split into fields: file, line and reason, no text
    assert [line for line, _ in records] == [4, 6, 7, 8]
    by_line = dict(records)
    assert by_line[7] is None
    for line in (4, 6, 8):
        assert json.loads(by_line[line])["name"] == "[name]"


def test_the_key_is_beside_the_warehouse_not_in_it(built):
    key_file = key_path(built.warehouse)
    key = key_file.read_text(encoding="ascii").strip()
    assert len(key) == 64 and key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700
    assert name_hits(built.warehouse, {key}) == []

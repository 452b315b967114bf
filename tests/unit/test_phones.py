"""Phone normalisation: every variant of the landing contract, in Python and in DuckDB SQL."""

import duckdb
import pytest

from pipelines.lib import phones

VALID_VARIANTS = [
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "138.0013.8000",
    "(138)00138000",
    "（138）0013 8000",
    "+86 138 0013 8000",
    "+8613800138000",
    "+86-138-0013-8000",
    "0086 13800138000",
    "008613800138000",
    "8613800138000",
    "86 138 0013 8000",
    "１３８００１３８０００",
    "＋８６ １３８ ００１３ ８０００",
    " 138\u30000013\u30008000 ",
]
INVALID = [
    "021-12345678",  # landline
    "1380013800",  # 10 digits
    "138001380001",  # 12 digits
    "12800138000",  # second digit 2
    "abc13800138000",
    "138****8000",  # masked
    "+1 415 555 0100",
    "861380013800",  # 86 + 10 digits
    "",
    None,
]


@pytest.mark.parametrize("raw", VALID_VARIANTS)
def test_valid_variants_normalise_to_one_number(raw):
    assert phones.normalize_mobile(raw) == "13800138000"
    assert phones.mobile_status(raw) == "valid"


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_values_are_not_mobiles(raw):
    assert phones.normalize_mobile(raw) is None
    assert phones.mobile_status(raw) in {"invalid", "empty", "masked"}


def test_status_distinguishes_empty_masked_invalid():
    assert phones.mobile_status("") == "empty"
    assert phones.mobile_status("  ") == "empty"
    assert phones.mobile_status("138****8000") == "masked"
    assert phones.mobile_status("021-12345678") == "invalid"


def test_hash_and_mask():
    h = phones.hash_mobile("13800138000")
    assert len(h) == 64 and h == h.lower()
    assert h == "a6942f9771d67f34034d2f1926988ed3fad3bf1b4e7cedb9a31f31398dea43bc"
    assert phones.mask_mobile("13800138000") == "138****8000"


def test_sql_matches_python_on_every_variant():
    con = duckdb.connect()
    values = [v for v in VALID_VARIANTS + INVALID]
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    norm = phones.sql_normalize_mobile("v")
    rows = con.execute(
        f"SELECT v, {norm}, {phones.sql_mobile_status('v')}, "
        f"{phones.sql_hash_mobile(norm)}, {phones.sql_mask_mobile(norm)} FROM t"
    ).fetchall()
    for v, n, status, h, m in rows:
        expected = phones.normalize_mobile(v)
        assert n == expected, v
        assert status == phones.mobile_status(v), v
        assert h == (phones.hash_mobile(expected) if expected else None)
        assert m == (phones.mask_mobile(expected) if expected else None)


def test_fullwidth_digits_survive_sql_where_regex_digit_class_would_not():
    con = duckdb.connect()
    # the trap: RE2's [0-9] / \d do not match full-width digits
    assert con.execute("SELECT regexp_replace('１３８', '[^0-9]', '', 'g')").fetchall()[0][0] == ""
    got = con.execute(f"SELECT {phones.sql_normalize_mobile(chr(39) + '１３８００１３８０００' + chr(39))}")
    assert got.fetchall()[0][0] == "13800138000"


@pytest.mark.parametrize(
    "text",
    [
        "call 13800138000 now",
        "张三 138-0013-8000",
        "+86 138 0013 8000",
        "１３８００１３８０００",
        "13800138000,13900139000",
        '{"mobile":"0086 13800138000"}',
    ],
)
def test_redaction_removes_every_mobile_from_free_text(text):
    con = duckdb.connect()
    sql_out = con.execute(f"SELECT {phones.sql_redact_mobiles('?')}", [text]).fetchall()[0][0]
    for out in (sql_out, phones.redact_mobiles(text)):
        digits_only = "".join(ch for ch in out if ch.isdigit())
        assert "13800138000" not in digits_only.replace("86", "", 1) or "[mobile]" in out
        assert phones.normalize_mobile(out) is None
        assert "[mobile]" in out


def test_redaction_keeps_long_order_ids():
    con = duckdb.connect()
    text = "order 3912345678901234 ok"
    assert con.execute(f"SELECT {phones.sql_redact_mobiles('?')}", [text]).fetchall()[0][0] == text
    assert phones.redact_mobiles(text) == text

"""Phone normalisation: every variant of the landing contract, in Python and in DuckDB SQL.

Issue 19: a no-break space (U+00A0, what Excel and web forms paste) inside a mobile made it
invalid, so the person split into two members; and the redaction patterns did not know tabs,
so a mobile the normaliser accepted could stay in plaintext in free text. Every separator of
`phones.SEPARATORS` is tested one by one here, in the normaliser and in the redaction, in
Python and in SQL. Random spellings are in test_phones_properties.py.
"""

import re
import unicodedata

import duckdb
import pytest

from pipelines.lib.privacy import phones

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
    # issue 19 and its relatives
    "138\u00a00013\u00a08000",
    "+86\u00a0138\u00a00013\u00a08000",
    "138\t0013\t8000",
    "\t13800138000\t",
    "138\r\n0013\n8000",
    "\ufeff13800138000",
    "\u202a+86 138 0013 8000\u202c",  # copied from a phone's contact card
    "\u2066138 0013 8000\u2069",
    "138\u200b0013\u200b8000",
    "138\u20600013\u20608000",
    "138\u202f0013\u202f8000",
    "[138]0013【8000】",
    "［138］０013－8000",
    "138\u20140013\u20148000",
    "138——0013——8000",  # Chinese IME: shift+minus
    "138·0013·8000",
    "138。0013。8000",
    "138・0013・8000",
    "＋８６\u00a0(138)\u2014００13\u30fb8000\ufeff",  # a mix
    "+ 86 138 0013 8000",
    "0 0 8 6 1 3 8 0 0 1 3 8 0 0 0",
    "1 38 0013 8000",
    "８６－１３８－００１３－８０００",
]
#: The two spellings of the bug report, with the number they must give.
BUG_19 = [("137\u00a01807\u00a07735", "13718077735"), ("132\u00a00887\u00a03399", "13208873399")]
INVALID = [
    "021-12345678",  # landline
    "021\u00a012345678",  # landline with NBSP
    "010\u20146123\u20144567",  # landline with em dashes
    "0755\u3000 8612 3456",  # landline, ideographic space
    "1380013800",  # 10 digits
    "138\u00a00013\u00a0800",  # 10 digits, NBSP
    "138001380001",  # 12 digits
    "138\u00a00013\u00a080001",  # 12 digits, NBSP
    "12800138000",  # second digit 2
    "abc13800138000",
    "138\u00a0OO13\u00a08000",  # letter O typed for zero
    "138\u00a00013\u00a08000 ext 12",
    "138/0013/8000",  # a slash separates two numbers, it is not a separator inside one
    "13800138000/13900139000",
    "13800138000,13900139000",
    "138~0013~8000",
    "+1 415 555 0100",
    "861380013800",  # 86 + 10 digits
    "86\u00a01380013800",
    "+0086 13800138000",  # + and 0086 together is neither form
    "86+13800138000",  # plus after the country code
    "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic digits: not typed here, not seen by RE2's [0-9]
    "-",
    "\u00a0-\u00a0",
]
MASKED = ["138****8000", "138\u00a0****\u00a08000", "138＊＊＊＊8000"]
EMPTY = ["", "  ", "\u00a0", "\u3000\t", "\r\n", "\ufeff", "\u200b\u00a0", None]


@pytest.mark.parametrize("raw", VALID_VARIANTS)
def test_valid_variants_normalise_to_one_number(raw):
    assert phones.normalize_mobile(raw) == "13800138000"
    assert phones.mobile_status(raw) == "valid"


@pytest.mark.parametrize(("raw", "number"), BUG_19)
def test_issue_19_no_break_spaces(raw, number):
    assert phones.normalize_mobile(raw) == number
    assert phones.mobile_status(raw) == "valid"


def _spellings_with(chars: str) -> list[str]:
    return [f"138{c}0013{c}8000" for c in chars] + [f"{c}13800138000{c}" for c in chars]


#: One spelling per separator character (between the groups, and around the number).
EACH_SEPARATOR = _spellings_with(phones.SEPARATORS) + [
    f"{o}138{c}0013 8000" for o, c in ("()", "（）", "[]", "【】", "［］")
]


@pytest.mark.parametrize("raw", EACH_SEPARATOR, ids=lambda r: f"U+{ord(r[3]):04X}")
def test_every_separator_is_dropped(raw):
    assert phones.normalize_mobile(raw) == "13800138000"
    assert phones.mobile_status(raw) == "valid"


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_values_are_not_mobiles(raw):
    assert phones.normalize_mobile(raw) is None
    assert phones.mobile_status(raw) == "invalid"


@pytest.mark.parametrize("raw", MASKED)
def test_masked_values_are_not_mobiles(raw):
    assert phones.normalize_mobile(raw) is None
    assert phones.mobile_status(raw) == "masked"


@pytest.mark.parametrize("raw", EMPTY)
def test_blank_values_are_empty_not_invalid(raw):
    assert phones.normalize_mobile(raw) is None
    assert phones.mobile_status(raw) == "empty"


def test_status_distinguishes_empty_masked_invalid():
    assert phones.mobile_status("") == "empty"
    assert phones.mobile_status("  ") == "empty"
    assert phones.mobile_status("138****8000") == "masked"
    assert phones.mobile_status("021-12345678") == "invalid"


def test_separator_set_covers_the_issue_and_every_unicode_space():
    every_space = {chr(c) for c in range(0x10000) if chr(c).isspace()}
    assert set(phones.SPACES) == every_space
    assert {unicodedata.category(c) for c in phones.INVISIBLES} == {"Cf"}
    asked = (
        "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u3000\t"
        "\u202f\u205f\u2060\ufeff\u180e\u200c\u200d\r\n"
        "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
        ".\uff0e\u3002\u00b7\u30fb"
        "()（）[]【】［］"
    )
    assert set(asked) <= set(phones.SEPARATORS)
    assert len(set(phones.SEPARATORS)) == len(phones.SEPARATORS)  # no duplicates
    kept = phones.ASCII_DIGITS + phones.FULLWIDTH_DIGITS + phones.PLUS_SIGNS + phones.MASK_CHARS
    assert not set(kept) & set(phones.SEPARATORS)
    assert not set("/,;、~～#") & set(phones.SEPARATORS)


def test_sql_and_python_patterns_are_rendered_from_the_one_set():
    """Every separator appears, as a code-point escape, in each SQL pattern and Python regex."""
    strip_sql = phones.sql_strip_separators("v")
    for c in phones.SEPARATORS:
        assert f"\\x{{{ord(c):04x}}}" in strip_sql
        assert f"\\x{{{ord(c):04x}}}" in phones._REDACT_PATTERN
        assert f"\\u{ord(c):04x}" in phones._SEPARATOR_RE.pattern
        assert f"\\u{ord(c):04x}" in phones._PY_REDACT_RE.pattern
    # and nothing else: the SQL class holds exactly the separators
    sql_class = re.search(r"'(\[[^']*\])'", strip_sql).group(1)
    assert sql_class == phones._SQL_SEPARATOR_CLASS
    assert len(re.findall(r"\\x\{", sql_class)) == len(phones.SEPARATORS)


def test_hash_and_mask():
    h = phones.hash_mobile("13800138000")
    assert len(h) == 64 and h == h.lower()
    assert h == "a6942f9771d67f34034d2f1926988ed3fad3bf1b4e7cedb9a31f31398dea43bc"
    assert phones.mask_mobile("13800138000") == "138****8000"


def test_sql_matches_python_on_every_variant():
    con = duckdb.connect()
    values = VALID_VARIANTS + [raw for raw, _ in BUG_19] + EACH_SEPARATOR + INVALID + MASKED + EMPTY
    norm = phones.sql_normalize_mobile("v")
    rows = con.execute(
        f"SELECT v, {norm}, {phones.sql_mobile_status('v')}, "
        f"{phones.sql_hash_mobile(norm)}, {phones.sql_mask_mobile(norm)} "
        "FROM unnest($1::VARCHAR[]) AS t(v)",
        [values],
    ).fetchall()
    assert len(rows) == len(values)
    for v, n, status, h, m in rows:
        expected = phones.normalize_mobile(v)
        assert n == expected, repr(v)
        assert status == phones.mobile_status(v), repr(v)
        assert h == (phones.hash_mobile(expected) if expected else None), repr(v)
        assert m == (phones.mask_mobile(expected) if expected else None), repr(v)


def test_sql_hash_of_the_issue_19_spellings():
    con = duckdb.connect()
    for raw, number in BUG_19:
        h = con.execute(f"SELECT {phones.sql_hash_mobile(phones.sql_normalize_mobile('?'))}", [raw])
        assert h.fetchall()[0][0] == phones.hash_mobile(number)


def test_fullwidth_digits_survive_sql_where_regex_digit_class_would_not():
    con = duckdb.connect()
    # the trap: RE2's [0-9] / \d do not match full-width digits
    assert con.execute("SELECT regexp_replace('１３８', '[^0-9]', '', 'g')").fetchall()[0][0] == ""
    got = con.execute(
        f"SELECT {phones.sql_normalize_mobile(chr(39) + '１３８００１３８０００' + chr(39))}"
    )
    assert got.fetchall()[0][0] == "13800138000"


# ------------------------------------------------------------------------------ redaction

REDACT_TEXTS = [
    "call 13800138000 now",
    "张三 138-0013-8000",
    "+86 138 0013 8000",
    "１３８００１３８０００",
    "13800138000,13900139000",
    '{"mobile":"0086 13800138000"}',
    # issue 19: the WeCom remark and the POS card, inside free text and a quarantined JSON line
    "备注：137\u00a01807\u00a07735 张三",
    '{"remark_mobiles":"132\u00a00887\u00a03399","name":"李四"}',
    "老客户\t138\t0013\t8000\t",
    "line one\n138\n0013\n8000\nline three",
    "\u202a+86 138 0013 8000\u202c",
    "电话＋８６\u00a0(138)\u2014００13\u30fb8000\ufeff谢谢",
    "0 0 8 6 1 3 8 0 0 1 3 8 0 0 0",
    "号码 1 38 0013 8000",
    "13800138000,13900139000,13700137000,13600136000",  # four adjacent: two passes suffice
    "13800138000(139)00139000",
    "a13800138000b13900139000c",
]
#: Every separator on its own between the groups of a mobile inside a sentence.
REDACT_EACH_SEPARATOR = [f"call 138{c}0013{c}8000 now" for c in phones.SEPARATORS]


def _sql_redact_all(texts: list[str]) -> list[str]:
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT list_transform($1::VARCHAR[], lambda v: {phones.sql_redact_mobiles('v')})",
        [texts],
    ).fetchall()
    return rows[0][0]


def _no_digits_left(text: str) -> bool:
    return not re.search("[0-9０-９]", text)


@pytest.mark.parametrize("text", REDACT_TEXTS)
def test_redaction_removes_every_mobile_from_free_text(text):
    (sql_out,) = _sql_redact_all([text])
    assert sql_out == phones.redact_mobiles(text)
    for out in (sql_out, phones.redact_mobiles(text)):
        assert _no_digits_left(out), repr(out)
        assert phones.normalize_mobile(out) is None
        assert "[mobile]" in out


def test_redaction_knows_every_separator_in_python_and_sql():
    sql_outs = _sql_redact_all(REDACT_EACH_SEPARATOR)
    for text, sql_out in zip(REDACT_EACH_SEPARATOR, sql_outs, strict=True):
        # the separators before the number are part of the match (old behaviour, kept)
        assert sql_out == phones.redact_mobiles(text) == "call[mobile] now", repr(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 3912345678901234 ok",
        "order 3912 3456 7890 1234 ok",
        "order\u00a03912345678901234\u00a0ok",
        "qty 12 price 38.50 on 2024-01-13",
        "021\u00a012345678",
    ],
)
def test_redaction_keeps_long_order_ids_and_other_numbers(text):
    assert _sql_redact_all([text]) == [text]
    assert phones.redact_mobiles(text) == text

"""Property tests of the phone normaliser and the mobile redaction, Python against DuckDB SQL.

A random valid mainland mobile (`1[3-9]` + 9 digits) is spelled the way people paste it:
separators from the whole of `phones.SEPARATORS` between any two characters, an optional
country code in each accepted form (`+86`, `＋86`, `0086`, `86`), full-width digits chosen per
digit, blanks around it. Python must give back the number; the SQL expressions must give the
same value, status, hash and mask; and both redactions must leave no digit of it in a sentence.
Arbitrary text must get the same answers from SQL and Python.

Each example is a BATCH of spellings (or texts) evaluated by ONE DuckDB query, so the many
regular expressions are compiled once per batch, not once per string:

* `test_random_spellings_of_a_mobile`: 150 examples x up to 20 spellings (~1,500 spellings);
* `test_arbitrary_text_gets_the_same_answer_from_python_and_sql`: 150 examples x up to
  20 texts, half of them drawn from digits, separators, plus and mask signs, half `st.text()`.

The whole file runs in 7-10 s (2 shared cores, busy; ~1.5 s of it is collection and DuckDB
start-up). `database=None`: no example database is kept, so failures found once are kept
below as explicit `@example`s (Hypothesis still writes a small `.hypothesis/constants` cache).
"""

import re

import duckdb
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.lib.privacy import phones
from tests.conftest import examples

_CON = duckdb.connect()
_SETTINGS = settings(max_examples=examples(150), deadline=None, database=None)

_FULLWIDTH = dict(zip(phones.ASCII_DIGITS, phones.FULLWIDTH_DIGITS, strict=True))
_COUNTRY_CODES = ["", "+86", "＋86", "0086", "86"]
_DIGITS_ANY_WIDTH = re.compile("[0-9０-９]")

mobiles = st.builds(
    lambda second, rest: "1" + second + "".join(rest),
    st.sampled_from("3456789"),
    st.lists(st.sampled_from(phones.ASCII_DIGITS), min_size=9, max_size=9),
)
separators = st.text(alphabet=phones.SEPARATORS, max_size=3)
blanks = st.text(alphabet=phones.BLANKS, max_size=3)
#: Free text around a spelling: anything but digits (ASCII and full-width), so that every
#: digit left after redaction would be a digit of the mobile.
prose = st.text(
    st.characters(
        exclude_categories=["Cs"], exclude_characters=phones.ASCII_DIGITS + phones.FULLWIDTH_DIGITS
    ),
    max_size=8,
)


@st.composite
def spellings(draw) -> tuple[str, str, str]:
    """(number, spelling, sentence containing the spelling)."""
    number = draw(mobiles)
    chars = list(draw(st.sampled_from(_COUNTRY_CODES)) + number)
    out = [draw(blanks)]
    for i, ch in enumerate(chars):
        out.append(_FULLWIDTH[ch] if ch in _FULLWIDTH and draw(st.booleans()) else ch)
        if i < len(chars) - 1:
            out.append(draw(separators))
    out.append(draw(blanks))
    spelling = "".join(out)
    return number, spelling, draw(prose) + spelling + draw(prose)


def _sql_rows(values: list[str], texts: list[str]) -> list[tuple]:
    """One query for the batch: normalised, status, hash, mask of `values`, redacted `texts`."""
    norm = phones.sql_normalize_mobile("v")
    return _CON.execute(
        f"""SELECT v, s, {norm}, {phones.sql_mobile_status("v")}, {phones.sql_hash_mobile(norm)},
                   {phones.sql_mask_mobile(norm)}, {phones.sql_redact_mobiles("s")}
            FROM (SELECT unnest($1::VARCHAR[]) AS v, unnest($2::VARCHAR[]) AS s)""",
        [values, texts],
    ).fetchall()


@_SETTINGS
@given(st.lists(spellings(), min_size=1, max_size=20))
@example([("13718077735", "137\u00a01807\u00a07735", "备注 137\u00a01807\u00a07735")])  # issue 19
@example([("13208873399", "132\u00a00887\u00a03399", "132\u00a00887\u00a03399")])  # issue 19
@example([("13800138000", "0\t0 8 6 138 0013 8000", "x0\t0 8 6 138 0013 8000")])  # split code
@example([("13800138000", "1 38 0013 8000", "y 1 38 0013 8000")])  # between 1 and 3
def test_random_spellings_of_a_mobile(batch):
    rows = _sql_rows([s for _, s, _ in batch], [t for _, _, t in batch])
    assert len(rows) == len(batch)
    for (number, spelling, sentence), row in zip(batch, rows, strict=True):
        v, s, norm, status, digest, masked, redacted = row
        assert (v, s) == (spelling, sentence)
        # (a) Python gives back the number
        assert phones.normalize_mobile(spelling) == number, repr(spelling)
        assert phones.mobile_status(spelling) == phones.STATUS_VALID, repr(spelling)
        # (b) SQL gives the same value, status, hash and mask
        assert norm == number, repr(spelling)
        assert status == phones.STATUS_VALID, repr(spelling)
        assert digest == phones.hash_mobile(number)
        assert masked == phones.mask_mobile(number)
        # (c) both redactions leave no digit of it (the prose around it has none)
        assert redacted == phones.redact_mobiles(sentence), repr(sentence)
        assert "[mobile]" in redacted, repr(sentence)
        assert not _DIGITS_ANY_WIDTH.search(redacted), repr((sentence, redacted))


phone_like = st.text(
    alphabet=phones.ASCII_DIGITS
    + phones.FULLWIDTH_DIGITS
    + phones.SEPARATORS
    + phones.PLUS_SIGNS
    + phones.MASK_CHARS
    + "Ox/,",
    max_size=30,
)


@_SETTINGS
@given(st.lists(st.one_of(st.text(max_size=30), phone_like), min_size=1, max_size=20))
@example(["\u00a0", "\x85", "\u200b", "\x00", "13800138000\n", "138\n"])  # blank / line ends
@example(["13800138000(139)00139000", "13800138000,13900139000,13700137000,13600136000"])
def test_arbitrary_text_gets_the_same_answer_from_python_and_sql(texts):
    rows = _sql_rows(texts, texts)
    assert len(rows) == len(texts)
    for text, (v, _, norm, status, digest, masked, redacted) in zip(texts, rows, strict=True):
        assert v == text
        expected = phones.normalize_mobile(text)
        assert norm == expected, repr(text)
        assert status == phones.mobile_status(text), repr(text)
        assert digest == (phones.hash_mobile(expected) if expected else None), repr(text)
        assert masked == (phones.mask_mobile(expected) if expected else None), repr(text)
        assert redacted == phones.redact_mobiles(text), repr(text)

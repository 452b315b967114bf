"""Mainland-China mobile numbers: normalise, validate, hash, mask — in Python and in SQL.

The landing contract makes the mobile the main identity key but forbids plaintext mobiles in
the warehouse, so normalisation happens at the door (ingestion) and only `mobile_sha256` plus a
masked display form go further. The Python functions are the reference implementation; the SQL
builders produce the same results set-based inside DuckDB and are tested against them (example
tests in tests/unit/test_phones.py, property tests in tests/unit/test_phones_properties.py).

Every character set below is defined ONCE, as a Python string, and both dialects' regular
expressions are rendered from it (`_char_class`). The sets used to be written out twice, once
per dialect, and the two copies drifted: U+00A0 (the no-break space Excel and web forms paste)
was in neither, tabs were stripped by the normaliser but not by the redaction, so a tabbed
mobile was a valid key yet survived in plaintext in free text (issue 19).
"""

from __future__ import annotations

import hashlib
import re

FULLWIDTH_DIGITS = "０１２３４５６７８９"
ASCII_DIGITS = "0123456789"
#: Plus signs: ASCII and full-width. `＋` is translated to `+` together with the digits.
PLUS_SIGNS = "+＋"

# ------------------------------------------------------------------ what a typist puts in a number
#: Every character Python's `str.isspace()` accepts — tab, line breaks (a cell may hold
#: "138\n0013 8000"), the ASCII information separators, NEL, and every Unicode space separator
#: (Zs: U+00A0 no-break space, U+1680, U+2000–U+200A, U+202F narrow no-break space, U+205F,
#: U+3000 ideographic space) plus U+2028/U+2029. Listed explicitly so the set does not move
#: with the Python version; a test asserts it equals the `isspace()` set.
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
#: Invisible format characters that arrive with pasted text: soft hyphen (web pages), U+180E
#: (was a space until Unicode 6.3), zero-width space / non-joiner / joiner, word joiner, BOM
#: (U+FEFF, also "zero-width no-break space"), and the bidi marks, embeddings and isolates that
#: phone apps and mail clients wrap around a number when it is copied (LRM/RLM, U+202A–U+202E,
#: U+2066–U+2069). ZWNJ/ZWJ are included: in a field that must hold digits they carry no
#: meaning, the typist cannot see them, and dropping them cannot create a wrong key because the
#: remaining digits must still form a valid mobile; rejecting them would split the person.
INVISIBLES = (
    "\xad\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
#: Hyphen-minus, hyphen, non-breaking hyphen, figure dash, en/em dash, horizontal bar, minus
#: sign, small em dash, small hyphen-minus, full-width hyphen-minus.
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
#: Full stop, full-width full stop, ideographic full stop `。` (and its half-width form), middle
#: dot `·`, katakana middle dot `・` (and its half-width form): typists use them as separators.
DOTS = ".\uff0e\u3002\uff61\u00b7\u30fb\uff65"
#: ASCII, full-width and CJK lenticular brackets: `()[]（）［］【】`.
BRACKETS = "()[]\uff08\uff09\uff3b\uff3d\u3010\u3011"
#: Dropped from a mobile before it is validated, and allowed between the digits of a mobile
#: that redaction removes from free text. Deliberately NOT separators: `/ , ; 、` (they separate
#: two numbers: "138.../139..." must not become one number), `* ＊` (masking), `~ ～`, `#`,
#: letters (`O` for zero, "ext", "转"), other Unicode digits (Arabic-Indic, circled ①,
#: mathematical 𝟏 — never typed on a Chinese keyboard, and RE2's `[0-9]` does not see them).
SEPARATORS = SPACES + INVISIBLES + DASHES + DOTS + BRACKETS
#: A value made only of these is empty (nothing was typed), not invalid.
BLANKS = SPACES + INVISIBLES
#: A value containing one of these is a masked mobile (`138****8000`, `138＊＊＊＊8000`).
MASK_CHARS = "*＊"

_TO_ASCII_FROM = FULLWIDTH_DIGITS + "＋"
_TO_ASCII_TO = ASCII_DIGITS + "+"
_FULLWIDTH_TABLE = str.maketrans(_TO_ASCII_FROM, _TO_ASCII_TO)


def _char_class(chars: str, escape: str) -> str:
    """Regex character class of `chars`, every character written as a code-point escape.

    `escape` is the dialect's escape: `\\uXXXX` for Python's `re`, `\\x{XXXX}` for RE2 (which
    has no `\\u`). Escaping every character avoids quoting rules (`-`, `]`, `\\`, `^`) and
    keeps invisible characters visible in the generated SQL.
    """
    assert all(ord(c) <= 0xFFFF for c in chars), "BMP only: \\uXXXX takes four hex digits"
    return "[" + "".join(escape.format(ord(c)) for c in chars) + "]"


_PY_ESCAPE = r"\u{:04x}"
_SQL_ESCAPE = r"\x{{{:04x}}}"

#: After separators are dropped: optional country code, then the 11-digit mobile (group 1).
#: Written once; valid in both Python `re` and RE2.
_VALID_PATTERN = r"(?:\+86|0086|86)?(1[3-9][0-9]{9})"


def _digit(chars: str) -> str:
    """A class matching each ASCII digit (or range) given and its full-width twin."""
    full = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in chars)
    return f"[{chars}{full}]"


def _redact_pattern(sep: str) -> str:
    """Anything phone-shaped, bounded by non-digits (group 1 and 2 are the boundaries).

    Separators are allowed between ANY two characters the normaliser accepts — inside the
    country code (`0 0 8 6`, `+ 86`) and between `1` and the second digit too — or a spelling
    that `normalize_mobile` accepts as a key could stay in plaintext in free text. Every digit
    matches its full-width twin in place (RE2's \\d does not match ０-９), so the text around a
    mobile keeps its full-width digits ('第１名' stays as written). The boundary characters are
    consumed (RE2 has no look-around) and put back by the replacement; see
    `sql_redact_mobiles` for why it runs twice.
    """
    s = f"{sep}*"
    zero, plus = _digit("0"), "[+＋]"
    country = rf"(?:{plus}{s})?(?:{zero}{s}{zero}{s})?{_digit('8')}{s}{_digit('6')}{s}"
    return (rf"(^|[^0-9０-９]){s}(?:{country})?{_digit('1')}{s}{_digit('3-9')}"
            rf"(?:{s}{_digit('0-9')}){{9}}([^0-9０-９]|$)")


_SEPARATOR_RE = re.compile(_char_class(SEPARATORS, _PY_ESCAPE))
_BLANK_RE = re.compile(_char_class(BLANKS, _PY_ESCAPE) + "*")
_MASK_RE = re.compile(_char_class(MASK_CHARS, _PY_ESCAPE))
_VALID_RE = re.compile(_VALID_PATTERN)
_PY_REDACT_RE = re.compile(_redact_pattern(_char_class(SEPARATORS, _PY_ESCAPE)))
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

STATUS_VALID = "valid"
STATUS_EMPTY = "empty"
STATUS_MASKED = "masked"
STATUS_INVALID = "invalid"


def normalize_mobile(value: str | None) -> str | None:
    """Return the 11-digit mobile, or None when the value is not a valid mainland mobile."""
    if value is None:
        return None
    text = _SEPARATOR_RE.sub("", value.translate(_FULLWIDTH_TABLE))
    match = _VALID_RE.fullmatch(text)
    return match.group(1) if match else None


def mobile_status(value: str | None) -> str:
    """Classify a raw mobile so that diagnostics can say why it was not used as a key.

    Empty means only blanks (`BLANKS`, not `str.strip()`, so that SQL can say the same).
    """
    if value is None or _BLANK_RE.fullmatch(value):
        return STATUS_EMPTY
    if _MASK_RE.search(value):
        return STATUS_MASKED
    return STATUS_VALID if normalize_mobile(value) else STATUS_INVALID


def hash_mobile(normalized: str) -> str:
    """Lowercase hex SHA-256 of the normalised 11-digit string, as Tmall delivers it."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def mask_mobile(normalized: str) -> str:
    """Display form `138****8000`: enough for a clerk to confirm, useless as a key."""
    return f"{normalized[:3]}****{normalized[-4:]}"


def redact_mobiles(text: str) -> str:
    """Python twin of `sql_redact_mobiles` (same pattern, same two passes, same output)."""
    once = _PY_REDACT_RE.sub(r"\1[mobile]\2", text)
    return _PY_REDACT_RE.sub(r"\1[mobile]\2", once)


# --------------------------------------------------------------------------- SQL (DuckDB)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: RE2 renderings of the sets above (DuckDB string literals keep backslashes as they are).
_SQL_SEPARATOR_CLASS = _char_class(SEPARATORS, _SQL_ESCAPE)
_SQL_BLANKS_PATTERN = _char_class(BLANKS, _SQL_ESCAPE) + "*"
_SQL_MASK_CLASS = _char_class(MASK_CHARS, _SQL_ESCAPE)
_REDACT_PATTERN = _redact_pattern(_SQL_SEPARATOR_CLASS)


def sql_ascii_digits(expr: str) -> str:
    """Full-width digits and plus sign to ASCII (RE2's \\d does not match ０-９)."""
    return f"translate({expr}, {_sql_literal(_TO_ASCII_FROM)}, {_sql_literal(_TO_ASCII_TO)})"


def sql_strip_separators(expr: str) -> str:
    return (
        f"regexp_replace({sql_ascii_digits(expr)}, {_sql_literal(_SQL_SEPARATOR_CLASS)}, '', 'g')"
    )


def sql_normalize_mobile(expr: str) -> str:
    """SQL expression: the normalised 11-digit mobile or NULL (mirrors `normalize_mobile`).

    `regexp_extract` gives '' when the anchored pattern does not match (RE2's `$` is the end
    of the text, never before a trailing newline), so the stripped text is built only once.
    """
    pattern = _sql_literal(f"^{_VALID_PATTERN}$")
    return f"nullif(regexp_extract({sql_strip_separators(expr)}, {pattern}, 1), '')"


def sql_mobile_status(expr: str) -> str:
    return (
        f"CASE WHEN {expr} IS NULL OR regexp_full_match({expr}, {_sql_literal(_SQL_BLANKS_PATTERN)}) "
        f"THEN '{STATUS_EMPTY}' "
        f"WHEN regexp_matches({expr}, {_sql_literal(_SQL_MASK_CLASS)}) THEN '{STATUS_MASKED}' "
        f"WHEN ({sql_normalize_mobile(expr)}) IS NOT NULL THEN '{STATUS_VALID}' "
        f"ELSE '{STATUS_INVALID}' END"
    )


def sql_hash_mobile(normalized_expr: str) -> str:
    return f"sha256({normalized_expr})"


def sql_mask_mobile(normalized_expr: str) -> str:
    return f"(left({normalized_expr}, 3) || '****' || right({normalized_expr}, 4))"


def sql_redact_mobiles(expr: str) -> str:
    """Replace anything that looks like a mobile inside free text with `[mobile]`.

    Used for quarantined lines and free-text fields (WeCom remarks) so that a plaintext
    mobile cannot enter the warehouse through a row we could not parse. Applied twice because
    two adjacent numbers share the separator between them: the first match consumes it as its
    closing boundary, so the second number is only found by the second pass.
    """
    pattern = _sql_literal(_REDACT_PATTERN)
    once = f"regexp_replace({expr}, {pattern}, '\\1[mobile]\\2', 'g')"
    return f"regexp_replace({once}, {pattern}, '\\1[mobile]\\2', 'g')"

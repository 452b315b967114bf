"""Mainland-China mobile numbers: normalise, validate, hash, mask — in Python and in SQL.

The landing contract makes the mobile the main identity key but forbids plaintext mobiles in
the warehouse, so normalisation happens at the door (ingestion) and only `mobile_sha256` plus a
masked display form go further. The Python functions are the reference implementation; the SQL
builders produce the same results set-based inside DuckDB and are tested against them.
"""

from __future__ import annotations

import hashlib
import re

FULLWIDTH_DIGITS = "０１２３４５６７８９"
ASCII_DIGITS = "0123456789"
#: Characters typists put inside numbers: spaces (incl. ideographic), dashes, dots, brackets.
SEPARATORS = " \t-.()（）\u3000－．"
_FULLWIDTH_TABLE = str.maketrans(FULLWIDTH_DIGITS + "＋", ASCII_DIGITS + "+")
_SEPARATOR_RE = re.compile("[" + re.escape(SEPARATORS) + "]")
_VALID_RE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
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
    """Classify a raw mobile so that diagnostics can say why it was not used as a key."""
    if value is None or not value.strip():
        return STATUS_EMPTY
    if "*" in value:
        return STATUS_MASKED
    return STATUS_VALID if normalize_mobile(value) else STATUS_INVALID


def hash_mobile(normalized: str) -> str:
    """Lowercase hex SHA-256 of the normalised 11-digit string, as Tmall delivers it."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def mask_mobile(normalized: str) -> str:
    """Display form `138****8000`: enough for a clerk to confirm, useless as a key."""
    return f"{normalized[:3]}****{normalized[-4:]}"


# --------------------------------------------------------------------------- SQL (DuckDB)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_ascii_digits(expr: str) -> str:
    """Full-width digits and plus sign to ASCII (RE2's \\d does not match ０-９)."""
    return f"translate({expr}, {_sql_literal(FULLWIDTH_DIGITS + '＋')}, '0123456789+')"


def sql_strip_separators(expr: str) -> str:
    return (
        f"regexp_replace({sql_ascii_digits(expr)}, "
        r"'[ \t.()（）\x{3000}－．-]', '', 'g')"
    )


def sql_normalize_mobile(expr: str) -> str:
    """SQL expression: the normalised 11-digit mobile or NULL (mirrors `normalize_mobile`)."""
    stripped = sql_strip_separators(expr)
    return (
        f"CASE WHEN regexp_full_match({stripped}, '(\\+86|0086|86)?1[3-9][0-9]{{9}}') "
        f"THEN right({stripped}, 11) END"
    )


def sql_mobile_status(expr: str) -> str:
    return (
        f"CASE WHEN {expr} IS NULL OR trim({expr}) = '' THEN '{STATUS_EMPTY}' "
        f"WHEN strpos({expr}, '*') > 0 THEN '{STATUS_MASKED}' "
        f"WHEN ({sql_normalize_mobile(expr)}) IS NOT NULL THEN '{STATUS_VALID}' "
        f"ELSE '{STATUS_INVALID}' END"
    )


def sql_hash_mobile(normalized_expr: str) -> str:
    return f"sha256({normalized_expr})"


def sql_mask_mobile(normalized_expr: str) -> str:
    return f"(left({normalized_expr}, 3) || '****' || right({normalized_expr}, 4))"


#: Any phone-shaped digit run (with separators, optional country code) bounded by non-digits.
_REDACT_PATTERN = r"(^|[^0-9])(?:\+?86|0086)?[ .()（）\x{3000}－．-]*1[3-9](?:[ .()（）\x{3000}－．-]*[0-9]){9}([^0-9]|$)"


def sql_redact_mobiles(expr: str) -> str:
    """Replace anything that looks like a mobile inside free text with `[mobile]`.

    Used for quarantined lines and free-text fields (WeCom remarks) so that a plaintext
    mobile cannot enter the warehouse through a row we could not parse. Applied twice because
    two adjacent numbers share the separator between them.
    """
    once = f"regexp_replace({sql_ascii_digits(expr)}, {_sql_literal(_REDACT_PATTERN)}, '\\1[mobile]\\2', 'g')"
    return f"regexp_replace({once}, {_sql_literal(_REDACT_PATTERN)}, '\\1[mobile]\\2', 'g')"


_PY_REDACT_RE = re.compile(
    r"(?<![0-9])(?:\+?86|0086)?[ .()（）\u3000－．-]*1[3-9](?:[ .()（）\u3000－．-]*[0-9]){9}(?![0-9])"
)


def redact_mobiles(text: str) -> str:
    """Python twin of `sql_redact_mobiles` for error messages that quote input."""
    return _PY_REDACT_RE.sub("[mobile]", text.translate(_FULLWIDTH_TABLE))

"""Customers' names at the door: a keyed hash for the one equality the warehouse needs.

Nothing downstream needs a customer's name except the couple rule ("two POS cards on one
phone with different names are two people", int_identity__shared_identifiers.sql), which
compares names for equality only. So a POS name enters raw as

    name_hash = lower-hex SHA-256( key || U+001F || trimmed name )

(trimmed as every text value is: Unicode white space and invisible marks at both ends,
`validate.BLANKS`; an empty name is NULL). The key lives outside the warehouse file
(`pipelines.lib.privacy.keys`): with the file alone a guessed name cannot be tested. U+001F
(the ASCII unit separator) cannot end a key (keys are trimmed) nor start a trimmed name, so
key and name cannot trade characters to give one hash to two different pairs.

The other names a channel delivers (Tmall `买家会员名`, mini-program `nickname`, WeCom contact
`name` and the staff's `remark`) are not read into raw at all. Every personal-name source of
an entity (`EntitySpec.personal_names`) is also kept out of the quarantine text: replaced by
`[name]` in a rejected row's record; a line that could not be split into fields (CSV) or
parsed (JSON) keeps file, line and reason but no record (the landing file keeps the line).

The key enters SQL as a DuckDB variable (`SET VARIABLE … = ?`, a bound parameter), never as
text of a statement that could be logged; a hash computed without it stops with `error()`.
"""

from __future__ import annotations

import hashlib
import re

import duckdb

#: DuckDB variable holding the key inside a connection (set by `set_key`)
KEY_VARIABLE = "siyu_name_key"
#: what a personal name becomes in the quarantine text
PLACEHOLDER = "[name]"
SEPARATOR = "\x1f"
MISSING_KEY = (
    "no name key: customers' names are hashed with a key kept outside the warehouse "
    "(SIYU_NAME_KEY or <warehouse folder>/keys/name.key, pipelines/lib/privacy/keys.py); "
    "the ingestion was started without one"
)


def name_hash(key: str, name: str | None, blanks: str) -> str | None:
    """Reference implementation of `sql_name_hash` (tests compare the two): `name` trimmed of
    `blanks` (the validator's set), empty → None."""
    if name is None:
        return None
    t = name.strip(blanks)
    if not t:
        return None
    return hashlib.sha256(f"{key}{SEPARATOR}{t}".encode()).hexdigest()


def set_key(con: duckdb.DuckDBPyConnection, key: str | None) -> None:
    """Make `key` available to `sql_name_hash` in `con` (None: unset, hashing then fails)."""
    if key is None:
        con.execute(f"RESET VARIABLE {KEY_VARIABLE}")
    else:
        con.execute(f"SET VARIABLE {KEY_VARIABLE} = ?", [key])


def sql_name_hash(trimmed: str) -> str:
    """SQL: the keyed hash of `trimmed` (a trimmed text expression, NULL when empty)."""
    key = f"getvariable('{KEY_VARIABLE}')"
    return (f"CASE WHEN {key} IS NULL THEN error({_lit(MISSING_KEY)}) "
            f"WHEN {trimmed} IS NULL THEN NULL "
            f"ELSE sha256({key} || chr(31) || {trimmed}) END")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_redact_name_keys(record: str, keys: tuple[str, ...]) -> str:
    """SQL: the JSON text `record` with the value of every member `"<key>": …` (at any depth)
    replaced by "[name]" — strings, numbers and booleans; `null` stays. A name delivered as an
    array or object (no channel does) cannot be cut out by a pattern: the record becomes NULL.
    """
    if not keys:
        return record
    k = "(" + "|".join(re.escape(x) for x in keys) + ")"
    value = r'"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false'
    member = rf'"{k}"(\s*):(\s*)(?:{value})'
    nested = rf'"{k}"\s*:\s*[\[{{]'
    into = r'"\1"\2:\3"' + PLACEHOLDER + '"'
    replaced = f"regexp_replace({record}, {_lit(member)}, {_lit(into)}, 'g')"
    return f"CASE WHEN regexp_matches({record}, {_lit(nested)}) THEN NULL ELSE {replaced} END"

"""Erasure (PIPL Art. 47) and the suppression list that keeps erased people out.

`forget()` resolves a request (a member id, a mobile, or one channel identifier) to the
person's identifiers and member ids, then in ONE transaction:

* raw: deletes the person's member/contact/user rows and events; keeps their orders but blanks
  the buyer columns, so orders become guest orders and every amount total stays the same;
* staging tables (DuckDB): the same rule as their raw table; intermediate tables keyed by an
  identifier (identity graph) lose the rows, the order union blanks the buyer;
* quarantine: blanks `raw_record` of rejected lines that carry one of the identifiers (the row,
  its file, line and reason key stay, so reconciliation counts do not change);
* identity: removes assignments, members, their versioned history, merges and splits of the
  member ids; the person's dictionary keys leave the identity step's persisted graph
  (`identity.graph_*`, keyed by `identity.identifier_keys`), which is marked stale so the next
  night resolves in full (a component the person was in may split differently without them);
* intermediate, marts and ltv: each table as its dbt model (or source) declares in
  `meta.pii` (pipelines/lib/privacy/declarations.py): `anonymise` — order facts keep their rows
  with `member_id` NULL; `delete` — every other member-keyed table (the growth ledger: the
  person's points) loses the person's rows; an undeclared member-keyed table stops the request;
* records the request in `privacy.erasure_requests` (a salted hash of the request, counts; no
  identifier) and adds salted hashes of the identifiers to `privacy.suppressed_identifiers`.

The serving PostgreSQL holds the person too (the published `marts` and `bi`): `siyu forget`
erases them there as well, in one PostgreSQL transaction after the warehouse's
(`pipelines/lib/serving/erasure.py`), with the same delete-or-anonymise rule.

`apply_suppression()` runs the raw and quarantine rules inside every ingestion transaction
(DuckDBSink), so tomorrow's re-delivery of the same landing files cannot bring the person back.
Hashes are salted with a random per-warehouse salt (`privacy.settings`); note that a salt kept
in the same file only stops casual reading, not someone who holds the whole file (mobiles are
an 11-digit space).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from pipelines.lib.identity import ID_TYPES
from pipelines.lib.privacy.declarations import load_declarations
from pipelines.lib.privacy.phones import hash_mobile, normalize_mobile

#: raw table → (identifier columns, columns blanked instead of deleting the row). Tables
#: without blank-columns lose the whole row (the row IS the person or their behaviour).
RAW_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pos__members": (("member_card_no", "mobile_sha256"), ()),
    "tmall__members": (("ouid", "mobile_sha256"), ()),
    "miniprogram__users": (("openid", "unionid", "mobile_sha256"), ()),
    "wecom__external_contacts": (("external_userid", "unionid"), ()),
    "wecom__external_contacts__follow_users": (("external_userid",), ()),
    "wecom__external_contacts__follow_users__tags": (("external_userid",), ()),
    "wecom__external_contacts__follow_users__remark_mobiles": (
        ("external_userid", "mobile_sha256"), ()),
    "wecom__contact_events": (("external_userid",), ()),
    # customer groups: the group itself is not a person; its member rows and the members
    # named in its callbacks are (a staff userid never matches a suppressed identifier)
    "wecom__group_chats__members": (("userid", "unionid"), ()),
    "wecom__group_events__members": (("userid",), ()),
    "pos__orders": (("member_card_no",), ("member_card_no",)),
    "tmall__orders": (("ouid",), ("ouid", "receiver_mobile_masked")),
    "miniprogram__orders": (("openid",), ("openid",)),
    "miniprogram__events": (("openid",), ("openid",)),
}
#: Columns the landing contract requires (raw GX suites and dbt source tests say not null):
#: erased to '' instead of NULL. Ingestion turns a delivered empty value into NULL, so '' in
#: raw means "erased on request" and never collides with a delivery fault; staging/identity
#: ignore '' identifiers, so those orders and events become guest rows.
REQUIRED_BLANK_AS_EMPTY = frozenset({"openid"})
#: staging tables whose raw table is not `stg_` + its name
STAGING_SOURCES = {
    "stg_wecom__follow_users": "wecom__external_contacts__follow_users",
    "stg_wecom__follow_user_tags": "wecom__external_contacts__follow_users__tags",
    "stg_wecom__follow_user_remark_mobiles": "wecom__external_contacts__follow_users__remark_mobiles",
    "stg_wecom__group_chat_members": "wecom__group_chats__members",
    "stg_wecom__group_event_members": "wecom__group_events__members",
}
#: identifier columns of intermediate tables (identity graph, order union)
INTERMEDIATE_ID_COLUMNS = ("id_value", "left_value", "right_value", "external_userid",
                           "buyer_id_value")
MEMBER_COLUMNS = ("member_id", "old_member_id", "new_member_id")
#: columns naming ANOTHER member (the row belongs to someone else): blanked, the row stays
#: (member_group_spells.invited_by_member_id: who invited the member into the group)
MEMBER_REFERENCE_COLUMNS = ("invited_by_member_id",)
#: schemas dbt (or a Python step declared as a dbt source) writes, erased per declaration
MEMBER_SCHEMAS = ("intermediate", "marts", "ltv")
ERASED_RECORD = "[erased on request]"

DDL = (
    "CREATE SCHEMA IF NOT EXISTS privacy",
    "CREATE TABLE IF NOT EXISTS privacy.settings (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS privacy.suppressed_identifiers (
        id_hash VARCHAR PRIMARY KEY, id_type VARCHAR, request_hash VARCHAR,
        suppressed_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS privacy.erasure_requests (
        request_hash VARCHAR, requested_at TIMESTAMP, selector_kind VARCHAR,
        members_erased INTEGER, identifiers_suppressed INTEGER, rows_deleted BIGINT,
        rows_anonymised BIGINT, quarantine_redacted BIGINT, identity_rows_deleted BIGINT,
        mart_rows_deleted BIGINT, mart_rows_anonymised BIGINT, counts_by_table VARCHAR)""",
)


class ErasureError(ValueError):
    """The request names nobody the warehouse knows (nothing was changed)."""


@dataclass
class ErasureResult:
    request_hash: str
    members: int
    identifiers: int
    counts: dict[str, int] = field(default_factory=dict)
    #: the member ids erased: for the serving database's erasure, never printed or stored
    member_ids: tuple[str, ...] = field(default=(), repr=False)

    def total(self, prefix: str) -> int:
        return sum(n for k, n in self.counts.items() if k.startswith(prefix))


def _salt(con: duckdb.DuckDBPyConnection) -> str:
    for stmt in DDL:
        con.execute(stmt)
    row = con.execute("SELECT value FROM privacy.settings WHERE key = 'salt'").fetchall()
    if row:
        return row[0][0]
    salt = secrets.token_hex(16)
    con.execute("INSERT INTO privacy.settings VALUES ('salt', ?)", [salt])
    return salt


def salted(salt: str, value: str) -> str:
    return hashlib.sha256(f"{salt}{value}".encode()).hexdigest()


def parse_selector(member_id: str | None, mobile: str | None,
                   identifier: str | None) -> tuple[str, str, str]:
    """(kind, id_type, value) from exactly one of the CLI's options; mobiles are hashed here."""
    given = [x for x in (member_id, mobile, identifier) if x]
    if len(given) != 1:
        raise ErasureError("give exactly one of --member-id, --mobile, --identifier")
    if member_id:
        return "member_id", "member_id", member_id.strip()
    if mobile:
        norm = normalize_mobile(mobile)
        if not norm:
            raise ErasureError("--mobile is not a valid mainland mobile number")
        return "mobile", "mobile_sha256", hash_mobile(norm)
    id_type, _, value = (identifier or "").partition(":")
    if id_type not in ID_TYPES or not value:
        raise ErasureError(f"--identifier must be TYPE:VALUE with TYPE one of {', '.join(ID_TYPES)}")
    return "identifier", id_type, value.strip()


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, set[str]]:
    cols: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
            "WHERE c.table_schema = ? AND t.table_type = 'BASE TABLE' "
            "AND c.table_catalog = current_database()", [schema]).fetchall():
        cols.setdefault(table, set()).add(column)
    return cols


def _resolve(con: duckdb.DuckDBPyConnection, id_type: str, value: str) -> tuple[set[tuple[str, str]], set[str]]:
    """The identifiers and member ids of the person named by (id_type, value)."""
    has_identity = "member_id_assignments" in _tables(con, "identity")
    members: set[str] = set()
    ids: set[tuple[str, str]] = set()
    if id_type == "member_id":
        members.add(value)
    else:
        ids.add((id_type, value))
        if has_identity:
            members |= {r[0] for r in con.execute(
                "SELECT member_id FROM identity.member_id_assignments WHERE id_type = ? "
                "AND id_value = ?", [id_type, value]).fetchall()}
    if has_identity and members:
        ph = ", ".join("?" for _ in members)
        for table in ("member_id_assignments", "assignment_history"):
            if table in _tables(con, "identity"):
                ids |= set(con.execute(
                    f"SELECT DISTINCT id_type, id_value FROM identity.{table} "
                    f"WHERE member_id IN ({ph})", list(members)).fetchall())
    return ids, members


def _blank_value(column: str) -> str:
    return "''" if column in REQUIRED_BLANK_AS_EMPTY else "NULL"


def _suppressed_hashes_sql() -> str:
    return "SELECT id_hash FROM privacy.suppressed_identifiers"


def _erase_matching(con: duckdb.DuckDBPyConnection, schema: str, table: str, cols: set[str],
                    id_cols: tuple[str, ...], blank: tuple[str, ...], salt: str) -> tuple[str, int]:
    """Where any of `id_cols` hashes to a suppressed identifier: blank the `blank` columns, or
    delete the row when there are none. Returns the count key (`<schema>_anonymised|deleted.
    <table>`) and the rows touched; (key, 0) when the table has none of the identifiers."""
    present = [c for c in id_cols if c in cols]
    kind = "anonymised" if blank else "deleted"
    key = f"{schema}_{kind}.{table}"
    if not present:
        return key, 0
    match = " OR ".join(f"sha256(? || {c}) IN ({_suppressed_hashes_sql()})" for c in present)
    params = [salt] * len(present)
    if blank:
        sets = ", ".join(f"{c} = {_blank_value(c)}" for c in blank if c in cols)
        n = con.execute(f'UPDATE {schema}."{table}" SET {sets} WHERE {match}', params).fetchall()
    else:
        n = con.execute(f'DELETE FROM {schema}."{table}" WHERE {match}', params).fetchall()
    return key, n[0][0] if n else 0


def apply_suppression(con: duckdb.DuckDBPyConnection, tables: list[str] | None = None,
                      quarantine_filter: str = "TRUE") -> dict[str, int]:
    """Delete or blank raw rows (and quarantine records) of suppressed identifiers.

    Runs inside the caller's transaction. A no-op (no tables touched) when nothing has ever
    been erased, so ingestion pays nothing until the first request.
    """
    if "suppressed_identifiers" not in _tables(con, "privacy"):
        return {}
    if not con.execute("SELECT count(*) FROM privacy.suppressed_identifiers").fetchall()[0][0]:
        return {}
    salt = con.execute("SELECT value FROM privacy.settings WHERE key = 'salt'").fetchall()[0][0]
    raw = _tables(con, "raw")
    counts: dict[str, int] = {}
    for table, (id_cols, blank) in RAW_RULES.items():
        if table not in raw or (tables is not None and table not in tables):
            continue
        key, n = _erase_matching(con, "raw", table, raw[table], id_cols, blank, salt)
        counts[key] = n
    if "rejected_rows" in _tables(con, "quarantine"):
        # identifiers appear inside the rejected line's text: compare every token's hash
        n = con.execute(f"""
            UPDATE quarantine.rejected_rows
            SET raw_record = '{ERASED_RECORD}',
                reason = regexp_replace(reason, ' ''.*', '')
            WHERE ({quarantine_filter}) AND raw_record <> '{ERASED_RECORD}' AND list_has_any(
                list_transform(regexp_split_to_array(raw_record, '[^0-9A-Za-z_\\-]+'),
                               lambda t: sha256(? || t)),
                ({_suppressed_hashes_sql().replace('SELECT id_hash', 'SELECT list(id_hash)')}))
        """, [salt]).fetchall()
        counts["quarantine_redacted"] = n[0][0] if n else 0
    return {k: v for k, v in counts.items() if v}


def _erase_staging_rows(con: duckdb.DuckDBPyConnection, salt: str) -> dict[str, int]:
    """Apply the raw rules to the staging tables (`stg_<raw table>`, or STAGING_SOURCES).

    On DuckDB staging models are tables rebuilt from raw every night (the mini-program events
    incrementally): until the next night they still hold the person, so they lose them here
    the same way raw does. Identifier columns keep their raw names in staging.
    """
    counts: dict[str, int] = {}
    for table, cols in _tables(con, "staging").items():
        rule = RAW_RULES.get(STAGING_SOURCES.get(table, table.removeprefix("stg_")))
        if rule is not None:
            key, n = _erase_matching(con, "staging", table, cols, *rule, salt)
            if n:
                counts[key] = n
    return counts


def _erase_intermediate_identifiers(con: duckdb.DuckDBPyConnection, salt: str) -> dict[str, int]:
    """Intermediate tables (DuckDB) keyed by channel identifiers lose the person's rows; the
    order union keeps its rows as guest orders (buyer blanked), like raw orders."""
    counts: dict[str, int] = {}
    for table, cols in _tables(con, "intermediate").items():
        blank = ("buyer_id_value",) if "buyer_id_value" in cols else ()
        key, n = _erase_matching(con, "intermediate", table, cols, INTERMEDIATE_ID_COLUMNS,
                                 blank, salt)
        if n:
            counts[key] = n
    return counts


def _erase_identity_graph(con: duckdb.DuckDBPyConnection, salt: str) -> dict[str, int]:
    """The identity step's persisted graph (pipelines/lib/identity/compact.py) holds keys of
    `identity.identifier_keys`, not identifiers: the person's keys leave it while the
    dictionary still maps them (before `_erase_member_rows` deletes its rows), and its day is
    cleared, so the next night resolves in full instead of carrying the person's components
    forward."""
    identity = _tables(con, "identity")
    if "graph_nodes" not in identity or "identifier_keys" not in identity:
        return {}
    keys = (f"SELECT key FROM identity.identifier_keys "
            f"WHERE sha256(? || id_value) IN ({_suppressed_hashes_sql()})")
    counts: dict[str, int] = {}
    for table, where, n_params in (("graph_nodes", f"key IN ({keys})", 1),
                                   ("graph_edges", f"a_key IN ({keys}) OR b_key IN ({keys})", 2),
                                   ("graph_capped", f"hub_key IN ({keys})", 1)):
        if table in identity:
            n = con.execute(f"DELETE FROM identity.{table} WHERE {where}",
                            [salt] * n_params).fetchall()
            if n and n[0][0]:
                counts[f"identity_deleted.identity.{table}"] = n[0][0]
    if "graph_state" in identity:
        con.execute("DELETE FROM identity.graph_state")
    return counts


def _undeclared(con: duckdb.DuckDBPyConnection, declarations: Mapping[tuple[str, str], str]
                ) -> list[str]:
    """Member-keyed tables of the dbt layers without a `meta.pii` declaration."""
    return sorted(f"{schema}.{table}" for schema in MEMBER_SCHEMAS
                  for table, cols in _tables(con, schema).items()
                  if set(MEMBER_COLUMNS) & cols and (schema, table) not in declarations)


def _erase_member_rows(con: duckdb.DuckDBPyConnection, members: set[str], salt: str,
                       declarations: Mapping[tuple[str, str], str]) -> dict[str, int]:
    """identity (the OneID state): the person's rows go. intermediate, marts, ltv: each table
    as its dbt model or source declares in `meta.pii` (pipelines/lib/privacy/declarations.py):
    `anonymise` keeps the rows with member_id NULL (order facts), `delete` drops them."""
    counts: dict[str, int] = {}
    if not members:
        members = set()
    ph = ", ".join("?" for _ in members) or "NULL"
    for schema, kind in (("identity", "identity_deleted"), *((s, "mart") for s in MEMBER_SCHEMAS)):
        for table, cols in _tables(con, schema).items():
            for ref in (c for c in MEMBER_REFERENCE_COLUMNS if c in cols and members):
                n = con.execute(f'UPDATE {schema}."{table}" SET {ref} = NULL '
                                f"WHERE {ref} IN ({ph})", list(members)).fetchall()
                if n and n[0][0]:
                    counts[f"mart_anonymised.{schema}.{table}.{ref}"] = n[0][0]
            mcols = [c for c in MEMBER_COLUMNS if c in cols]
            conds = [f"{c} IN ({ph})" for c in mcols] if members else []
            params: list = [m for _ in mcols for m in members] if members else []
            if "id_value" in cols:
                conds.append(f"sha256(? || id_value) IN ({_suppressed_hashes_sql()})")
                params.append(salt)
            if not conds:
                continue
            if kind == "mart" and declarations.get((schema, table)) == "anonymise" \
                    and "member_id" in cols:
                n = con.execute(f'UPDATE {schema}."{table}" SET member_id = NULL '
                                f"WHERE member_id IN ({ph})", list(members)).fetchall()
                key = f"mart_anonymised.{schema}.{table}"
            else:
                n = con.execute(f'DELETE FROM {schema}."{table}" WHERE {" OR ".join(conds)}',
                                params).fetchall()
                key = f"{kind if kind != 'mart' else 'mart_deleted'}.{schema}.{table}"
            if n and n[0][0]:
                counts[key] = n[0][0]
    return counts


def forget(con: duckdb.DuckDBPyConnection, member_id: str | None = None, mobile: str | None = None,
           identifier: str | None = None, now: datetime | None = None,
           declarations: Mapping[tuple[str, str], str] | None = None) -> ErasureResult:
    """Erase one person (see module doc); raises ErasureError when nobody matches, or when a
    member-keyed table declares no `meta.pii` (`declarations`: default, the dbt manifest's)."""
    kind, id_type, value = parse_selector(member_id, mobile, identifier)
    if declarations is None:
        declarations = load_declarations()
    undeclared = _undeclared(con, declarations)
    if undeclared:
        raise ErasureError("these tables hold member ids but their dbt model declares no "
                           f"meta.pii (delete | anonymise | none): {', '.join(undeclared)}; "
                           "nothing was changed")
    salt = _salt(con)
    ids, members = _resolve(con, id_type, value)
    if kind == "member_id" and not (ids or _member_exists(con, value)):
        raise ErasureError("no such member_id in the warehouse; nothing was changed")
    request_hash = salted(salt, f"{kind}:{id_type}:{value}")
    ts = (now or datetime.now(UTC)).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        if ids:  # a member known only to the marts has no identifiers to suppress
            con.executemany(
                "INSERT INTO privacy.suppressed_identifiers VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(salted(salt, v), t, request_hash, ts) for t, v in sorted(ids)])
        counts = apply_suppression(con)
        counts.update(_erase_staging_rows(con, salt))
        counts.update(_erase_intermediate_identifiers(con, salt))
        counts.update(_erase_identity_graph(con, salt))
        counts.update(_erase_member_rows(con, members, salt, declarations))
        result = ErasureResult(request_hash, len(members), len(ids), counts,
                               tuple(sorted(members)))
        con.execute(
            "INSERT INTO privacy.erasure_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [request_hash, ts, kind, len(members), len(ids), result.total("raw_deleted"),
             result.total("raw_anonymised"), result.total("quarantine"),
             result.total("identity_deleted"), result.total("mart_deleted"),
             result.total("mart_anonymised"), json.dumps(counts, sort_keys=True)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def outbox_identifiers(con: duckdb.DuckDBPyConnection, member_id: str | None = None,
                       mobile: str | None = None, identifier: str | None = None) -> list[str]:
    """The channel identifier values of the person a request names (read before `forget`
    erases them), for removing the person from the activation outboxes already written."""
    _, id_type, value = parse_selector(member_id, mobile, identifier)
    ids, _ = _resolve(con, id_type, value)
    return sorted(v for _, v in ids)


def _member_exists(con: duckdb.DuckDBPyConnection, member_id: str) -> bool:
    for schema, table in (("identity", "members"), ("marts", "dim_member")):
        if table in _tables(con, schema) and con.execute(
                f"SELECT count(*) FROM {schema}.{table} WHERE member_id = ?",
                [member_id]).fetchall()[0][0]:
            return True
    return False


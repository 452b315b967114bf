"""Erasure in the serving PostgreSQL (PIPL Art. 47): `siyu forget` reaches what BI reads.

The published `marts` and `bi` tables hold the person's member ids until the next publish
copies tonight's (already erased) warehouse; waiting a night is not acceptable for an erasure
request, so the rows go at once, with the warehouse's rule: each relation as its dbt model
declares in `meta.pii` (pipelines/lib/privacy/declarations.py) — order facts (`anonymise`) keep
their rows as guest orders (`member_id` NULL: revenue totals do not change), every other
member-keyed row is deleted. One transaction; a reader sees the rows before or after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg
from psycopg import sql

from pipelines.lib.privacy.declarations import load_declarations
from pipelines.lib.serving.roles import READERS

MEMBER_COLUMNS = ("member_id", "old_member_id", "new_member_id")


def erase_members(pg_url: str, member_ids: Iterable[str],
                  declarations: Mapping[tuple[str, str], str] | None = None) -> dict[str, int]:
    """Delete (or, where the model declares `anonymise`, blank) the rows of `member_ids` in
    every published table; returns rows changed per `schema.table`. `declarations`: default,
    the dbt manifest's."""
    if declarations is None:
        declarations = load_declarations()
    members = sorted(set(member_ids))
    counts: dict[str, int] = {}
    if not members:
        return counts
    with psycopg.connect(pg_url) as conn, conn.transaction():
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = ANY(%s) AND column_name = ANY(%s)",
            [list(READERS), list(MEMBER_COLUMNS)]).fetchall()
        by_table: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in columns:
            by_table.setdefault((schema, table), []).append(column)
        for (schema, table), cols in sorted(by_table.items()):
            rel = sql.Identifier(schema, table)
            if declarations.get((schema, table)) == "anonymise" and "member_id" in cols:
                cur = conn.execute(sql.SQL("UPDATE {} SET member_id = NULL "
                                           "WHERE member_id = ANY(%s)").format(rel), [members])
            else:
                where = sql.SQL(" OR ").join(
                    sql.SQL("{} = ANY(%s)").format(sql.Identifier(c)) for c in cols)
                cur = conn.execute(sql.SQL("DELETE FROM {} WHERE ").format(rel) + where,
                                   [members] * len(cols))
            if cur.rowcount:
                counts[f"{schema}.{table}"] = cur.rowcount
        # a column naming another member (who invited this one into a group): blanked
        from pipelines.lib.privacy.forget import MEMBER_REFERENCE_COLUMNS

        for schema, table, column in conn.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = ANY(%s) AND column_name = ANY(%s)",
                [list(READERS), list(MEMBER_REFERENCE_COLUMNS)]).fetchall():
            cur = conn.execute(sql.SQL("UPDATE {} SET {} = NULL WHERE {} = ANY(%s)").format(
                sql.Identifier(schema, table), sql.Identifier(column), sql.Identifier(column)),
                [members])
            if cur.rowcount:
                counts[f"{schema}.{table}.{column}"] = cur.rowcount
    return counts

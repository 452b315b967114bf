"""Print what a warehouse holds: tables per schema with row counts, and quarantine reasons.

`make demo` ends with this so a newcomer sees what was built without opening a SQL shell.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.lib.platform.warehouse import connect


def describe(path: Path) -> str:
    lines = [f"Warehouse {path}"]
    with connect(path, read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY table_schema, table_name"
        ).fetchall()
        current = None
        for schema, name, kind in tables:
            if schema != current:
                lines.append(f"  {schema}")
                current = schema
            n = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchall()[0][0]
            label = "view" if kind == "VIEW" else "table"
            lines.append(f"    {name:<58} {n:>12,} rows ({label})")
        if any(s == "quarantine" for s, _, _ in tables):
            lines.append("  quarantined rows by channel/entity:")
            for ch, ent, n in con.execute(
                "SELECT channel, entity, count(*) FROM quarantine.rejected_rows "
                "GROUP BY ALL ORDER BY 1, 2"
            ).fetchall():
                lines.append(f"    {ch + '/' + ent:<58} {n:>12,}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(Path(sys.argv[1])))

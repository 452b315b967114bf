"""Export the `bi` schema alone into its own DuckDB file: the only real way to restrict a BI
tool to those views (DuckDB has no users or GRANTs; see docs/bi-access.md).

The export is written to a temporary file and renamed over the previous one, so a BI tool
that opens it read-only sees yesterday's file or today's, never a partial one; it is created
owner-only (0600) like the warehouse (PIPL). Usage:

    python -m pipelines.lib.bi_export <warehouse.duckdb> <bi.duckdb>
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb

from pipelines.lib.warehouse import connection_config

BI_SCHEMA = "bi"


def bi_relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND table_catalog = current_database() ORDER BY 1", [BI_SCHEMA]).fetchall()]


def export_bi(warehouse: Path, out: Path) -> dict[str, int]:
    """Materialise every `bi` view as a table in `out`; returns rows per table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    rows: dict[str, int] = {}
    with duckdb.connect() as src:  # in-memory: the warehouse read-only, the export writable
        src.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        src.execute("USE wh")
        names = bi_relations(src)
        if not names:
            raise RuntimeError(f"{warehouse} has no `{BI_SCHEMA}` views; run `siyu run` first")
        old_umask = os.umask(0o077)  # owner-only from the moment DuckDB creates the file
        try:
            src.execute(f"ATTACH '{tmp}' AS bi_out (STORAGE_VERSION "
                        f"'{connection_config()['storage_compatibility_version']}')")
        finally:
            os.umask(old_umask)
        for name in names:
            src.execute(f'CREATE TABLE bi_out.main."{name}" AS SELECT * FROM {BI_SCHEMA}."{name}"')
            rows[name] = src.execute(f'SELECT count(*) FROM bi_out.main."{name}"').fetchall()[0][0]
        src.execute("DETACH bi_out")
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    for table, n in export_bi(Path(sys.argv[1]), Path(sys.argv[2])).items():
        print(f"{table}: {n} rows")

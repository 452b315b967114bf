"""Export the BI-facing warehouse (schemas `marts` and `bi`) to Parquet for BI tools and
lakehouse readers that cannot open a DuckDB file.

Layout: `<out>/<schema>/<table>/` with one `data_0.parquet`, or Hive folders
(`order_month=2026-10/…`) for the big facts, so readers prune by month. A `_manifest.json`
lists every table with its row count, columns and partitioning. The export is written to a
sibling folder first and swapped in at the end, so a reader never sees a half-written export;
everything is owner-only (0700 folders, 0600 files) because marts hold personal data (PIPL).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

EXPORT_SCHEMAS = ("marts", "bi")
#: table → (Hive partition column added to the files, timestamp column it is the month of)
HIVE_PARTITIONS = {
    "fct_orders": ("order_month", "ordered_at"),
    "member_growth_ledger": ("event_month", "event_at"),
}
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class ExportedTable:
    schema: str
    name: str
    kind: str  # BASE TABLE or VIEW
    rows: int
    columns: tuple[str, ...]
    partition_by: str | None

    @property
    def relpath(self) -> str:
        return f"{self.schema}/{self.name}"


@dataclass
class ExportResult:
    out: Path
    tables: list[ExportedTable] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.out.rglob("*.parquet"))


def default_export_dir(warehouse: Path) -> Path:
    """`SIYU_EXPORT_DIR`, else `export/` beside the warehouse file."""
    return Path(os.environ.get("SIYU_EXPORT_DIR", warehouse.parent / "export")).resolve()


def exportable_relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, name, table_type) of every table and view in the exported schemas."""
    marks = ", ".join("?" for _ in EXPORT_SCHEMAS)
    return [tuple(r) for r in con.execute(
        f"SELECT table_schema, table_name, table_type FROM information_schema.tables "
        f"WHERE table_catalog = current_database() AND table_schema IN ({marks}) "
        f"ORDER BY 1, 2", list(EXPORT_SCHEMAS)).fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> tuple[str, ...]:
    return tuple(r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
        "current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name]).fetchall())


def _quote_path(p: Path) -> str:
    return str(p).replace("'", "''")


def _export_one(con: duckdb.DuckDBPyConnection, schema: str, name: str, kind: str,
                target: Path) -> ExportedTable:
    cols = _columns(con, schema, name)
    rel = f'"{schema}"."{name}"'
    part_col, source = HIVE_PARTITIONS.get(name, (None, None))
    target.mkdir(parents=True)
    if part_col and source in cols:
        month = f"coalesce(strftime(\"{source}\", '%Y-%m'), 'unknown')"
        con.execute(f"COPY (SELECT *, {month} AS {part_col} FROM {rel}) TO "
                    f"'{_quote_path(target)}' (FORMAT parquet, PARTITION_BY ({part_col}))").fetchall()
    else:
        part_col = None
        con.execute(f"COPY (SELECT * FROM {rel}) TO '{_quote_path(target / 'data_0.parquet')}' "
                    "(FORMAT parquet)").fetchall()
    rows = con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0][0]
    return ExportedTable(schema, name, kind, rows, cols, part_col)


@contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _restrict(root: Path) -> None:
    os.chmod(root, 0o700)
    for p in root.rglob("*"):
        os.chmod(p, 0o700 if p.is_dir() else 0o600)


def export_parquet(con: duckdb.DuckDBPyConnection, out: Path) -> ExportResult:
    """Write every table/view of `marts` and `bi` under `out`, replacing a previous export."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    result = ExportResult(out)
    with _private_umask():
        staging.mkdir()
        for schema, name, kind in exportable_relations(con):
            result.tables.append(_export_one(con, schema, name, kind, staging / schema / name))
        (staging / MANIFEST).write_text(json.dumps(
            {"tables": [{"schema": t.schema, "name": t.name, "type": t.kind, "rows": t.rows,
                         "columns": list(t.columns), "path": t.relpath,
                         "hive_partition": t.partition_by} for t in result.tables]},
            indent=2), encoding="utf-8")
        _restrict(staging)
        previous = out.with_name(out.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        if out.exists():
            out.rename(previous)
        staging.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
    return result


def read_exported(con: duckdb.DuckDBPyConnection, out: Path, table: ExportedTable) -> str:
    """SQL that reads an exported table back with the warehouse's columns (for checks)."""
    folder = _quote_path(out / table.schema / table.name)
    if table.partition_by:
        cols = ", ".join(f'"{c}"' for c in table.columns)
        return (f"SELECT {cols} FROM read_parquet('{folder}/**/*.parquet', "
                "hive_partitioning = true)")
    return f"SELECT * FROM read_parquet('{folder}/*.parquet')"


def export_markdown(result: ExportResult) -> str:
    lines = ["| table | type | rows | partitioned by |", "|---|---|---|---|"]
    lines += [f"| {t.relpath} | {t.kind.lower()} | {t.rows:,} | {t.partition_by or ''} |"
              for t in result.tables]
    return "\n".join(lines)

"""Export the BI-facing warehouse (schemas `marts` and `bi`) to Parquet for BI tools and
lakehouse readers that cannot open a DuckDB file.

Layout: `<out>/<schema>/<table>/` with one `data_0.parquet`, or Hive folders
(`order_month=2026-10/…`) for the big facts, so readers prune by month. A `_manifest.json`
lists every table with its row count, columns and partitioning. The export is written to a
sibling folder first and swapped in at the end, so a reader never sees a half-written export;
everything is owner-only (0700 folders, 0600 files) because marts hold personal data (PIPL).

Nightly cost follows the night, not the history, for the partitioned facts: each month's rows
get a fingerprint (row count and the sum of the rows' 64-bit hashes, kept in the manifest), and
a month whose fingerprint and columns match the previous export is hard-linked from it instead
of being written again. A night rewrites the months it touched, usually one or two.
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

from pipelines.lib.platform.warehouse import unordered_writes

EXPORT_SCHEMAS = ("marts", "bi")
#: table → (Hive partition column added to the files, timestamp column it is the month of)
HIVE_PARTITIONS = {
    "fct_orders": ("order_month", "ordered_at"),
    "member_growth_ledger": ("event_month", "event_at"),
    "orders": ("order_month", "ordered_at"),  # bi.orders, fct_orders for BI
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
    #: partition value → fingerprint (see module doc); None when not partitioned
    partitions: dict[str, str] | None = None
    reused_partitions: int = 0

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


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem or no hard links: a copy is still correct
        shutil.copy2(src, dst)


def _partition_fingerprints(con: duckdb.DuckDBPyConnection, rel: str, month: str
                            ) -> dict[str, str]:
    """partition value → 'rows:sum of row hashes' (order-independent; a changed, added or
    removed row changes it)."""
    return {m: f"{n}:{h}" for m, n, h in con.execute(
        f"SELECT {month} AS m, count(*), sum(hash(r)::HUGEINT) FROM {rel} AS r "
        "GROUP BY 1").fetchall()}


def _export_one(con: duckdb.DuckDBPyConnection, schema: str, name: str, kind: str,
                target: Path, previous: dict | None = None,
                previous_dir: Path | None = None) -> ExportedTable:
    """Write one relation under `target`; reuse unchanged partitions of the previous export
    (`previous` is its manifest entry, `previous_dir` its folder)."""
    cols = _columns(con, schema, name)
    rel = f'"{schema}"."{name}"'
    part_col, source = HIVE_PARTITIONS.get(name, (None, None))
    target.mkdir(parents=True)
    if part_col and source in cols:
        month = f"coalesce(strftime(\"{source}\", '%Y-%m'), 'unknown')"
        fingerprints = _partition_fingerprints(con, rel, month)
        old = (previous or {}).get("partitions") or {}
        same_shape = previous is not None and tuple(previous.get("columns", ())) == cols \
            and previous.get("hive_partition") == part_col and previous_dir is not None
        reuse = sorted(m for m, fp in fingerprints.items()
                       if same_shape and old.get(m) == fp
                       and (previous_dir / f"{part_col}={m}").is_dir())
        fresh = sorted(set(fingerprints) - set(reuse))
        if fresh:
            con.execute(f"COPY (SELECT *, {month} AS {part_col} FROM {rel} "
                        f"WHERE list_contains(?, {month})) TO '{_quote_path(target)}' "
                        f"(FORMAT parquet, PARTITION_BY ({part_col}))", [fresh]).fetchall()
        for m in reuse:
            shutil.copytree(previous_dir / f"{part_col}={m}", target / f"{part_col}={m}",
                            copy_function=_link_or_copy)
        rows = sum(int(fp.split(":")[0]) for fp in fingerprints.values())
        return ExportedTable(schema, name, kind, rows, cols, part_col, fingerprints, len(reuse))
    # COPY returns the rows it wrote: no second scan (member_tags is an 18 M-row view)
    rows = con.execute(f"COPY (SELECT * FROM {rel}) TO "
                       f"'{_quote_path(target / 'data_0.parquet')}' (FORMAT parquet)").fetchall()[0][0]
    return ExportedTable(schema, name, kind, rows, cols, None)


def _previous_manifest(out: Path) -> dict[str, dict]:
    """relpath → manifest entry of the export at `out`; {} when there is none or it is
    unreadable (then everything is written)."""
    try:
        tables = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["tables"]
        return {t["path"]: t for t in tables}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


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
    previous_tables = _previous_manifest(out)
    with _private_umask():
        staging.mkdir()
        # rows written in parallel, not in scan order: ≈ 10 % of the export at 1M members
        # (member_tags, 18 M rows: 6.0 → 4.1 s); a Parquet file's row order means nothing
        with unordered_writes(con):
            for schema, name, kind in exportable_relations(con):
                relpath = f"{schema}/{name}"
                result.tables.append(_export_one(
                    con, schema, name, kind, staging / schema / name,
                    previous_tables.get(relpath), out / schema / name))
        (staging / MANIFEST).write_text(json.dumps(
            {"tables": [{"schema": t.schema, "name": t.name, "type": t.kind, "rows": t.rows,
                         "columns": list(t.columns), "path": t.relpath,
                         "hive_partition": t.partition_by, "partitions": t.partitions}
                        for t in result.tables]},
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
    lines = ["| table | type | rows | partitioned by | partitions rewritten |",
             "|---|---|---|---|---|"]
    lines += [f"| {t.relpath} | {t.kind.lower()} | {t.rows:,} | {t.partition_by or ''} | "
              + (f"{len(t.partitions) - t.reused_partitions} of {len(t.partitions)}"
                 if t.partitions is not None else "") + " |"
              for t in result.tables]
    return "\n".join(lines)

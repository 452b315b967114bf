"""Writers for validated landing data: the DuckDB warehouse, or Parquet for a Spark lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lib.ingest.loader import Sink
from pipelines.lib.ingest.specs import EntitySpec
from pipelines.lib.privacy.forget import apply_suppression

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine.rejected_rows (
    channel VARCHAR NOT NULL, entity VARCHAR NOT NULL, source_file VARCHAR NOT NULL,
    source_line BIGINT, raw_record VARCHAR, reason VARCHAR NOT NULL, dt DATE,
    ingested_at TIMESTAMP NOT NULL
)"""
LOAD_LOG_DDL = """
CREATE TABLE IF NOT EXISTS raw._load_log (
    channel VARCHAR, entity VARCHAR, dt DATE, source_file VARCHAR, file_sha256 VARCHAR,
    rows_in BIGINT, rows_accepted BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP
)"""


def _dt_filter(column: str, dts: list[date | None]) -> str:
    real = [d for d in dts if d is not None]
    parts = []
    if real:
        parts.append(f"{column} IN ({', '.join(repr(d.isoformat()) for d in real)})")
    if any(d is None for d in dts):
        parts.append(f"{column} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


class DuckDBSink(Sink):
    """Replace whole days of an entity inside one transaction of the warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def ensure_tables(self, spec: EntitySpec, tables) -> None:
        con = self.con
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for name, table in tables.items():
            con.register("_incoming", table)
            con.execute(f"CREATE TABLE IF NOT EXISTS raw.{name} AS SELECT * FROM _incoming LIMIT 0")
            con.unregister("_incoming")

    def replace_days(self, spec: EntitySpec, dts, tables, rejected, load_log) -> None:
        con = self.con
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
        con.execute(QUARANTINE_DDL)
        con.execute(LOAD_LOG_DDL)
        con.execute("BEGIN TRANSACTION")
        try:
            for name, table in tables.items():
                con.register("_incoming", table)
                con.execute(f"CREATE TABLE IF NOT EXISTS raw.{name} AS SELECT * FROM _incoming LIMIT 0")
                con.execute(f"DELETE FROM raw.{name} WHERE {_dt_filter('_dt', dts)}")
                con.execute(f"INSERT INTO raw.{name} BY NAME SELECT * FROM _incoming")
                con.unregister("_incoming")
            where = (
                f"channel = '{spec.channel}' AND entity = '{spec.entity}' AND {_dt_filter('dt', dts)}"
            )
            con.execute(f"DELETE FROM quarantine.rejected_rows WHERE {where}")
            con.register("_rej", rejected)
            con.execute("INSERT INTO quarantine.rejected_rows BY NAME SELECT * FROM _rej")
            con.unregister("_rej")
            # erased people stay erased when their landing files are read again (PIPL Art. 47)
            apply_suppression(con, list(tables), quarantine_filter=where)
            con.execute(f"DELETE FROM raw._load_log WHERE {where}")
            con.register("_log", load_log)
            con.execute("INSERT INTO raw._load_log BY NAME SELECT * FROM _log")
            con.unregister("_log")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


#: Hive's folder name for a null partition value (Spark reads it back as null).
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def lake_location(lake_dir: Path, table: str) -> Path:
    """Folder of one lake table `schema.name` (the Spark target registers it there)."""
    schema, name = table.split(".")
    return lake_dir / schema / name


def _atomic_write(table: pa.Table, path: Path) -> None:
    """Write next to the target, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    pq.write_table(table, tmp)
    tmp.replace(path)


def _day_mask(col: pa.ChunkedArray, dt: date | None) -> pa.ChunkedArray:
    return pc.is_null(col) if dt is None else pc.fill_null(
        pc.equal(col, pa.scalar(dt, pa.date32())), False)


class ParquetSink(Sink):
    """The Spark target's landing format: Parquet under `<lake>/<schema>/<table>/`.

    * raw entity tables: one file per day in a Hive partition `_dt=<day>/part-0.parquet` (the
      day lives in the folder name; Spark rejects a partition column that is also a data
      column). Replacing a day replaces its file.
    * reference tables (no business day): one unpartitioned `part-0.parquet` that keeps the
      null `_dt` column, since a table whose only partition is null has no type in Spark.
    * `quarantine.rejected_rows` and `raw._load_log`: shared by every entity, partitioned by
      `dt=<day>` with one file per entity (`<channel>__<entity>.parquet`), so replacing an
      entity's day touches only that entity's file.

    Every write is a whole file renamed into place. Empty files are written too: they carry
    the schema, so a table with no rows yet can still be registered.
    """

    def __init__(self, lake_dir: Path):
        self.lake_dir = lake_dir

    def _write_days(self, table_name: str, table: pa.Table, dts, column: str,
                    file_name: str) -> None:
        folder = lake_location(self.lake_dir, table_name)
        if all(dt is None for dt in dts) and column == "_dt":
            _atomic_write(table, folder / file_name)
            return
        for dt in dts:
            key = dt.isoformat() if dt is not None else HIVE_NULL_PARTITION
            part = table.filter(_day_mask(table.column(column), dt)).drop_columns([column])
            _atomic_write(part, folder / f"{column}={key}" / file_name)

    def ensure_tables(self, spec: EntitySpec, tables) -> None:
        """An empty file in the null partition: it carries the schema Spark registers."""
        for name, table in tables.items():
            folder = lake_location(self.lake_dir, f"raw.{name}")
            if not folder.exists():
                target = folder / ("part-0.parquet" if spec.channel == "reference" else
                                   f"_dt={HIVE_NULL_PARTITION}/part-0.parquet")
                t = table if spec.channel == "reference" else table.drop_columns(["_dt"])
                _atomic_write(t, target)

    def replace_days(self, spec: EntitySpec, dts, tables, rejected, load_log) -> None:
        for name, table in tables.items():
            self._write_days(f"raw.{name}", table, dts, "_dt", "part-0.parquet")
        self._write_days("quarantine.rejected_rows", rejected, dts, "dt", f"{spec.name}.parquet")
        self._write_days("raw._load_log", load_log, dts, "dt", f"{spec.name}.parquet")

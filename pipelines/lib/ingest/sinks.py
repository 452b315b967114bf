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
from pipelines.lib.privacy import apply_suppression

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


class ParquetSink(Sink):
    """One Parquet file per table and day under `<lake>/<schema>/<table>/_dt=<day>/`.

    Replacing a day is replacing its folder (write to a temp name, then rename), which Spark
    reads as a partitioned table; this is the Spark target's landing format.
    """

    def __init__(self, lake_dir: Path):
        self.lake_dir = lake_dir

    def _write(self, folder: Path, table: pa.Table, dts) -> None:
        for dt in dts:
            key = dt.isoformat() if dt is not None else "none"
            part = folder / f"_dt={key}"
            col = table.column("_dt" if "_dt" in table.column_names else "dt")
            mask = pc.is_null(col) if dt is None else pc.equal(col, pa.scalar(dt, pa.date32()))
            # the day lives in the folder name (Hive partition), not in the file: Spark
            # rejects a partition column that is also a data column
            sub = table.filter(mask).drop_columns(["_dt" if "_dt" in table.column_names else "dt"])
            tmp = folder / f".tmp-_dt={key}"
            tmp.mkdir(parents=True, exist_ok=True)
            pq.write_table(sub, tmp / "part-0.parquet")
            if part.exists():
                for f in part.iterdir():
                    f.unlink()
                part.rmdir()
            tmp.rename(part)

    def replace_days(self, spec: EntitySpec, dts, tables, rejected, load_log) -> None:
        for name, table in tables.items():
            self._write(self.lake_dir / "raw" / name, table, dts)
        self._write(self.lake_dir / "quarantine" / f"rejected_rows__{spec.name}", rejected, dts)
        self._write(self.lake_dir / "raw" / f"_load_log__{spec.name}", load_log, dts)

"""Writers for validated landing data: the DuckDB warehouse, or Parquet for a Spark lake.

Both sinks migrate, once, what an older version stored in clear: customers' names
(`LEGACY_NAME_COLUMNS`). Before issue 21 raw kept the POS `name`, Tmall `buyer_nick`,
mini-program `nickname`, WeCom contact `name` and follow-user `remark` (mobiles redacted),
and the quarantine text kept the names of rejected rows. The migration, before the entity's
first load by this version:

* the POS name becomes `name_hash` (the same keyed hash ingestion computes, of the stored,
  trimmed name), the other clear columns are dropped;
* the entity's quarantine records get `[name]` for every personal-name key
  (`names.sql_redact_name_keys`); a record that is not a JSON object (a CSV line the parser
  could not split, a malformed JSON line) loses its text, as new ones do;
* DuckDB only: staging tables that still hold a clear name column are dropped, and dbt
  rebuilds them from the migrated raw tables that night (they are incremental with
  `on_schema_change='fail'`, so the new shape could not be merged into them); then a
  CHECKPOINT writes the change into the warehouse file (docs/quality-and-privacy.md, "Names",
  says what the file still holds afterwards).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lib.ingest.loader import Sink
from pipelines.lib.ingest.specs import EntitySpec
from pipelines.lib.ingest.validate import BLANKS, q
from pipelines.lib.platform.warehouse import apply_limits
from pipelines.lib.privacy import names
from pipelines.lib.privacy.forget import ERASED_RECORD, apply_suppression

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


#: entity → raw table → clear-name column of an older version → the hash column it becomes
#: (None: dropped). Staging tables listed with the clear column they held.
LEGACY_NAME_COLUMNS: dict[str, dict[str, dict[str, str | None]]] = {
    "pos__members": {"pos__members": {"name": "name_hash"}},
    "tmall__orders": {"tmall__orders": {"buyer_nick": None}},
    "miniprogram__users": {"miniprogram__users": {"nickname": None}},
    "wecom__external_contacts": {"wecom__external_contacts": {"name": None},
                                 "wecom__external_contacts__follow_users": {"remark": None}},
}
LEGACY_STAGING_NAME_COLUMNS: dict[str, dict[str, str]] = {
    "pos__members": {"stg_pos__members": "member_name"},
    "tmall__orders": {"stg_tmall__orders": "buyer_nick"},
    "miniprogram__users": {"stg_miniprogram__users": "nickname"},
    "wecom__external_contacts": {"stg_wecom__external_contacts": "contact_name",
                                 "stg_wecom__follow_users": "remark"},
}


def _migrated_columns_sql(legacy: dict[str, str | None], present: list[str]) -> str:
    """SELECT list turning a table's clear-name columns into what this version stores."""
    drop = [q(c) for c in legacy if c in present]
    hashes = [f"{names.sql_name_hash(_trimmed(c))} AS {q(new)}" for c, new in legacy.items()
              if c in present and new]
    return ", ".join([f"* EXCLUDE ({', '.join(drop)})", *hashes])


def _trimmed(column: str) -> str:
    return f"nullif(trim({q(column)}, {BLANKS}), '')"


def _redacted_record(spec: EntitySpec, column: str = "raw_record") -> str:
    """SQL: a stored quarantine record with the entity's personal names replaced; a record
    that is not a JSON object (a raw line) has no record any more; erasure marks stay."""
    return (f"CASE WHEN {column} IS NULL OR {column} = '{ERASED_RECORD}' THEN {column} "
            f"WHEN json_valid({column}) AND json_type({column}) = 'OBJECT' "
            f"THEN {names.sql_redact_name_keys(column, spec.personal_names)} END")


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

    def prepare(self, spec: EntitySpec, name_key: str | None) -> None:
        """The one-time migration of clear names (module docstring); a no-op once done."""
        legacy = LEGACY_NAME_COLUMNS.get(spec.name, {})
        staging = LEGACY_STAGING_NAME_COLUMNS.get(spec.name, {})
        if not legacy and not staging:
            return
        con = self.con
        found = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND ((table_schema = 'raw' AND "
            "table_name = ANY(?) AND column_name = ANY(?)) OR (table_schema = 'staging' AND "
            "table_name = ANY(?) AND column_name = ANY(?)))",
            [list(legacy), sorted({c for cols in legacy.values() for c in cols}),
             list(staging), sorted(set(staging.values()))]).fetchall()
        raw_cols: dict[str, list[str]] = {}
        for schema, table, column in found:
            if schema == "raw" and column in legacy[table]:
                raw_cols.setdefault(table, []).append(column)
        stale = sorted({t for schema, t, c in found if schema == "staging" and staging[t] == c})
        if not raw_cols and not stale:
            return
        kinds = dict(con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'staging'").fetchall())
        names.set_key(con, name_key)
        con.execute("BEGIN TRANSACTION")
        try:
            if raw_cols and _exists(con, "quarantine", "rejected_rows"):
                con.execute(f"UPDATE quarantine.rejected_rows SET raw_record = "
                            f"{_redacted_record(spec)} WHERE channel = ? AND entity = ? "
                            "AND raw_record IS NOT NULL", [spec.channel, spec.entity])
            for table, present in raw_cols.items():
                select = _migrated_columns_sql(legacy[table], present)
                con.execute(f"CREATE OR REPLACE TABLE raw.{table} AS SELECT {select} "
                            f"FROM raw.{table}")
            for table in stale:
                kind = "VIEW" if kinds.get(table) == "VIEW" else "TABLE"
                con.execute(f"DROP {kind} IF EXISTS staging.{table}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            names.set_key(con, None)
        # write the change into the file now, not at some later automatic checkpoint
        con.execute("CHECKPOINT")

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


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ?", [schema, table]).fetchall()[0][0])


#: Hive's folder name for a null partition value (Spark reads it back as null).
#: In a lake table's folder: its files hold no clear name (ParquetSink.prepare).
MIGRATED_MARKER = ".names-hashed"
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

    def prepare(self, spec: EntitySpec, name_key: str | None) -> None:
        """The one-time migration of clear names (module docstring) in the lake's files.

        Every Parquet file of the entity's raw tables is read once for its schema; a marker
        file (`MIGRATED_MARKER`, hidden from Spark by its leading dot) in the entity's raw
        folder records that the lake holds no clear name, so later nights read nothing.
        The quarantine files are rewritten first: a raw file with a clear column marks the
        entity as not migrated, so a migration killed half-way is completed the next time.
        """
        legacy = LEGACY_NAME_COLUMNS.get(spec.name)
        folder = lake_location(self.lake_dir, f"raw.{spec.name}")
        marker = folder / MIGRATED_MARKER
        if not legacy or marker.exists() or not folder.exists():
            return
        stale = {table: [(p, [c for c in cols if c in pq.read_schema(p).names])
                         for p in sorted(lake_location(self.lake_dir, f"raw.{table}").rglob("*.parquet"))
                         if not p.name.startswith(".")]
                 for table, cols in legacy.items()}
        stale = {t: [(p, c) for p, c in files if c] for t, files in stale.items()}
        con = apply_limits(duckdb.connect())
        try:
            names.set_key(con, name_key)
            if any(stale.values()):
                quarantine = lake_location(self.lake_dir, "quarantine.rejected_rows")
                for path in sorted(quarantine.rglob(f"{spec.name}.parquet")):
                    self._rewrite(con, path, f"* REPLACE ({_redacted_record(spec)} AS raw_record)")
            for table, files in stale.items():
                for path, present in files:
                    self._rewrite(con, path, _migrated_columns_sql(legacy[table], present))
        finally:
            con.close()
        marker.write_text("customers' names stored as hashes only (issue 21)\n", encoding="utf-8")

    @staticmethod
    def _rewrite(con: duckdb.DuckDBPyConnection, path: Path, select: str) -> None:
        con.register("_file", pq.read_table(path))
        table = con.sql(f"SELECT {select} FROM _file").to_arrow_table()
        con.unregister("_file")
        _atomic_write(table, path)

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

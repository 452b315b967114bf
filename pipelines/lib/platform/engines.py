"""The warehouse seen from the Python steps, on either dbt target: a handful of table operations.

The identity and LTV steps read dbt models as Arrow, run the same Python, and write their
results back as tables that dbt reads as sources. Only these operations differ per engine:

* `read_arrow(sql)`: a query's result as an Arrow table (naive timestamps on both engines);
* `create_table_if_missing(table, schema)`: an empty table from an Arrow schema;
* `replace_rows(table, keep, rows)`: keep the rows matching the SQL predicate `keep`, add
  `rows` (by column name). With `keep=None` the table's content becomes `rows`;
* `replace_keyed(table, keys, where, rows)`: delete the rows matching the SQL predicate
  `where` whose key columns (the columns of `keys`) equal a row of `keys`, add `rows`: a
  delta write, for tables where a night changes a few keys out of millions (`where` must not
  name a key column: it is left unqualified);
* `create_table_as(table, select)`: (re)create a table from a query;
* `has_table(table)`, `drop_table(table)`;
* `transaction()`: one atomic unit on DuckDB; on Spark (no multi-table transactions for
  Parquet tables) a plain block: the steps are idempotent, so a failed run is repaired by
  running it again.

SQL passed in must be portable (plain SELECT, no engine functions): literals as `DATE '…'`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import pyarrow as pa


class Engine(Protocol):
    name: str

    def read_arrow(self, sql: str) -> pa.Table: ...

    def create_table_if_missing(self, table: str, schema: pa.Schema) -> None: ...

    def replace_rows(self, table: str, keep: str | None, rows: pa.Table) -> None: ...

    def replace_keyed(self, table: str, keys: pa.Table, where: str, rows: pa.Table) -> None: ...

    def create_table_as(self, table: str, select: str) -> None: ...

    def has_table(self, table: str) -> bool: ...

    def drop_table(self, table: str) -> None: ...

    def transaction(self) -> Iterator[None]: ...


def naive_timestamps(table: pa.Table) -> pa.Table:
    """Drop the time zone from timestamp columns, keeping the wall-clock value.

    Spark returns TIMESTAMP as UTC-zoned Arrow; with the session time zone UTC the UTC value
    is the naive wall-clock value DuckDB returns, so dropping the zone makes both alike.
    """
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit), f.nullable)
        if pa.types.is_timestamp(f.type) and f.type.tz is not None
        else pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type,
                      f.nullable)
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def spark_type(t: pa.DataType) -> str:
    """Spark SQL type name of an Arrow type (the types the Python steps write)."""
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    names = {pa.string(): "STRING", pa.large_string(): "STRING", pa.date32(): "DATE",
             pa.int64(): "BIGINT", pa.int32(): "INT", pa.float64(): "DOUBLE",
             pa.bool_(): "BOOLEAN"}
    if t not in names:
        raise TypeError(f"no Spark type for Arrow {t}")
    return names[t]


def _schema_and_name(table: str) -> tuple[str, str]:
    schema, name = table.split(".")
    return schema, name


class DuckDBEngine:
    """A DuckDB connection (the warehouse file)."""

    name = "duckdb"

    def __init__(self, con):
        self.con = con

    def read_arrow(self, sql: str) -> pa.Table:
        return naive_timestamps(self.con.sql(sql).to_arrow_table())

    def create_table_if_missing(self, table: str, schema: pa.Schema) -> None:
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_schema_and_name(table)[0]}")
        self.con.register("_siyu_empty", schema.empty_table())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _siyu_empty")
        self.con.unregister("_siyu_empty")

    def replace_rows(self, table: str, keep: str | None, rows: pa.Table) -> None:
        self.con.execute(f"DELETE FROM {table}" + (f" WHERE NOT ({keep})" if keep else ""))
        self._insert(table, rows)

    def _insert(self, table: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self.con.register("_siyu_rows", rows)
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _siyu_rows")
            self.con.unregister("_siyu_rows")

    def replace_keyed(self, table: str, keys: pa.Table, where: str, rows: pa.Table) -> None:
        if keys.num_rows:
            self.con.register("_siyu_keys", keys)
            match = " AND ".join(f'_siyu_keys."{c}" IS NOT DISTINCT FROM {table}."{c}"'
                                for c in keys.column_names)
            self.con.execute(f"DELETE FROM {table} USING _siyu_keys WHERE ({where}) AND {match}")
            self.con.unregister("_siyu_keys")
        self._insert(table, rows)

    def create_table_as(self, table: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {table} AS {select}")

    def has_table(self, table: str) -> bool:
        schema, name = _schema_and_name(table)
        return bool(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ? AND table_catalog = current_database()",
            [schema, name]).fetchall()[0][0])

    def drop_table(self, table: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {table}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")


class SparkEngine:
    """A Spark session (Spark Connect): tables are Parquet tables in the Spark catalog."""

    name = "spark"

    def __init__(self, session):
        self.spark = session

    def read_arrow(self, sql: str) -> pa.Table:
        return naive_timestamps(self.spark.sql(sql).toArrow())

    def _exists(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(table))

    def _frame(self, rows: pa.Table, like: str):
        """`rows` as a DataFrame with the target table's columns, in its order and types."""
        schema = self.spark.table(like).schema
        # an empty frame must not read the target (Spark refuses to overwrite what it reads)
        df = self.spark.createDataFrame(rows) if rows.num_rows else \
            self.spark.createDataFrame([], schema)
        return df.select(*[df[f.name].cast(f.dataType).alias(f.name) for f in schema])

    def create_table_if_missing(self, table: str, schema: pa.Schema) -> None:
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {_schema_and_name(table)[0]}")
        columns = ", ".join(f"{f.name} {spark_type(f.type)}" for f in schema)
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {table} ({columns}) USING parquet")

    def replace_rows(self, table: str, keep: str | None, rows: pa.Table) -> None:
        """Rewrite through a staging table: Spark cannot overwrite a table it reads from."""
        new = self._frame(rows, table)
        if keep is None:
            new.write.format("parquet").mode("overwrite").saveAsTable(table)
            return
        staging = f"{table}__siyu_rewrite"
        self.spark.sql(f"DROP TABLE IF EXISTS {staging}")
        self.spark.sql(f"SELECT * FROM {table} WHERE {keep}").unionByName(new) \
            .write.format("parquet").saveAsTable(staging)
        self.spark.sql(f"DROP TABLE {table}")
        self.spark.sql(f"ALTER TABLE {staging} RENAME TO {table}")

    def replace_keyed(self, table: str, keys: pa.Table, where: str, rows: pa.Table) -> None:
        """One rewrite through a staging table: the rows an anti join keeps, plus `rows`."""
        if not keys.num_rows:
            if rows.num_rows:
                self._frame(rows, table).write.format("parquet").mode("append") \
                    .saveAsTable(table)
            return
        self.spark.createDataFrame(keys).createOrReplaceTempView("_siyu_keys")
        match = " AND ".join(f"k.`{c}` <=> t.`{c}`" for c in keys.column_names)
        kept = self.spark.sql(f"SELECT t.* FROM {table} AS t LEFT ANTI JOIN _siyu_keys AS k "
                              f"ON {match} AND ({where})")
        staging = f"{table}__siyu_rewrite"
        self.spark.sql(f"DROP TABLE IF EXISTS {staging}")
        kept.unionByName(self._frame(rows, table)).write.format("parquet").saveAsTable(staging)
        self.spark.catalog.dropTempView("_siyu_keys")
        self.spark.sql(f"DROP TABLE {table}")
        self.spark.sql(f"ALTER TABLE {staging} RENAME TO {table}")

    def create_table_as(self, table: str, select: str) -> None:
        self.spark.sql(f"DROP TABLE IF EXISTS {table}")
        self.spark.sql(f"CREATE TABLE {table} USING parquet AS {select}")

    def has_table(self, table: str) -> bool:
        return self._exists(table)

    def drop_table(self, table: str) -> None:
        self.spark.sql(f"DROP TABLE IF EXISTS {table}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

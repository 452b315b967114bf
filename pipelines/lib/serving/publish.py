"""One gate into the serving PostgreSQL: a night's checked marts and `bi` relations, copied
from DuckDB and swapped in whole, so a BI reader sees yesterday's data or tonight's — never a
mix, never a half-loaded table — and neither side waits for the other.

1. Leftovers of an earlier publish (`<schema>__staging`, `<schema>__old…`) are dropped.
2. Load, one transaction: each relation is copied into `<schema>__staging` with a binary COPY
   (pgpq encodes DuckDB's Arrow batches; the DDL comes from the same Arrow schema, so types
   match exactly; DuckDB types pgpq cannot encode are cast first — see `duck_select`), indexed
   on the BI access paths (`INDEX_COLUMNS`), analysed, granted and — with store roles
   configured — given row-level security (roles.py). Grants and policies travel with the
   schema on rename.
3. Swap, one short transaction: every live schema named by the publish is renamed to
   `<schema>__old_<n>`, its staging schema to the live name, and the row of `serving.publishes`
   (run id, as-of day, row counts, totals) is inserted — so the log says exactly what is live.
   A schema rename takes no table locks: a reader's running query keeps the old tables; its
   next statement reads the new ones.
4. The old schemas are dropped in their own transactions with a 100 ms lock timeout, retried
   while a long reader still holds an old table (left for the next publish after ~10 s), and a
   `CHECKPOINT` keeps crash recovery short.

A failure before the swap leaves the live schemas untouched: the load transaction rolls back.

Readers should send single statements (autocommit) or use READ COMMITTED, as BI tools do: a
REPEATABLE READ transaction that spans a swap resolves table names anew but keeps its old
snapshot, and then sees the new tables empty.

`bi` is published as tables (copied from DuckDB's `bi` views), not as views over `marts`: a
PostgreSQL view binds the OIDs of the tables it reads, so after a swap it would still read
the old tables (or be dropped with them).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.types.json import Jsonb

from pipelines.lib.serving.roles import (
    MEMBER_HOME_STORE_COLUMNS,
    READERS,
    ROW_STORE_COLUMNS,
    SERVING_SCHEMA,
    STORE_SCHEMAS,
    ensure_roles,
    grant_staging,
    store_roles_from_config,
    validate_store_roles,
)

log = logging.getLogger(__name__)

#: the PostgreSQL schemas a publish may replace
SCHEMAS = tuple(READERS)
STAGING_SUFFIX = "__staging"
OLD_SUFFIX = "__old"
#: BI access paths: each of these columns a table has gets a b-tree index
INDEX_COLUMNS = ("member_id", "as_of_date", "order_month", "month")
#: totals recorded in serving.publishes: "schema.table" → numeric columns summed
DEFAULT_TOTALS: dict[str, tuple[str, ...]] = {
    "bi.orders": ("net_amount",),
    "marts.fct_orders": ("net_amount",),
}
BATCH_ROWS = 100_000
#: relations loaded at a time, each on its own connection (see `_load`)
LOAD_WORKERS = 2
#: the swap waits at most this long for a lock (a DROP of an earlier old schema)
SWAP_LOCK_TIMEOUT = "5s"
DROP_LOCK_TIMEOUT = "100ms"
DROP_TRIES = 50
#: pg_advisory_lock key: one publish at a time per database
_PUBLISH_LOCK = 0x5359_5502

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PublishError(RuntimeError):
    """The tables asked for cannot be published (nothing was changed)."""


@dataclass(frozen=True)
class Served:
    """One relation to serve: the DuckDB relation `source` = (schema, name), published as
    `schema`.`name` (default: the DuckDB name) in PostgreSQL. `index_columns` None = each of
    `INDEX_COLUMNS` the table has; `totals` None = its `DEFAULT_TOTALS` entry."""

    source: tuple[str, str]
    schema: str
    name: str | None = None
    index_columns: tuple[str, ...] | None = None
    totals: tuple[str, ...] | None = None

    @property
    def table(self) -> str:
        return self.name or self.source[1]

    @property
    def target(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class PublishResult:
    publish_id: int
    run_id: str
    as_of: date | None
    published_at: datetime
    row_counts: dict[str, int]  # "schema.table" → rows
    totals: dict[str, dict[str, Any]]  # "schema.table" → column → sum
    seconds: float
    store_access: dict[str, str] = field(default_factory=dict)  # table → how stores see it
    old_dropped: bool = True  # False: a long reader kept an old schema; the next run drops it


def served_from_duckdb(duck: duckdb.DuckDBPyConnection,
                       schemas: Sequence[str] = SCHEMAS) -> list[Served]:
    """Every table of DuckDB's `marts` and every table and view of its `bi` schema (names
    starting with `_` are bookkeeping and skipped), each published under its own schema and
    name, the largest first (the load runs several at a time).

    A *view* in `marts` is a long form of a mart table (`member_tags`: `member_profile` as one
    row per member and tag, 18 M rows at a million members, 38 % of everything a night would
    copy): it is not published; its table is (measured at 1 M members: 47.5 M rows → 29.2 M)."""
    rows = duck.execute(
        "SELECT t.table_schema, t.table_name, t.table_type, coalesce(d.estimated_size, 0) "
        "FROM information_schema.tables t LEFT JOIN duckdb_tables() d "
        "ON d.database_name = t.table_catalog AND d.schema_name = t.table_schema "
        "AND d.table_name = t.table_name "
        "WHERE t.table_catalog = current_database() AND t.table_schema IN "
        f"({', '.join('?' for _ in schemas)}) ORDER BY 4 DESC, 1, 2", list(schemas)).fetchall()
    return [Served((s, n), s) for s, n, kind, _ in rows
            if not n.startswith("_") and not (s == "marts" and kind == "VIEW")]


# ---------------------------------------------------------------------------------------
# types: DuckDB → Arrow → PostgreSQL
# ---------------------------------------------------------------------------------------

#: DuckDB types pgpq encodes as they come out of DuckDB's Arrow export
_PASSTHROUGH = {
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "VARCHAR", "UUID", "JSON", "BLOB", "DATE",
    "TIME", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE",
}
_LIST = re.compile(r"^(?P<elem>[A-Z_ ]+|DECIMAL\(\d+,\s*\d+\))(\[\d*\])$")


def _quote_duck(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duck_expr(column: str, duck_type: str) -> str:
    """The SELECT expression of one column: as it is, or cast to a type pgpq encodes.
    ENUM, INTERVAL, TIME WITH TIME ZONE, BIT, STRUCT, MAP, UNION, BIGNUM, nested lists, the
    NULL type → text; TIMESTAMP_NS → TIMESTAMP (microseconds, as PostgreSQL keeps them)."""
    col = _quote_duck(column)
    t = duck_type.upper()
    if t in _PASSTHROUGH or re.fullmatch(r"DECIMAL\(\d+,\s*\d+\)", t):
        return col
    if t == "TIMESTAMP_NS":
        return f"CAST({col} AS TIMESTAMP) AS {col}"
    m = _LIST.match(t)
    if m and (m["elem"] in _PASSTHROUGH or m["elem"].startswith("DECIMAL")):
        return col
    return f"CAST({col} AS VARCHAR) AS {col}"


def duck_select(duck: duckdb.DuckDBPyConnection, source: tuple[str, str]) -> str:
    rel = duck.sql(f"SELECT * FROM {_quote_duck(source[0])}.{_quote_duck(source[1])}")
    exprs = [duck_expr(c, str(t)) for c, t in zip(rel.columns, rel.types, strict=True)]
    return (f"SELECT {', '.join(exprs)} FROM "
            f"{_quote_duck(source[0])}.{_quote_duck(source[1])}")


def pg_type(t: pa.DataType) -> str:
    """The PostgreSQL column type whose binary COPY format pgpq writes for an Arrow type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if t in (pa.int8(), pa.int16(), pa.uint8()):
        return "smallint"
    if t in (pa.int32(), pa.uint16()):
        return "integer"
    if t in (pa.int64(), pa.uint32()):
        return "bigint"
    if t == pa.uint64():
        return "numeric(20,0)"
    if t == pa.float32():
        return "real"
    if t == pa.float64():
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
            or pa.types.is_fixed_size_binary(t)):
        return "bytea"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pg_type(t.value_type) + "[]"
    raise PublishError(f"no PostgreSQL type for Arrow {t}")


# ---------------------------------------------------------------------------------------
# the publish
# ---------------------------------------------------------------------------------------

def _schemas_like(conn: psycopg.Connection, suffix: str, schemas: Sequence[str]) -> list[str]:
    names = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE ANY(%s) ORDER BY 1",
        [[s.replace("_", r"\_") + suffix.replace("_", r"\_") + "%" for s in schemas]],
    ).fetchall()
    return [n[0] for n in names]


def _drop_schemas(conn: psycopg.Connection, names: Sequence[str], tries: int = DROP_TRIES
                  ) -> bool:
    """DROP … CASCADE in its own short transaction, never queueing long behind a reader
    (a queued DROP would block new readers of those tables); retried. True when dropped."""
    if not names:
        return True
    stmt = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
        sql.SQL(", ").join(map(sql.Identifier, names)))
    for attempt in range(tries):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(DROP_LOCK_TIMEOUT)))
                conn.execute(stmt)
            return True
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(0.05 * (attempt + 1), 0.3))
    log.warning("could not drop %s (readers hold them); the next publish drops them",
                ", ".join(names))
    return False


def _columns(served: Served, schema: pa.Schema) -> dict[str, str]:
    cols = {f.name: pg_type(f.type) for f in schema}
    for c in cols:
        if len(c.encode()) > 63:
            raise PublishError(f"{served.target}: column name {c!r} is longer than "
                               "PostgreSQL's 63 bytes")
    return cols


def _copy(conn: psycopg.Connection, duck: duckdb.DuckDBPyConnection, served: Served,
          staging: str, batch_rows: int) -> tuple[dict[str, str], int]:
    """CREATE TABLE + binary COPY of one relation; returns its columns and row count."""
    from pgpq import ArrowToPostgresBinaryEncoder

    reader = duck.sql(duck_select(duck, served.source)).to_arrow_reader(batch_rows)
    try:
        columns = _columns(served, reader.schema)
        table = sql.Identifier(staging, served.table)
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns.items())))
        encoder = ArrowToPostgresBinaryEncoder(reader.schema)
        rows = 0
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
            table, sql.SQL(", ").join(map(sql.Identifier, columns)))
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.write(encoder.write_header())
            for batch in reader:
                rows += batch.num_rows
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())
    finally:
        reader.close()  # an unfinished DuckDB result blocks the connection's next statement
    return columns, rows


def _index_columns(served: Served, columns: Mapping[str, str], row_security: bool
                   ) -> list[str]:
    if served.index_columns is None:
        wanted = [c for c in INDEX_COLUMNS if c in columns]
    else:
        missing = [c for c in served.index_columns if c not in columns]
        if missing:
            raise PublishError(f"{served.target}: no column {missing} to index")
        wanted = list(served.index_columns)
    if row_security and served.schema in STORE_SCHEMAS:
        # the store roles' policies filter on it
        store = next((c for c in (*ROW_STORE_COLUMNS, *MEMBER_HOME_STORE_COLUMNS)
                      if c in columns), None)
        if store and store not in wanted:
            wanted.append(store)
    return wanted


def _totals(conn: psycopg.Connection, served: Served, staging: str,
            columns: Mapping[str, str]) -> dict[str, Any] | None:
    wanted = served.totals if served.totals is not None else tuple(
        c for c in DEFAULT_TOTALS.get(served.target, ()) if c in columns)
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise PublishError(f"{served.target}: no column {missing} to total")
    if not wanted:
        return None
    # summed in PostgreSQL from the staging table: exactly what goes live (numeric in jsonb)
    row = conn.execute(sql.SQL("SELECT jsonb_build_object({}) FROM {}").format(
        sql.SQL(", ").join(sql.SQL("{}, sum({})").format(sql.Literal(c), sql.Identifier(c))
                           for c in wanted),
        sql.Identifier(staging, served.table))).fetchone()
    return row[0] if row else None


def _check(tables: Sequence[Served]) -> list[str]:
    if not tables:
        raise PublishError("nothing to publish")
    seen: set[str] = set()
    for t in tables:
        if t.schema not in SCHEMAS:
            raise PublishError(f"{t.target}: PostgreSQL schema must be one of {SCHEMAS}")
        if not _NAME.match(t.table):
            raise PublishError(f"{t.target}: not a plain table name")
        if t.target in seen:
            raise PublishError(f"{t.target} is published twice")
        seen.add(t.target)
    return [s for s in SCHEMAS if any(t.schema == s for t in tables)]


def publish(duck: duckdb.DuckDBPyConnection, pg_url: str, tables: Sequence[Served], *,
            run_id: str, as_of: date | None,
            store_roles: Mapping[str, Sequence[str]] | None = None,
            batch_rows: int = BATCH_ROWS, workers: int = LOAD_WORKERS) -> PublishResult:
    """Copy `tables` from DuckDB into PostgreSQL (`pg_url`: the owner role) and swap every
    schema they name in at once (see the module doc). A schema no table names keeps its live
    tables; a schema that is named is replaced whole. `duck` must have no unfinished result
    (DuckDB 2.0: fetch a result to its end before the next statement). `store_roles` defaults
    to the `serving_store_roles` config var; with any, `bi` gets row-level security. Raises
    `PublishError` (and publishes nothing) on any failure before the swap."""
    t0 = time.perf_counter()
    schemas = _check(tables)
    try:  # before anything in PostgreSQL: the relations must be readable on this connection
        duck.execute("SELECT 1").fetchall()
    except duckdb.Error as exc:
        raise PublishError(f"the DuckDB connection cannot be read: {exc}") from exc
    stores = (store_roles_from_config() if store_roles is None
              else validate_store_roles(store_roles))
    row_security = bool(stores)
    # autocommit: every transaction below is an explicit `conn.transaction()` block
    with psycopg.connect(pg_url, connect_timeout=10, application_name="siyu-publish",
                         autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("SELECT pg_advisory_lock(%s)", [_PUBLISH_LOCK])  # held until closed
        ensure_roles(conn, store_roles=stores)
        # leftovers of a failed or interrupted night
        _drop_schemas(conn, _schemas_like(conn, STAGING_SUFFIX, schemas)
                      + _schemas_like(conn, OLD_SUFFIX, schemas))

        row_counts: dict[str, int] = {}
        totals: dict[str, dict[str, Any]] = {}
        access: dict[str, str] = {}
        try:
            _load(conn, duck, tables, schemas, batch_rows, row_security, row_counts, totals,
                  access, pg_url, workers)
        except (psycopg.Error, PublishError) as exc:
            # the half-loaded staging schemas go now (the next publish would drop them too)
            with contextlib.suppress(psycopg.Error):
                _drop_schemas(conn, [s + STAGING_SUFFIX for s in schemas])
            if isinstance(exc, PublishError):
                raise
            raise PublishError(f"loading the staging schemas failed, nothing was published: "
                               f"{exc}") from exc

        load_seconds = time.perf_counter() - t0
        token = f"{int(time.time())}_{secrets.token_hex(3)}"
        try:
            publish_id, published_at, old = _swap(conn, schemas, token, [
                run_id, as_of, schemas, Jsonb(row_counts), Jsonb(totals),
                round(load_seconds, 3)])
        except psycopg.Error as exc:
            raise PublishError(f"the swap failed, nothing was published: {exc}") from exc
        # housekeeping: the night is live whatever happens here
        dropped = False
        try:
            dropped = _drop_schemas(conn, old)
            conn.execute("CHECKPOINT")  # short crash recovery (needs pg_checkpoint)
        except psycopg.errors.InsufficientPrivilege:
            log.info("no CHECKPOINT after the publish: %s lacks pg_checkpoint", conn.info.user)
        except psycopg.Error as exc:
            log.warning("publish %s is live; cleaning up after it failed: %s", publish_id, exc)
    seconds = time.perf_counter() - t0
    log.info("published %s (%s rows) in %.1f s", ", ".join(schemas),
             sum(row_counts.values()), seconds)
    return PublishResult(publish_id=publish_id, run_id=run_id, as_of=as_of,
                         published_at=published_at, row_counts=row_counts, totals=totals,
                         seconds=seconds, store_access=access, old_dropped=dropped)


def _load_one(pg_url: str, duck: duckdb.DuckDBPyConnection, catalog: str, served: Served,
              batch_rows: int, row_security: bool
              ) -> tuple[dict[str, str], int, dict[str, Any] | None]:
    """One relation into its staging schema, on a connection of its own, committed alone:
    table, rows, indexes, statistics; returns its columns, rows and totals."""
    staging = served.schema + STAGING_SUFFIX
    t1 = time.perf_counter()
    cursor = duck.cursor()  # a DuckDB connection serves one query at a time; cursors, several
    try:
        cursor.execute(f"USE {_quote_duck(catalog)}")  # a cursor starts in the default catalog
        with psycopg.connect(pg_url, connect_timeout=10, application_name="siyu-publish",
                             prepare_threshold=None) as conn, conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 0")
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            # the swap's synchronous commit flushes these too
            conn.execute("SET LOCAL synchronous_commit = off")
            try:
                columns, rows = _copy(conn, cursor, served, staging, batch_rows)
            except (duckdb.Error, OSError) as exc:
                # DuckDB's errors while streaming come through pyarrow as OSError
                raise PublishError(f"copying {served.target} failed, nothing was "
                                   f"published: {exc}") from exc
            for col in _index_columns(served, columns, row_security):
                conn.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{served.table}__{col}_idx"[:63]),
                    sql.Identifier(staging, served.table), sql.Identifier(col)))
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(staging, served.table)))
            total = _totals(conn, served, staging, columns)
    finally:
        cursor.close()
    log.info("%s: %d rows loaded in %.1f s", served.target, rows, time.perf_counter() - t1)
    return columns, rows, total


def _load(conn: psycopg.Connection, duck: duckdb.DuckDBPyConnection, tables: Sequence[Served],
          schemas: Sequence[str], batch_rows: int, row_security: bool,
          row_counts: dict[str, int], totals: dict[str, dict[str, Any]],
          access: dict[str, str], pg_url: str, workers: int) -> None:
    """The staging schemas: tables (`workers` at a time, largest first, each on its own
    connection), indexes, statistics, totals, then grants and policies (filling `row_counts`,
    `totals` and `access`). A failure leaves staging schemas behind; nothing is live until
    the swap, and the next publish drops them first.

    Two at a time: at a million members (29.2 M rows, 28 relations) a publish took 77.8 s one
    relation at a time and 68.2 s two at a time on this 2-core machine, 84 s three at a time —
    the disk (heap and WAL writes), not the cores, bounds it (benchmarks/bench_serving_publish.py)."""
    with conn.transaction():
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(
                sql.Identifier(schema + STAGING_SUFFIX)))
    described: dict[str, dict[str, dict[str, str]]] = {s: {} for s in schemas}
    catalog = duck.execute("SELECT current_database()").fetchall()[0][0]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(_load_one, pg_url, duck, catalog, t, batch_rows, row_security): t
                   for t in tables}
        for future in as_completed(futures):
            served = futures[future]
            columns, rows, total = future.result()
            described[served.schema][served.table] = columns
            row_counts[served.target] = rows
            if total is not None:
                totals[served.target] = total
    with conn.transaction():
        for schema in schemas:
            for table, how in grant_staging(conn, live_schema=schema,
                                            staging_schema=schema + STAGING_SUFFIX,
                                            tables=described[schema],
                                            row_security=row_security).items():
                access[f"{schema}.{table}"] = how


def _swap(conn: psycopg.Connection, schemas: Sequence[str], token: str,
          log_values: Sequence[Any]) -> tuple[int, datetime, list[str]]:
    """Live → `<schema>__old_<token>`, staging → live, and the `serving.publishes` row, in
    ONE transaction (retried when a lock is not granted within SWAP_LOCK_TIMEOUT)."""
    for attempt in range(5):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(SWAP_LOCK_TIMEOUT)))
                live = {r[0] for r in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                    [list(schemas)]).fetchall()}
                old = []
                for schema in schemas:
                    if schema in live:
                        old.append(f"{schema}{OLD_SUFFIX}_{token}")
                        conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                            sql.Identifier(schema), sql.Identifier(old[-1])))
                    conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                        sql.Identifier(schema + STAGING_SUFFIX), sql.Identifier(schema)))
                row = conn.execute(
                    f"INSERT INTO {SERVING_SCHEMA}.publishes (run_id, as_of, published_at, "
                    "schemas, row_counts, totals, load_seconds) "
                    "VALUES (%s, %s, clock_timestamp(), %s, %s, %s, %s) "
                    "RETURNING publish_id, published_at", list(log_values)).fetchone()
            assert row is not None
            return row[0], row[1], old
        except psycopg.errors.LockNotAvailable:
            if attempt == 4:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")

"""Opening the DuckDB warehouse: one writer at a time, files readable by DuckDB 1.x clients.

DuckDB allows a single read-write process per file. A second writer (the Dagster UI running a
materialisation while `siyu run` starts) must get a clear "warehouse busy" error, never a
half-written file, so lock conflicts are translated into `WarehouseBusyError`.

The warehouse's catalog is always `siyu` (`CATALOG`), whatever the file is called. DuckDB
names a file's catalog after its stem, and a file named after one of its own schemas
(`identity.duckdb`, `marts.duckdb`, …) makes every two-part name such as `identity.members`
ambiguous ("Ambiguous reference to catalog or schema"), even fully qualified ones in a
`CREATE VIEW`. So no connection opens the file directly: each opens an in-memory DuckDB,
`ATTACH`es the file `AS siyu` and `USE`s it; dbt does the same (dbt_project/profiles.yml:
`attach` with `alias: siyu`, `database: siyu`), since dbt writes `"siyu"."<schema>"."<t>"`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.settings import DuckDBLimits, duckdb_limits

#: BI tools still ship DuckDB 1.x (Superset's duckdb-engine, Evidence's Node binding); files
#: written with this storage version stay readable by them.
STORAGE_COMPATIBILITY = "v1.4.0"


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse's write lock."""


#: The warehouse's catalog name in every connection (Python, dbt, the BI pages). It must be
#: the `alias` of the `attach` entry and the `database` in dbt_project/profiles.yml: dbt writes
#: it into three-part names. The default file is `siyu.duckdb`, so DuckDB 1.x BI clients that
#: open that file directly see the same catalog name.
CATALOG = "siyu"

# Held while a connection is opened (instance looked up, file attached) and while `connect`
# closes one: two threads (two dashboard sessions) never both ATTACH the file to one shared
# instance, and never attach it to a new instance while the last connection of the previous
# one is still detaching it.
_INSTANCES_LOCK = threading.Lock()


def connection_config() -> dict[str, str]:
    """Settings of the in-memory instance the warehouse is attached to: a file it creates
    gets this storage version (ATTACH follows the instance's setting)."""
    return {"storage_compatibility_version": STORAGE_COMPATIBILITY}


def apply_limits(con: duckdb.DuckDBPyConnection, limits: DuckDBLimits | None = None,
                 warehouse: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Give `con`'s DuckDB instance the pipeline's `memory_limit`, `threads` and
    `temp_directory` (pipelines/settings.py `duckdb_limits`), so a query that needs more
    memory spills to disk instead of failing or taking the machine. The settings belong to
    the instance, which the connections of one warehouse share: the temp directory is only
    set when it differs (DuckDB refuses to switch it once used)."""
    lim = limits or duckdb_limits(warehouse)
    con.execute(f"SET memory_limit = '{lim.memory_limit}'")
    con.execute(f"SET threads = {int(lim.threads)}")
    current = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    if current != lim.temp_directory:
        quoted = lim.temp_directory.replace("'", "''")
        con.execute(f"SET temp_directory = '{quoted}'")
    return con


def _busy_message(path: Path, exc: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(exc))
    holder = f" (held by process {pid.group(1)})" if pid else ""
    return (
        f"warehouse busy: {path} is locked by another writer{holder}. Wait for the running "
        "materialisation or `siyu run` to finish, then retry; nothing was written."
    )


def _instance(path: Path, read_only: bool) -> str:
    """A named in-memory database, one per (file, mode): DuckDB's instance cache hands every
    connection to it in this process the same instance while one is open (as it did for a
    file opened directly), so a second connection shares the attached file instead of failing
    on DuckDB's one-attachment-per-file-per-process rule. The instance (and the file's lock)
    goes away with its last connection."""
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return f":memory:siyu_{'ro' if read_only else 'rw'}_{key}"


def attach_sql(path: Path, read_only: bool = False, alias: str = CATALOG) -> str:
    """`ATTACH` of the warehouse file under `alias` (for a connection that reads a warehouse
    beside its own data, e.g. an export)."""
    quoted = str(path).replace("'", "''")
    return f"ATTACH IF NOT EXISTS '{quoted}' AS {alias}" + (" (READ_ONLY)" if read_only else "")


def open_connection(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose current catalog is the warehouse, attached as `siyu`; the caller
    closes it (prefer `connect`). Owner-only permissions on a newly created file (PIPL).

    A cursor (`con.cursor()`) starts in the in-memory catalog: run `USE siyu` on it first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with _INSTANCES_LOCK:
        con = duckdb.connect(_instance(path, read_only), config=connection_config())
        try:
            apply_limits(con, warehouse=path)
            con.execute(attach_sql(path, read_only))
            con.execute(f"USE {CATALOG}")
        except BaseException as exc:
            con.close()
            busy = _busy_error(exc, path, read_only)
            if busy is None:
                raise
            raise busy from exc
    if new and not read_only:
        os.chmod(path, 0o600)
    return con


def _busy_error(exc: BaseException, path: Path, read_only: bool) -> WarehouseBusyError | None:
    """The `WarehouseBusyError` a lock conflict stands for; None for any other error."""
    if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
        return WarehouseBusyError(_busy_message(path, exc))
    if isinstance(exc, duckdb.ResourceInUseException):
        # this process holds the file in the other mode (a read-only connection while it
        # writes, or the reverse): DuckDB attaches a file once per process
        other = "read-write" if read_only else "read-only"
        return WarehouseBusyError(
            f"warehouse busy: {path} is open {other} in this process (process "
            f"{os.getpid()}); close that connection first. DuckDB: {exc}")
    return None


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the warehouse (catalog `siyu`, see `open_connection`)."""
    con = open_connection(path, read_only)
    try:
        yield con
    finally:
        with _INSTANCES_LOCK:  # the last connection detaches the file before anyone re-attaches
            con.close()


@contextmanager
def unordered_writes(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write rows in parallel instead of in scan order, then restore the setting.

    Rows of a table or a Parquet file have no order anyone may rely on (readers sort). The
    setting is global to the database instance, so the previous value is put back, also when
    the block raises.
    """
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")


def restrict_permissions(path: Path) -> None:
    """Owner-only access for the warehouse and its WAL (personal data lives there)."""
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            os.chmod(p, 0o600)


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".runlock")


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold the warehouse for a whole run (or an erasure), not just one connection.

    DuckDB's own lock lasts one connection, and a run opens many short ones (dbt runs in
    between), so a second `siyu run` or a UI materialisation could otherwise slip into a gap
    and interleave its writes. An advisory `flock` on `<warehouse>.runlock` is released by the
    kernel when the holder dies (SIGKILL included), so a crashed run never leaves it stuck.
    """
    lock = _lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise WarehouseBusyError(_busy_message(path, RuntimeError(f"PID {holder}"))) from exc
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

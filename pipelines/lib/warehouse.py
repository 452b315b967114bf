"""Opening the DuckDB warehouse: one writer at a time, files readable by DuckDB 1.x clients.

DuckDB allows a single read-write process per file. A second writer (the Dagster UI running a
materialisation while `siyu run` starts) must get a clear "warehouse busy" error, never a
half-written file, so lock conflicts are translated into `WarehouseBusyError`.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

#: BI tools still ship DuckDB 1.x (Superset's duckdb-engine, Evidence's Node binding); files
#: written with this storage version stay readable by them.
STORAGE_COMPATIBILITY = "v1.4.0"


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse's write lock."""


def connection_config() -> dict[str, str]:
    return {"storage_compatibility_version": STORAGE_COMPATIBILITY}


def _busy_message(path: Path, exc: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(exc))
    holder = f" (held by process {pid.group(1)})" if pid else ""
    return (
        f"warehouse busy: {path} is locked by another writer{holder}. Wait for the running "
        "materialisation or `siyu run` to finish, then retry; nothing was written."
    )


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; owner-only permissions on a newly created file (PIPL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    try:
        con = duckdb.connect(
            str(path), read_only=read_only, config={} if read_only else connection_config()
        )
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusyError(_busy_message(path, exc)) from exc
        raise
    try:
        if new and not read_only:
            os.chmod(path, 0o600)
        yield con
    finally:
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

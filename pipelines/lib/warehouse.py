"""Opening the DuckDB warehouse: one writer at a time, files readable by DuckDB 1.x clients.

DuckDB allows a single read-write process per file. A second writer (the Dagster UI running a
materialisation while `siyu run` starts) must get a clear "warehouse busy" error, never a
half-written file, so lock conflicts are translated into `WarehouseBusyError`.
"""

from __future__ import annotations

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


def restrict_permissions(path: Path) -> None:
    """Owner-only access for the warehouse and its WAL (personal data lives there)."""
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            os.chmod(p, 0o600)

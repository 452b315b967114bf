"""The pages' only way to the warehouse: a cached call into `bi.queries`.

Each call opens the file read-only, runs one query function and closes it again, so the
dashboard never holds the DuckDB lock the nightly `siyu run` needs. Results are cached per
(query, arguments, file version): a new run (new mtime/size) invalidates them at once, and the
TTL bounds memory when nobody looks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from bi import queries
from pipelines.lib.warehouse import WarehouseBusyError


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def _run(name: str, path: str, stamp: tuple[int, int], args: tuple[Any, ...]) -> Any:
    del stamp  # part of the cache key only
    with queries.open_warehouse(Path(path)) as con:
        return getattr(queries, name)(con, *args)


def load(name: str, *args: Any) -> Any:
    """queries.<name>(con, *args) on $SIYU_WAREHOUSE; stops the page with a readable message
    when the file is missing or a writer holds it, instead of a stack trace."""
    path = queries.warehouse_path()
    try:
        if not path.is_file():
            raise FileNotFoundError(f"no warehouse at {path}: run `make demo` (or `siyu run`) first")
        return _run(name, str(path), _stamp(path), args)
    except FileNotFoundError as exc:
        st.error(str(exc))
    except WarehouseBusyError as exc:
        st.warning(f"{exc} The dashboards read the file only between runs.")
    st.stop()

"""`unordered_writes`: the publish and the export write rows in parallel, and the setting —
global to the DuckDB instance — is put back as it was, also when the block fails."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.lib.platform.warehouse import unordered_writes


def _setting(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]


def test_the_previous_value_comes_back_after_success_and_failure():
    con = duckdb.connect()
    with unordered_writes(con):
        assert _setting(con) is False
    assert _setting(con) is True
    with pytest.raises(RuntimeError), unordered_writes(con):
        raise RuntimeError("a copy failed")
    assert _setting(con) is True
    con.execute("SET preserve_insertion_order = false")  # a caller's own choice is kept
    with unordered_writes(con):
        pass
    assert _setting(con) is False

"""Bounded memory (issue 22 item 5): every DuckDB connection of the pipeline, and dbt-duckdb,
takes `memory_limit`, `threads` and `temp_directory` from the settings, and a query that needs
more than the limit spills to the temp directory instead of failing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.platform.warehouse import apply_limits, connect
from pipelines.settings import DBT_PROJECT_DIR, duckdb_limits, physical_memory_bytes

SETTINGS = ("SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')")
#: 3 M distinct 64-character keys grouped: the hash table needs ≈ 300 MB, far above 48 MB
BIG_GROUP_BY = ("SELECT count(*), sum(n) FROM (SELECT m, count(*) AS n FROM (SELECT "
                "md5(i::VARCHAR) || md5((i + 7)::VARCHAR) AS m FROM range(3000000) t(i)) "
                "GROUP BY m)")


@pytest.fixture
def limited(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("SIYU_WAREHOUSE", str(tmp_path / "wh" / "siyu.duckdb"))
    monkeypatch.setenv("SIYU_DUCKDB_MEMORY_LIMIT", "48MB")
    monkeypatch.setenv("SIYU_DUCKDB_THREADS", "1")
    monkeypatch.setenv("SIYU_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "spill"))
    return tmp_path


def test_defaults_are_sixty_percent_of_memory_a_thread_per_cpu_and_beside_the_warehouse(
        tmp_path: Path, monkeypatch):
    for var in ("SIYU_DUCKDB_MEMORY_LIMIT", "SIYU_DUCKDB_THREADS", "SIYU_DUCKDB_TEMP_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    lim = duckdb_limits(tmp_path / "w.duckdb")
    assert lim.memory_limit == f"{int(physical_memory_bytes() * 0.6) // 2**20}MiB"
    assert lim.threads == os.cpu_count()
    assert lim.temp_directory == str((tmp_path / "w.duckdb.tmp").resolve())


def test_warehouse_connection_reports_the_configured_limits(limited: Path):
    with connect(limited / "wh" / "siyu.duckdb") as con:
        limit, threads, temp = con.execute(SETTINGS).fetchall()[0]
    # DuckDB shows 48 MB (10^6 bytes) in binary units: 48e6 / 2^20 = 45.8 MiB
    assert limit == "45.7 MiB" and threads == 1 and temp == str(limited / "spill")


def test_in_memory_connections_of_the_pipeline_take_the_same_limits(limited: Path):
    con = apply_limits(duckdb.connect())  # as the loader, the sinks and the serving copy do
    try:
        limit, threads, temp = con.execute(SETTINGS).fetchall()[0]
    finally:
        con.close()
    assert limit == "45.7 MiB" and threads == 1 and temp == str(limited / "spill")


def test_a_query_above_the_memory_limit_spills_instead_of_failing(limited: Path):
    # the same limit without a temp directory: DuckDB cannot offload and the query dies …
    bare = duckdb.connect()
    try:
        bare.execute("SET memory_limit = '48MB'")
        bare.execute("SET threads = 1")
        bare.execute("SET temp_directory = ''")
        with pytest.raises(duckdb.OutOfMemoryException):
            bare.execute(BIG_GROUP_BY).fetchall()
    finally:
        bare.close()
    # … with the pipeline's settings it spills to the configured directory and finishes
    with connect(limited / "wh" / "siyu.duckdb") as con:
        con.execute("SET enable_progress_bar = false")
        assert con.execute(BIG_GROUP_BY).fetchall() == [(3_000_000, 3_000_000)]
        assert (limited / "spill").is_dir()  # created by DuckDB when it first offloaded


def test_dbt_duckdb_takes_the_limits_from_the_environment(limited: Path):
    """dbt_project/profiles.yml reads SIYU_DUCKDB_* (the dbt resource sets them from the
    settings when it starts dbt: pipelines/resources.py SiyuDbtCliResource.cli)."""
    with connect(limited / "wh" / "siyu.duckdb"):
        pass  # the warehouse file dbt attaches
    env = {**os.environ, **duckdb_limits().env(), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_TARGET_PATH": str(limited / "target"), "DBT_LOG_PATH": str(limited / "target")}
    dbt = Path(os.sys.executable).parent / "dbt"
    out = subprocess.run(
        [str(dbt), "show", "--inline", SETTINGS.replace("SELECT", "select", 1), "--output",
         "json", "--log-format", "text", "--quiet"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "45.7 MiB" in out.stdout and str(limited / "spill") in out.stdout
    assert '"1"' in out.stdout or ": 1" in out.stdout  # threads

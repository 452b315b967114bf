"""The same landing zone built on DuckDB and on local Spark gives identical marts.

One generated zone (a few hundred members over a month), two `siyu run`s: the default DuckDB
target, and `SIYU_DBT_TARGET=spark` against one local Spark Connect server that this module
starts (so the run takes the `SPARK_REMOTE` path a cluster deployment uses, and the test reads
the results through the same server). Every table of the `marts` schema, whatever models exist,
plus the Python steps' outputs (`identity.*` — on Spark resolved without collecting the graph —
and `ltv.member_clv_predictions`), is compared row by
row after a deterministic sort: decimals (amounts) and everything else exactly; DOUBLE columns
(shares, probabilities) to 1e-9 relative, since Spark and DuckDB may sum floating-point values
in a different order.

Runtime (~4 min on 2 cores): the Spark run leaves out dbt's data tests
(`DBT_EXCLUDE_RESOURCE_TYPES=test`): they add ~60 s on Spark (each is a separately planned
Spark job) and check the same SQL the DuckDB run checks here. Marked `spark` (needs the `spark` extra and Java 17):
`make test` runs it; `pytest -m "not spark"` skips it.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lib.platform.warehouse import connect

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MEMBERS, DAYS, SEED = 300, 30, 7
#: Outputs of the Python steps, compared besides every table of the marts schema. On Spark the
#: identity state is resolved and written by Spark itself (`lib/identity/spark_resolve.py`,
#: `spark_store.py`), on DuckDB by `resolve` + `store`: the versioned history tables too.
#: One run is one night (no merges or splits: tests/integration/test_spark_identity.py runs nights).
PYTHON_STEP_TABLES = ("identity.member_id_assignments", "identity.members", "identity.merges",
                      "identity.splits", "identity.assignment_history",
                      "identity.member_history", "identity.snapshot_days",
                      "ltv.member_clv_predictions")
FLOAT_REL_TOL = 1e-9


def _siyu(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def zone(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spark-eq") / "zone"
    gen = _siyu("generate", "--out", str(out), "--members", str(MEMBERS), "--days", str(DAYS),
                "--seed", str(SEED), env={})
    assert gen.returncode == 0, gen.stderr
    return out


@pytest.fixture(scope="module")
def duckdb_warehouse(zone: Path, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("duck")
    wh = tmp / "siyu.duckdb"
    proc = _siyu("run", env={"SIYU_DATA_DIR": str(zone), "SIYU_WAREHOUSE": str(wh),
                             "DAGSTER_HOME": str(tmp / "home"), "SIYU_DBT_TARGET": "duckdb"})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    return wh


@pytest.fixture(scope="module")
def spark_run(zone: Path, tmp_path_factory):
    """The server the Spark run used, after that run succeeded: (session, URL, lake folder)."""
    from pipelines.lib.platform.spark import connect, local_connect_server

    tmp = tmp_path_factory.mktemp("spark")
    lake = tmp / "lake"
    with local_connect_server(lake) as url:
        proc = _siyu("run", env={
            "SIYU_DATA_DIR": str(zone), "SIYU_WAREHOUSE": str(tmp / "unused.duckdb"),
            "DAGSTER_HOME": str(tmp / "home"), "SIYU_DBT_TARGET": "spark",
            "SIYU_LAKE_DIR": str(lake), "SPARK_REMOTE": url,
            "DBT_EXCLUDE_RESOURCE_TYPES": "test"})
        assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
        session = connect(url)
        try:
            yield session, url, lake
        finally:
            session.stop()


@pytest.fixture(scope="module")
def spark(spark_run):
    """A Spark session on the server the Spark run used."""
    return spark_run[0]


def _normalise(value):
    """Equal values compare equal across engines: 1.50 (decimal(18,2)) == 1.5000."""
    return value.normalize() if isinstance(value, Decimal) else value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, f"{v:.9g}" if isinstance(v, float) else str(v)) for v in row)


def _rows(table: pa.Table) -> list[tuple]:
    columns = [[_normalise(v) for v in table.column(i).to_pylist()]
               for i in range(table.num_columns)]
    return sorted(zip(*columns, strict=True), key=_sort_key) if columns else []


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=FLOAT_REL_TOL, abs_tol=1e-12)
    return a == b


def _duckdb_tables(wh: Path) -> set[str]:
    with connect(wh, read_only=True) as con:
        rows = con.execute("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = 'marts'").fetchall()
    return {f"marts.{r[0]}" for r in rows}


def test_same_marts_on_duckdb_and_spark(duckdb_warehouse: Path, spark) -> None:
    from pipelines.lib.platform.engines import DuckDBEngine, SparkEngine

    marts = _duckdb_tables(duckdb_warehouse)
    spark_marts = {f"marts.{r.tableName}" for r in spark.sql("SHOW TABLES IN marts").collect()}
    assert marts == spark_marts
    assert {"marts.fct_orders", "marts.dim_member", "marts.member_ltv"} <= marts
    on_spark = SparkEngine(spark)
    problems: list[str] = []
    with connect(duckdb_warehouse, read_only=True) as con:
        on_duckdb = DuckDBEngine(con)
        for table in sorted(marts) + list(PYTHON_STEP_TABLES):
            left = on_duckdb.read_arrow(f"SELECT * FROM {table}")
            right = on_spark.read_arrow(f"SELECT * FROM {table}")
            if left.column_names != right.column_names:
                problems.append(f"{table}: columns {left.column_names} != {right.column_names}")
                continue
            lrows, rrows = _rows(left), _rows(right)
            if len(lrows) != len(rrows):
                problems.append(f"{table}: {len(lrows)} rows on DuckDB, {len(rrows)} on Spark")
                continue
            for i, (lrow, rrow) in enumerate(zip(lrows, rrows, strict=True)):
                diff = [(c, lv, rv) for c, lv, rv in zip(left.column_names, lrow, rrow,
                                                         strict=True) if not _same(lv, rv)]
                if diff:
                    problems.append(f"{table} sorted row {i}: {diff[:5]}")
                    break
    assert not problems, "\n".join(problems)


def test_python_steps_wrote_results_on_spark(spark) -> None:
    """The comparison above is not vacuous: OneID and CLV produced rows on Spark."""
    for table in ("identity.member_id_assignments", "marts.fct_orders",
                  "ltv.member_clv_predictions"):
        assert spark.sql(f"SELECT count(*) AS n FROM {table}").collect()[0].n > 0, table


def _created(spark, schema: str) -> dict[str, datetime]:
    """Catalog creation time of every table in `schema` (one SHOW TABLE EXTENDED)."""
    out = {}
    for row in spark.sql(f"SHOW TABLE EXTENDED IN {schema} LIKE '*'").collect():
        stamp = re.search(r"^Created Time: (.+)$", row.information, re.M).group(1).strip()
        out[row.tableName] = datetime.strptime(stamp, "%a %b %d %H:%M:%S %Z %Y")
    return out


#: lake tables that only the staging group's models read (staging views, the identity
#: intermediates); an intermediate model of the marts group reads raw.wecom__group_chats itself
STAGING_ONLY_LAKE_TABLES = ("pos__orders", "pos__members", "tmall__orders", "miniprogram__users",
                            "wecom__external_contacts")


def test_lake_tables_are_registered_by_the_invocations_that_read_them(spark) -> None:
    """The night's three dbt invocations (staging + intermediate, marts, serving) each register
    only the lake tables they read directly (macros/lake.sql): the tables only the staging
    group reads are older than every mart — before, each invocation dropped and re-created all
    ≈ 24 of them (≈ 8 s each time on local Spark)."""
    lake = _created(spark, "raw")
    marts = _created(spark, "marts")
    assert set(STAGING_ONLY_LAKE_TABLES) <= set(lake) and marts
    first_mart = min(marts.values())
    assert {t: str(lake[t]) for t in STAGING_ONLY_LAKE_TABLES if lake[t] >= first_mart} == {}, \
        f"re-created after the first mart ({first_mart})"


def test_a_day_landed_later_is_read_without_registering_again(spark_run) -> None:
    """A lake table registered on an earlier night sees a day landed since: a new session (each
    dbt invocation and Python step opens one) lists the `_dt=` folders again, so the dbt
    invocations that do not re-register the lake (above) still read the new night's files."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    from pipelines.lib.ingest.sinks import HIVE_NULL_PARTITION

    spark, url, lake = spark_run
    folder = lake / "raw" / "pos__orders"
    days = sorted(p for p in folder.glob("_dt=*") if p.name != f"_dt={HIVE_NULL_PARTITION}")
    assert len(days) >= 2, days
    last = date.fromisoformat(days[-1].name.removeprefix("_dt="))
    landed = folder / f"_dt={last + timedelta(days=1)}"
    rows_in_file = pq.read_metadata(days[-1] / "part-0.parquet").num_rows
    assert rows_in_file > 0
    before = spark.sql("SELECT count(*) AS n FROM raw.pos__orders").collect()[0].n
    landed.mkdir()
    try:
        shutil.copy(days[-1] / "part-0.parquet", landed / "part-0.parquet")
        session = ConnectSession(connection=url)
        try:
            after = session.sql("SELECT count(*) AS n, count_if(_dt = DATE'"
                                f"{last + timedelta(days=1)}') AS new FROM raw.pos__orders"
                                ).collect()[0]
        finally:
            session.stop()
    finally:
        shutil.rmtree(landed)
    assert (after.n, after.new) == (before + rows_in_file, rows_in_file)


def test_a_column_only_newer_days_have_is_registered(spark_run) -> None:
    """A column the landing contract adds appears only in the days landed after it: the lake
    hook must register the union of every day's columns, not the columns of whichever Parquet
    footer Spark reads first. Spark lists the oldest `_dt=` folder first and, without
    `mergeSchema`, infers a table's schema from that one file: the new column was left out.
    Runs last in this module: it registers the lake again (`dbt run-operation`, every table)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    _, url, lake = spark_run
    folder = lake / "raw" / "pos__orders"
    days = sorted(p for p in folder.glob("_dt=2*"))
    newest = days[-1] / "part-0.parquet"
    table = pq.read_table(newest)
    added = folder / f"_dt={date.fromisoformat(days[-1].name[4:]) + timedelta(days=1)}"
    added.mkdir()
    try:
        pq.write_table(table.append_column("coupon_code", pa.array(
            [f"Q{i}" for i in range(table.num_rows)], pa.string())), added / "part-0.parquet")
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "run-operation", "register_lake_tables",
             "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir",
             str(ROOT / "dbt_project"), "--target", "spark", "--target-path",
             str(lake.parent / "dbt_target_schema"), "--log-path", str(lake.parent / "logs")],
            cwd=ROOT / "dbt_project", env={**os.environ, "SPARK_REMOTE": url,
                                           "SIYU_LAKE_DIR": str(lake)},
            capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        session = ConnectSession(connection=url)
        try:
            columns = [r.col_name for r in session.sql("DESCRIBE TABLE raw.pos__orders").collect()]
            got = (session.sql("SELECT count(coupon_code) AS n FROM raw.pos__orders").collect()[0].n
                   if "coupon_code" in columns else None)
        finally:
            session.stop()
    finally:
        shutil.rmtree(added)
    assert "coupon_code" in columns and "order_id" in columns, columns
    assert got == table.num_rows > 0

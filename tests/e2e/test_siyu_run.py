"""`siyu run` end to end through Dagster and dbt, on the hand-made landing zone.

Re-running a day gives the same member ids and rows: tests/e2e/test_generated_zone.py
(`test_rerunning_an_older_day_changes_nothing`, every marts/intermediate/staging table).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.platform.warehouse import open_connection

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def siyu(*args: str, data_dir: Path, warehouse: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIYU_DATA_DIR": str(data_dir), "SIYU_WAREHOUSE": str(warehouse),
           "DAGSTER_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def zone(built) -> Path:
    return built.zone


@pytest.fixture(scope="module")
def ran(built):
    """The session's one run of the hand-made zone (tests/conftest.py `built`; it asserted
    the exit code): its printed summary and the warehouse."""
    return built.run_stdout, built.warehouse


def test_siyu_run_builds_marts(ran):
    stdout, wh = ran
    assert "SUCCESS" in stdout
    con = open_connection(wh, read_only=True)
    tables = {r[0] for r in con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()}
    for t in ("marts.member_identities", "marts.dim_member", "marts.fct_orders",
              "marts.shared_identifiers", "marts.member_id_merges"):
        assert t in tables
    # card C001 (mobile …8001), Tmall OU1 (same hash), mini-program o1 (same phone, unionid u1)
    # and WeCom wm1 (unionid u1) are one person
    members = con.execute(
        "SELECT id_type, id_value, member_id FROM marts.member_identities "
        "WHERE id_value IN ('C001', 'OU1', 'o1', 'wm1', 'u1')").fetchall()
    assert len(members) == 5 and len({m for _, _, m in members}) == 1
    orders = dict(con.execute("SELECT order_key, member_id FROM marts.fct_orders").fetchall())
    assert orders["pos:P1"] == orders["tmall:3912345678901234"] == orders["miniprogram:W1"]
    assert orders["pos:P2"] is None  # guest
    assert orders["tmall:3912345678901235"] is None  # Tmall non-member
    refund = con.execute(
        "SELECT status, refund_amount, net_amount FROM marts.fct_orders WHERE order_key = 'pos:P1'"
    ).fetchall()[0]
    assert refund[0] == "refunded" and float(refund[1]) == 90.0 and float(refund[2]) == 0.0


def test_run_summary_and_quality_report_show_the_peak_memory(ran):
    """Issue 22 item 5: the run's peak memory (the Dagster run process and dbt's) is measured
    for real and printed in the summary and the data-quality report."""
    stdout, _ = ran
    found = re.search(r"peak memory: ([0-9.]+) GiB — largest single process ([0-9.]+) GiB, "
                      r"process and children together ([0-9.]+) GiB", stdout)
    assert found, stdout[-2000:]
    peak, single, tree = (float(x) for x in found.groups())
    # a Python process with Dagster, dbt-core and DuckDB loaded holds well over 100 MiB, and
    # nothing in a hand-made zone comes near the machine's memory
    assert 0.1 < single <= peak < 16 and 0.1 < tree <= peak
    report = re.search(r"data-quality report: (\S+)", stdout).group(1)
    text = Path(report).read_text(encoding="utf-8")
    assert f"* peak memory: {found.group(1)} GiB" in text


def test_no_plaintext_mobile_in_any_varchar_column(ran):
    from tests.fixtures.handmade import all_plaintext_mobiles

    _, wh = ran
    numbers = all_plaintext_mobiles()
    con = open_connection(wh, read_only=True)
    cols = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR'").fetchall()
    pattern = re.compile(r"1[3-9][0-9]{9}")
    for schema, table, column in cols:
        values = con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}" '
                             f'WHERE "{column}" IS NOT NULL').fetchall()
        for (v,) in values:
            flat = re.sub(r"[^0-9]", "", v.translate(str.maketrans("０１２３４５６７８９", "0123456789")))
            for n in numbers:
                assert n not in flat or re.fullmatch(r"[0-9a-f]{64}", v), (schema, table, column, v)
            if not re.fullmatch(r"[0-9a-f]{64}", v) and not re.fullmatch(r"[0-9]{16,}", v):
                assert not pattern.fullmatch(flat), (schema, table, column, v)


def test_warehouse_busy_is_a_clear_error(zone, tmp_path):
    wh = tmp_path / "busy.duckdb"
    holder = open_connection(wh)
    try:
        proc = siyu("run", data_dir=zone, warehouse=wh, home=tmp_path / "home")
    finally:
        holder.close()
    assert proc.returncode != 0
    assert "warehouse busy" in proc.stdout + proc.stderr


def test_raw_source_tests_are_not_rerun_every_night(built):
    """Ingestion gates raw; its dbt source tests re-checked all of raw each night and, being
    tests on non-asset sources, logged one Dagster warning each (47 a run). The night's staging
    build leaves them out — while the project still has them (`dbt build` by hand runs them)
    and the same build still runs the staging models' own tests as asset checks."""
    import dagster as dg

    from pipelines.defs.transform.dbt_assets import MANIFEST_JSON

    raw_tests = [n["name"] for n in MANIFEST_JSON["nodes"].values()
                 if n["resource_type"] == "test"
                 and any(d.startswith("source.siyu.raw.") for d in n["depends_on"]["nodes"])]
    assert len(raw_tests) >= 40  # the exclusion below is about something
    with dg.DagsterInstance.from_config(str(built.dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        logs = instance.all_logs(run.run_id)
    commands = [r.user_message for r in logs
                if r.dagster_event is None and r.user_message.startswith("Running dbt command")]
    staging = [c for c in commands if "fqn:siyu.staging" in c]
    assert len(staging) == 1 and "--exclude source:raw" in staging[0], commands
    messages = " ".join(r.user_message for r in logs if r.dagster_event is None)
    assert not [t for t in raw_tests if f"`{t}`" in messages]
    checked = {r.dagster_event.event_specific_data.asset_key.path[0]
               for r in logs if r.dagster_event is not None
               and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert "staging" in checked, checked


def test_the_night_runs_no_dbt_unit_test(built):
    """dbt unit tests check the rules' SQL on fixed inputs; the suite runs them
    (tests/unit/test_dbt_unit_tests.py). In every night they cost ≈ 4 s of a 58 s hand-made run
    and ≈ 35 s on Spark, and checked nothing about the night's data."""
    from pipelines.defs.transform.dbt_assets import MANIFEST_JSON

    assert len(MANIFEST_JSON.get("unit_tests", {})) >= 5  # the project has some to leave out
    logs = sorted((built.warehouse.parent / ".dbt_target").glob("*/dbt.log*"))
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in logs)
    assert text.count("Running with dbt=") >= 3, logs  # the night's three invocations
    assert "START unit_test" not in text  # what every night's log had before
    assert "START test " in text  # the data tests still run


def test_every_member_keyed_relation_of_the_night_declares_its_erasure(built):
    """What the night actually built, not only what the YAML documents: every relation with a
    member column declares delete or anonymise (pipelines/lib/privacy/declarations.py)."""
    from pipelines.lib.platform.warehouse import connect
    from pipelines.lib.privacy.declarations import load_declarations

    declared = load_declarations()
    with connect(built.warehouse, read_only=True) as con:
        keyed = con.execute(
            "SELECT DISTINCT table_schema, table_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() "
            "AND table_schema IN ('intermediate', 'marts', 'ltv', 'bi') "
            "AND column_name IN ('member_id', 'old_member_id', 'new_member_id')").fetchall()
    assert len(keyed) >= 20
    assert sorted(r for r in keyed if declared.get(r) not in ("delete", "anonymise")) == []

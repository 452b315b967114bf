"""Any warehouse file name works (issue 19, item 3).

DuckDB names a file's catalog after its stem: `siyu run --warehouse /x/identity.duckdb` failed
in the identity step with "Ambiguous reference to catalog or schema "identity"", and every file
named after a schema it holds (`raw.duckdb`, `marts.duckdb`, …) failed the same way, dbt's own
views included. Every connection now attaches the file under the fixed catalog `siyu`
(pipelines/lib/platform/warehouse.py, dbt_project/profiles.yml).

For each name: a warehouse built under another stem (`template.duckdb`) is copied to
`<name>.duckdb`, given every schema a built warehouse holds, and then goes through the steps
that read two-part names: the identity asset (Python, `raw.*`, `intermediate.*`,
`identity.*`), dbt (an incremental staging table reading `source('raw', …)` and
`"siyu"."raw"."_load_log"`, a view over staging, a mart over `source('identity', …)`). dbt
runs in ONE helper process for every name: it parses the project once and
reuses the manifest (≈ 3 s a name instead of ≈ 20 s for a `dbt run` that parses again). The
whole `siyu run` with such a name: tests/e2e/test_warehouse_names.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.defs.identity.assets import resolve_member_identities
from pipelines.lib.platform.warehouse import (
    CATALOG,
    STORAGE_COMPATIBILITY,
    WarehouseBusyError,
    connect,
    open_connection,
)
from pipelines.resources import WarehouseResource
from tests.conftest import load_all
from tests.fixtures.handmade import write_handmade

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

#: Every schema a built warehouse holds (`SELECT DISTINCT schema_name FROM
#: information_schema.schemata` after `siyu run`, plus `privacy` from `siyu forget`);
#: test_the_list_covers_every_schema_dbt_knows keeps it complete.
WAREHOUSE_SCHEMAS = ("bi", "identity", "intermediate", "ltv", "main", "marts", "privacy",
                     "quarantine", "raw", "staging")
#: Names DuckDB gives catalogs and schemas of its own, and the catalog alias itself.
DUCKDB_NAMES = ("information_schema", "memory", "pg_catalog", "siyu", "system", "temp")
NAMES = sorted(set(WAREHOUSE_SCHEMAS) | set(DUCKDB_NAMES))

#: dbt models run on every name (see module doc).
MODELS = "stg_pos__members int_identity__nodes member_identities"

#: Runs dbt for several warehouses in one process: parse once, then `run` on each warehouse
#: with the parsed manifest (dbtRunner's documented reuse). Writes {warehouse: errors} as JSON.
DBT_MANY = r"""
import json, os, sys
from pathlib import Path
from dbt.cli.main import dbtRunner

project, select, out, *warehouses = sys.argv[1:]
common = ["--project-dir", project, "--profiles-dir", project, "--target", "duckdb", "--quiet"]

def folders(wh):
    return ["--target-path", str(Path(wh).parent / "target"),
            "--log-path", str(Path(wh).parent / "logs")]

def errors(res):
    if res.exception is not None or not hasattr(res.result, "results"):
        return [] if res.success else [str(res.exception)]
    return [f"{r.node.unique_id}: {r.status}: {r.message}" for r in res.result.results
            if str(r.status) not in ("success", "pass")] or ([] if res.success else ["failed"])

os.environ["SIYU_WAREHOUSE"] = warehouses[0]
parsed = dbtRunner().invoke(["parse", *common, *folders(warehouses[0])])
result = {"parse": errors(parsed)}
for wh in warehouses:
    os.environ["SIYU_WAREHOUSE"] = wh
    res = dbtRunner(manifest=parsed.result).invoke(
        ["run", "--select", *select.split(), *common, *folders(wh)])
    result[wh] = errors(res)
Path(out).write_text(json.dumps(result))
"""


def _dbt_many(select: str, warehouses: list[Path], out: Path) -> dict[str, list[str]]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run(
        [sys.executable, "-c", DBT_MANY, str(DBT_DIR), select, str(out), *map(str, warehouses)],
        cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result.pop("parse") == []
    return result


def _resolve_identities(warehouse: Path, zone: Path) -> None:
    """The identity asset, as the nightly job runs it (reads raw.*, intermediate.*, writes
    identity.* in one transaction)."""
    result = dg.materialize([resolve_member_identities], resources={
        "warehouse": WarehouseResource(path=str(warehouse), data_dir=str(zone))})
    assert result.success


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> dict[str, tuple[Path, str | None]]:
    """name → (warehouse `<name>.duckdb`, None, or why its steps failed before the checks)."""
    tmp = tmp_path_factory.mktemp("names")
    zone = write_handmade(tmp / "zone")
    template = tmp / "template" / "template.duckdb"
    load_all(zone, template)
    built = _dbt_many("+int_identity__nodes +int_identity__edges", [template],
                      tmp / "template.json")
    assert built[str(template)] == []
    out: dict[str, tuple[Path, str | None]] = {}
    for name in NAMES:
        wh = tmp / name / f"{name}.duckdb"
        wh.parent.mkdir()
        shutil.copy2(template, wh)
        try:
            with connect(wh) as con:  # a built warehouse holds them all
                for schema in WAREHOUSE_SCHEMAS:
                    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    con.execute(f'CREATE TABLE "{schema}"._siyu_probe AS SELECT 1 AS x')
            _resolve_identities(wh, zone)
            out[name] = (wh, None)
        except Exception as exc:  # reported by the name's own test
            out[name] = (wh, f"{type(exc).__name__}: {exc}")
    ran = [wh for wh, error in out.values() if error is None]
    for wh, errors in _dbt_many(MODELS, ran, tmp / "names.json").items():
        if errors:
            out[Path(wh).stem] = (Path(wh), "dbt: " + "\n".join(errors))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_a_warehouse_file_named_after_a_schema_works(warehouses, name):
    wh, error = warehouses[name]
    assert error is None, error
    with connect(wh, read_only=True) as con:
        def one(sql: str):
            return con.execute(sql).fetchall()[0][0]

        assert one("SELECT current_database()") == CATALOG
        assignments = one("SELECT count(*) FROM identity.member_id_assignments")
        assert assignments > 0 and one("SELECT count(*) FROM identity.members") > 0
        assert one("SELECT count(*) FROM marts.member_identities") == assignments
        assert one("SELECT count(*) FROM intermediate.int_identity__nodes") > 0
        assert one("SELECT count(*) FROM staging.stg_pos__members") > 0
        for schema in WAREHOUSE_SCHEMAS:
            assert one(f'SELECT count(*) FROM "{schema}"._siyu_probe') == 1
        # the views hold two-part names only: nothing ties them to a file name
        assert one("SELECT count(*) FROM duckdb_views() WHERE NOT internal "
                   f"AND (sql LIKE '%template%' OR sql LIKE '%\"{name}\".%\".%')") == 0


@pytest.mark.parametrize("name", NAMES)
def test_a_new_warehouse_with_that_name_is_owner_only_and_readable_by_duckdb_1x(tmp_path, name):
    wh = tmp_path / f"{name}.duckdb"
    with connect(wh) as con:
        for schema in WAREHOUSE_SCHEMAS:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(f'CREATE TABLE "{name}" AS SELECT 1 AS x')  # in main
        con.execute("CREATE TABLE identity.members AS SELECT 'M1' AS member_id")
        con.execute("CREATE VIEW marts.v AS SELECT * FROM identity.members")
    assert stat.S_IMODE(wh.stat().st_mode) == 0o600
    with connect(wh, read_only=True) as con:
        assert con.execute("SELECT * FROM marts.v").fetchall() == [("M1",)]
        assert con.execute(f'SELECT x FROM main."{name}"').fetchall() == [(1,)]
        version = con.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                              "WHERE database_name = current_database()").fetchall()[0][0]
    assert version == STORAGE_COMPATIBILITY + "+"


def test_the_list_covers_every_schema_dbt_knows():
    from pipelines.lib.platform.dbt_manifest import ensure_manifest

    manifest = json.loads(ensure_manifest(DBT_DIR, "duckdb").read_text())
    known = {n["schema"] for n in manifest["nodes"].values()
             if n["resource_type"] in ("model", "seed", "snapshot")}
    known |= {s["schema"] for s in manifest["sources"].values()}
    assert known <= set(WAREHOUSE_SCHEMAS)


def test_dbt_and_python_use_the_same_catalog():
    """dbt writes the catalog into three-part names ("siyu"."staging"."x"): the profile must
    attach the warehouse under the alias the Python connections use."""
    profile = yaml.safe_load((DBT_DIR / "profiles.yml").read_text())["siyu"]["outputs"]["duckdb"]
    assert profile["path"] == ":memory:"
    assert profile["database"] == CATALOG
    (attached,) = profile["attach"]
    assert attached["alias"] == CATALOG and "SIYU_WAREHOUSE" in attached["path"]
    assert not attached.get("read_only") and not attached.get("options")
    assert profile["settings"]["search_path"] == f"{CATALOG}.main"  # `USE siyu` per cursor
    assert profile["config_options"]["storage_compatibility_version"] == STORAGE_COMPATIBILITY


HOLDER = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); " \
         "time.sleep(60)"


def test_a_second_writer_process_gets_warehouse_busy(tmp_path):
    wh = tmp_path / "identity.duckdb"
    with connect(wh) as con:
        con.execute("CREATE SCHEMA identity")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(wh)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for read_only in (False, True):
            with pytest.raises(WarehouseBusyError, match=f"warehouse busy: .*process {holder.pid}"):
                open_connection(wh, read_only=read_only)
    finally:
        holder.kill()
        holder.wait()
    with connect(wh, read_only=True) as con:  # the lock went with the holder
        assert con.execute("SELECT current_database()").fetchall() == [(CATALOG,)]


def test_connections_of_one_process_share_the_attached_file(tmp_path):
    """DuckDB attaches a file once per process; connections in the same mode share it (two
    dashboard sessions at once, a nested read), as they shared a file opened directly."""
    wh = tmp_path / "marts.duckdb"
    with connect(wh) as a, connect(wh) as b:
        a.execute("CREATE SCHEMA marts")
        a.execute("CREATE TABLE marts.t AS SELECT 1 AS x")
        assert b.execute("SELECT x FROM marts.t").fetchall() == [(1,)]
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                with connect(wh, read_only=True) as con:
                    assert con.execute("SELECT x FROM marts.t").fetchall() == [(1,)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with connect(wh), pytest.raises(WarehouseBusyError, match="open read-write in this"):
        open_connection(wh, read_only=True)
    with connect(wh, read_only=True) as con:  # nothing left attached once all are closed
        assert con.execute("SELECT x FROM marts.t").fetchall() == [(1,)]

"""`siyu run --warehouse /x/identity.duckdb` end to end (issue 19, item 3): the identity step
failed with "Ambiguous reference to catalog or schema "identity"" because DuckDB named the
catalog after the file. Every other name the warehouse's schemas could collide with is run
through the same steps, faster, in tests/integration/test_warehouse_names.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.lib.warehouse import CATALOG, connect
from tests.e2e.runs import ROOT, env_for
from tests.fixtures.handmade import write_handmade
from tests.integration.test_warehouse_names import WAREHOUSE_SCHEMAS

pytestmark = pytest.mark.slow


def test_siyu_run_on_a_warehouse_named_identity(tmp_path):
    zone = write_handmade(tmp_path / "zone")
    wh = tmp_path / "wh" / "identity.duckdb"
    env = env_for(zone, wh, tmp_path / "home")
    del env["SIYU_WAREHOUSE"]  # the flag alone names the file

    def siyu(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--warehouse",
                               str(wh)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=900)

    run = siyu("run")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with connect(wh, read_only=True) as con:
        assert con.execute("SELECT current_database()").fetchall() == [(CATALOG,)]
        identities = con.execute("SELECT count(*) FROM marts.member_identities").fetchall()
        assert identities[0][0] > 0
        assert con.execute("SELECT count(*) FROM bi.members").fetchall()[0][0] > 0
        schemas = {r[0] for r in con.execute(
            "SELECT DISTINCT schema_name FROM information_schema.schemata "
            "WHERE catalog_name = current_database()").fetchall()}
    # the integration test covers every schema the run created
    assert "identity" in schemas
    assert schemas - {"information_schema", "pg_catalog"} <= set(WAREHOUSE_SCHEMAS)
    # the other commands open the same file the same way
    forget = siyu("forget", "--identifier", "pos_card:C001")
    assert forget.returncode == 0, forget.stdout[-2000:] + forget.stderr[-2000:]
    export = siyu("export", "--out", str(tmp_path / "export"))
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    with connect(wh, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM privacy.erasure_requests").fetchall() == [(1,)]

"""BI tools ship DuckDB 1.x (Superset's duckdb-engine pins duckdb<2, Evidence's Node binding is
1.5): a DuckDB 1.4 client, in its own throwaway venv, must open the warehouse and read every
mart with the same row counts as the writer sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.platform.warehouse import connect
from tests.serving.conftest import ROOT, Built

pytestmark = pytest.mark.slow
UV = ROOT / ".tools" / "bin" / "uv"
READER = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = con.execute("SELECT table_name FROM information_schema.tables "
                     "WHERE table_schema = 'marts' ORDER BY 1").fetchall()
out = {"version": duckdb.__version__, "counts": {}}
for (t,) in tables:
    con.execute(f'SELECT * FROM marts."{t}"').fetchall()  # every column decodes
    out["counts"][t] = con.execute(f'SELECT count(*) FROM marts."{t}"').fetchone()[0]
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def duckdb1_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("duckdb1") / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    pip = subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(python),
                          "duckdb==1.4.*"], capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        if any(s in pip.stderr.lower() for s in ("connect", "network", "dns", "timed out")):
            pytest.skip(f"PyPI unreachable, cannot install duckdb 1.x: {pip.stderr[-300:]}")
        pytest.fail(pip.stderr)
    return python


def test_duckdb_1x_client_reads_every_mart(built: Built, duckdb1_python: Path):
    proc = subprocess.run([str(duckdb1_python), "-c", READER, str(built.warehouse)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["version"].startswith("1.4")
    with connect(built.warehouse, read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()]
        expected = {t: con.execute(f'SELECT count(*) FROM marts."{t}"').fetchall()[0][0]
                    for t in names}
    assert seen["counts"] == expected and len(expected) >= 5

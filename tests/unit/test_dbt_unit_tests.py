"""The rules' hand cases written as dbt `unit_tests:` (tier days, RFM, lifecycle, group layers,
POS return lines, …: every `unit_tests:` block under dbt_project/models), run in ONE dbt
invocation — the fast loop's only dbt run (`make test-fast`).

dbt needs every input of a unit test to exist as a relation (it reads their column types), so
the warehouse is a skeleton: the sources a night's Python steps write (`raw.*` from the
hand-made zone through the loader, `identity.*`, `ltv.member_clv_predictions`, all with the
production schemas) and every model built with `--empty` (zero rows). A night does not run
them: its `dbt build` passes `--exclude-resource-type unit_test` (defs/transform/dbt_assets.py;
until stop 29 every night ran them), and unit tests test the SQL, not the night's data. On
Spark they run nowhere now; the Spark equivalence test builds every model there instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipelines.defs.ltv.assets import PREDICTION_SCHEMA, PREDICTIONS_TABLE
from pipelines.lib.identity import store as identity_store
from pipelines.lib.platform.engines import DuckDBEngine
from pipelines.lib.platform.warehouse import connect
from tests.conftest import load_all
from tests.dbt import DBT_DIR, dbt
from tests.fixtures.handmade import write_handmade


def _unit_test_names() -> set[str]:
    names = set()
    for path in (DBT_DIR / "models").rglob("*.yml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names |= {t["name"] for t in doc.get("unit_tests", [])}
    return names


def test_every_dbt_unit_test_passes(tmp_path: Path) -> None:
    wh = tmp_path / "skeleton.duckdb"
    load_all(write_handmade(tmp_path / "zone"), wh)
    with connect(wh) as con:
        engine = DuckDBEngine(con)
        identity_store.ensure_schema(engine)
        engine.create_table_if_missing(PREDICTIONS_TABLE, PREDICTION_SCHEMA)
    proc = dbt("build", "--empty", "--exclude-resource-type", "test", warehouse=wh,
               workdir=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-8000:]
    # every unit test ran and passed (dbt's line: `N of M PASS model::unit_test`)
    passed = set(re.findall(r"\bPASS\s+\S+::(\S+)", log))
    expected = _unit_test_names()
    assert len(expected) >= 2 and expected <= passed, (expected - passed, log[-3000:])

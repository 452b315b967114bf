"""Shared fixtures: a hand-made landing zone, a loaded warehouse, and ONE `siyu run` of the
hand-made zone (`built`) shared by the end-to-end `siyu run` tests and the serving and browser
tests (exports, DuckDB 1.x readers, the BI build and the Dagster UI read the same result).

Under pytest-xdist (`make test`: `--dist loadfile`) a module never splits across workers, so
its module-scoped fixtures are built once; `built` is built once per worker that needs it.
(`--dist loadgroup` with `xdist_group` marks would pin the readers of `built` to one worker,
but with pytest 9.2.0 / pytest-xdist 3.8.0 it did not group anything — measured.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.handmade import write_handmade

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
INGESTED_AT = dt.datetime(2024, 1, 1)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Built:
    zone: Path
    warehouse: Path
    dagster_home: Path
    run_stdout: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SIYU_DATA_DIR": str(self.zone),
                "SIYU_WAREHOUSE": str(self.warehouse), "DAGSTER_HOME": str(self.dagster_home),
                "DAGSTER_DISABLE_TELEMETRY": "1"}


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    from tests.fixtures.handmade import write_handmade

    tmp = tmp_path_factory.mktemp("served")
    b = Built(write_handmade(tmp / "zone"), tmp / "wh" / "siyu.duckdb", tmp / "home")
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=ROOT, env=b.env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return dataclasses.replace(b, run_stdout=run.stdout)




@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    return write_handmade(tmp_path / "zone")


def load_all(root: Path, warehouse: Path, dts=None):
    from pipelines.lib.ingest.loader import load_entity
    from pipelines.lib.ingest.sinks import DuckDBSink
    from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS
    from pipelines.lib.warehouse import connect

    results = {}
    with connect(warehouse) as con:
        for spec in ENTITY_SPECS + REFERENCE_SPECS:
            results[spec.name] = load_entity(spec, root, dts, DuckDBSink(con), INGESTED_AT)
    return results

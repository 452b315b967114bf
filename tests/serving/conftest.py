"""One `siyu run` on the hand-made landing zone, shared by the serving and browser tests
(exports, DuckDB 1.x readers, the BI build and the Dagster UI all read the same result)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Built:
    zone: Path
    warehouse: Path
    dagster_home: Path

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
    return b


@pytest.fixture(scope="session")
def reports_dir() -> Path:
    """Screenshots land in data/reports/ of the repository (kept out of git by data/)."""
    out = ROOT / "data" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    return out

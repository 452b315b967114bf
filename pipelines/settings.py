"""Runtime settings for Siyu, read once from the environment.

Every entry point (the `siyu` CLI, `dagster dev`, tests) resolves paths here so that the same
two variables — `SIYU_DATA_DIR` and `SIYU_WAREHOUSE` — point all of them at the same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

#: Business days are Asia/Shanghai calendar days (the landing contract's `dt`).
BUSINESS_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Settings:
    """Paths and switches shared by the CLI, the Dagster code location and the tests."""

    data_dir: Path
    warehouse: Path
    dbt_target: str
    partitions_start: date
    dagster_home: Path

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def reference_dir(self) -> Path:
        return self.data_dir / "reference"

    @property
    def reports_dir(self) -> Path:
        """Data-quality reports (owner-only files); `SIYU_REPORTS_DIR` overrides."""
        return Path(os.environ.get("SIYU_REPORTS_DIR", str(PROJECT_ROOT / "data" / "reports")))

    @property
    def lake_dir(self) -> Path:
        """Where raw tables are written as Parquet when dbt targets Spark."""
        return Path(os.environ.get("SIYU_LAKE_DIR", str(self.data_dir / "lake")))


def load_settings() -> Settings:
    """Read the environment; defaults keep everything under the repository's `data/` folder."""
    data_dir = Path(os.environ.get("SIYU_DATA_DIR", PROJECT_ROOT / "data" / "demo")).resolve()
    warehouse = Path(
        os.environ.get("SIYU_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse" / "siyu.duckdb")
    ).resolve()
    dagster_home = Path(
        os.environ.get("DAGSTER_HOME", PROJECT_ROOT / "data" / "dagster_home")
    ).resolve()
    return Settings(
        data_dir=data_dir,
        warehouse=warehouse,
        dbt_target=os.environ.get("SIYU_DBT_TARGET", "duckdb"),
        partitions_start=date.fromisoformat(os.environ.get("SIYU_PARTITIONS_START", "2024-01-01")),
        dagster_home=dagster_home,
    )

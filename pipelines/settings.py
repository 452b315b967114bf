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


#: Share of the machine's physical memory a DuckDB instance may use before it spills to its
#: temp_directory (DuckDB's own default is 80 %; the pipeline leaves room for the Dagster
#: process, dbt's Python and the identity step beside it).
DEFAULT_DUCKDB_MEMORY_SHARE = 0.6


@dataclass(frozen=True)
class DuckDBLimits:
    """How much of the machine every DuckDB instance of the pipeline may take.

    `memory_limit` (a DuckDB size, e.g. `14GiB`), `threads` and `temp_directory` (where a
    query that needs more memory spills) come from `SIYU_DUCKDB_MEMORY_LIMIT`,
    `SIYU_DUCKDB_THREADS` and `SIYU_DUCKDB_TEMP_DIRECTORY`; the defaults are 60 % of physical
    memory, one thread per CPU and `<warehouse>.tmp` beside the warehouse file. Applied to
    every connection the pipeline opens (lib/platform/warehouse.py `apply_limits`) and to
    dbt-duckdb (dbt_project/profiles.yml `settings:`, fed by `env()`).
    """

    memory_limit: str
    threads: int
    temp_directory: str

    def env(self) -> dict[str, str]:
        """The same limits as environment variables, for dbt's profile (`env_var(...)`)."""
        return {"SIYU_DUCKDB_MEMORY_LIMIT": self.memory_limit,
                "SIYU_DUCKDB_THREADS": str(self.threads),
                "SIYU_DUCKDB_TEMP_DIRECTORY": self.temp_directory}


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def duckdb_limits(warehouse: Path | None = None) -> DuckDBLimits:
    """The DuckDB limits of this process's environment (read on every call, like the paths)."""
    if warehouse is None:
        warehouse = load_settings().warehouse
    memory = os.environ.get("SIYU_DUCKDB_MEMORY_LIMIT", "").strip() or \
        f"{int(physical_memory_bytes() * DEFAULT_DUCKDB_MEMORY_SHARE) // 2**20}MiB"
    threads = int(os.environ.get("SIYU_DUCKDB_THREADS", "").strip() or os.cpu_count() or 1)
    if threads < 1:
        raise ValueError(f"SIYU_DUCKDB_THREADS must be at least 1, not {threads}")
    temp = os.environ.get("SIYU_DUCKDB_TEMP_DIRECTORY", "").strip() or \
        str(Path(warehouse).with_name(Path(warehouse).name + ".tmp"))
    return DuckDBLimits(memory_limit=memory, threads=threads,
                        temp_directory=str(Path(temp).resolve()))


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

"""Resources, configured once from `settings` (environment variables)."""

from __future__ import annotations

import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from pydantic import PrivateAttr

from pipelines.lib import warehouse as wh
from pipelines.settings import DBT_PROJECT_DIR, load_settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; connections are short-lived so dbt can open it in between."""

    path: str
    data_dir: str
    dbt_target: str = "duckdb"
    lake_dir: str = ""
    _held: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Take the warehouse's run lock for the whole run (a second writer gets "busy")."""
        if self.dbt_target == "duckdb":
            self._held = ExitStack()
            self._held.enter_context(wh.run_lock(Path(self.path)))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    def connect(self, read_only: bool = False):
        return wh.connect(Path(self.path), read_only=read_only)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def _dbt_executable() -> str:
    """dbt from the same environment as Dagster (it may not be on PATH in a bare venv call)."""
    here = Path(sys.executable).parent / "dbt"
    return str(here) if here.exists() else (shutil.which("dbt") or "dbt")


def build_resources() -> dict[str, object]:
    s = load_settings()
    return {
        "warehouse": WarehouseResource(
            path=str(s.warehouse), data_dir=str(s.data_dir), dbt_target=s.dbt_target,
            lake_dir=str(s.lake_dir),
        ),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            target=s.dbt_target,
            dbt_executable=_dbt_executable(),
        ),
    }

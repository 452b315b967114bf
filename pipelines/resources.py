"""Resources, configured once from `settings` (environment variables)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import PrivateAttr

from pipelines.lib.platform import warehouse as wh
from pipelines.lib.platform.engines import DuckDBEngine, Engine, SparkEngine
from pipelines.settings import DBT_PROJECT_DIR, duckdb_limits, load_settings


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse of the configured dbt target.

    DuckDB: the warehouse file; connections are short-lived so dbt can open it in between.
    Spark: raw tables land as Parquet in `lake_dir`; dbt and the Python steps share one Spark
    Connect endpoint, `SPARK_REMOTE`, or a local server started for the run when it is unset.
    """

    path: str
    data_dir: str
    dbt_target: str = "duckdb"
    lake_dir: str = ""
    _resources: ExitStack = PrivateAttr(default_factory=ExitStack)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Hold what the whole run needs: DuckDB — the warehouse's run lock (a second writer
        gets "busy"); Spark — the lake folder and a Spark endpoint for dbt's subprocesses."""
        self._resources = ExitStack()
        if self.dbt_target == "duckdb":
            self._resources.enter_context(wh.run_lock(Path(self.path)))
            return
        if self.dbt_target != "spark":
            return
        os.environ["SIYU_LAKE_DIR"] = str(Path(self.lake_dir).resolve())
        if not os.environ.get("SPARK_REMOTE"):
            from pipelines.lib.platform.spark import local_connect_server

            url = self._resources.enter_context(local_connect_server(Path(self.lake_dir)))
            os.environ["SPARK_REMOTE"] = url
            self._resources.callback(os.environ.pop, "SPARK_REMOTE", None)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._resources.close()

    def connect(self, read_only: bool = False):
        return wh.connect(Path(self.path), read_only=read_only)

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """Table operations on the target's warehouse (see `pipelines.lib.platform.engines`)."""
        if self.dbt_target == "spark":
            from pipelines.lib.platform.spark import connect

            session = connect()
            try:
                yield SparkEngine(session)
            finally:
                # release the server-side session now: a client left open until interpreter
                # exit retries against a server that is gone by then (minutes of backoff)
                session.stop()
            return
        with self.connect() as con:
            yield DuckDBEngine(con)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


class SiyuDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two costs we never use (measured on a one-day
    run: 19.6 s of a 127 s profile, in every run, at any data size).

    * Before every `dbt.cli(...)` dagster-dbt builds a dbt-core adapter inside the Dagster
      process (profile, project and macro loading: ≈ 3.8 s per call, four calls a run). It
      serves only `fetch_row_counts()` / `fetch_column_metadata()`; the dbt assets count rows
      and profile tables themselves after dbt exits (transform/dbt_assets.py), because that
      adapter would open the DuckDB file while dbt holds it.
    * `_cli_version` runs `dbt --version` in a subprocess (≈ 4 s of Python start-up) to tell
      dbt-core from dbt Fusion. The executable is this environment's dbt-core
      (`_dbt_executable`), whose version the package metadata states.

    Both override private members of dagster-dbt (pinned in uv.lock);
    tests/unit/test_resources.py fails if an upgrade renames or stops calling them.
    """

    def _initialize_dbt_core_adapter(self, args):  # type: ignore[override]
        return None

    def cli(self, *args, **kwargs):  # type: ignore[override]
        """dbt with the pipeline's DuckDB limits (memory_limit, threads, temp_directory) in its
        environment: dbt_project/profiles.yml reads them with `env_var`, so dbt-duckdb spills
        like every other connection of the run. dagster-dbt copies `os.environ` when it starts
        dbt (inside this call); the process's own environment is put back afterwards."""
        limits = duckdb_limits().env()
        saved = {k: os.environ.get(k) for k in limits}
        os.environ.update(limits)
        try:
            return super().cli(*args, **kwargs)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    @property
    def _cli_version(self) -> version.Version:  # type: ignore[override]
        from importlib.metadata import version as installed

        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return version.parse(installed("dbt-core"))
        return DbtCliResource._cli_version.func(self)  # another dbt: ask it


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
        "dbt": SiyuDbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            target=s.dbt_target,
            dbt_executable=_dbt_executable(),
        ),
    }

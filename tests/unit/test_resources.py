"""The dbt resource skips dagster-dbt's in-process adapter and `dbt --version` subprocess."""

from __future__ import annotations

import inspect
import subprocess
from importlib.metadata import version as installed

import pytest
from dagster_dbt import DbtCliResource

from pipelines.resources import SiyuDbtCliResource, _dbt_executable
from pipelines.settings import DBT_PROJECT_DIR


def _resource() -> SiyuDbtCliResource:
    return SiyuDbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                              target="duckdb", dbt_executable=_dbt_executable())


def test_dbt_version_comes_from_the_package_not_a_subprocess(monkeypatch):
    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"subprocess started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    import dagster_dbt.core.resource as upstream

    monkeypatch.setattr(upstream, "check_output", no_subprocess, raising=False)
    assert str(_resource()._cli_version) == installed("dbt-core")


def test_no_dbt_adapter_is_built_in_the_dagster_process():
    assert _resource()._initialize_dbt_core_adapter(["build"]) is None


def test_the_overridden_members_are_still_what_dagster_dbt_calls():
    """An upgrade of dagster-dbt that renames these would silently bring the costs back."""
    source = inspect.getsource(DbtCliResource.cli)
    assert "self._initialize_dbt_core_adapter(" in source
    assert "self._cli_version" in source


@pytest.mark.parametrize("name", ["_initialize_dbt_core_adapter", "_cli_version"])
def test_the_base_class_still_has_the_member(name):
    assert hasattr(DbtCliResource, name)

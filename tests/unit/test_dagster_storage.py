"""The Dagster home Siyu prepares stores events with its event log (one engine kept per
database), in the layout Dagster's default storage reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.lib.dagster_storage import SiyuSqliteEventLogStorage
from pipelines.lib.instance import _PREVIOUS_DAGSTER_YAML, DAGSTER_YAML, prepare_dagster_home

KEY = dg.AssetKey(["marts", "fct_orders"])


@dg.asset(key=KEY)
def _mart() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})


def _materialize(home: Path, monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    assert dg.materialize([_mart], instance=instance).success
    return instance


def _row_count(instance: dg.DagsterInstance) -> int:
    event = instance.get_latest_materialization_event(KEY)
    return event.asset_materialization.metadata["dagster/row_count"].value


def test_a_prepared_home_uses_the_kept_engines_and_dagster_reads_its_files(tmp_path, monkeypatch):
    home = prepare_dagster_home(tmp_path / "home")
    instance = _materialize(home, monkeypatch)
    storage = instance.event_log_storage
    assert isinstance(storage, SiyuSqliteEventLogStorage)
    assert _row_count(instance) == 3
    # one engine per database, reused from event to event
    engines = dict(storage._engines)
    assert engines and instance.get_latest_materialization_event(KEY) is not None
    assert all(storage._engines[shard] is engine for shard, engine in engines.items())
    instance.dispose()
    # Dagster's default storage reads what ours wrote, where it looks by default
    (home / "dagster.yaml").write_text(_PREVIOUS_DAGSTER_YAML, encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as plain:
        assert type(plain.event_log_storage) is SqliteEventLogStorage
        assert _row_count(plain) == 3


def test_a_copied_home_writes_into_the_copy(tmp_path, monkeypatch):
    """The event log folder follows DAGSTER_HOME (tests and operators copy homes)."""
    first = prepare_dagster_home(tmp_path / "first")
    _materialize(first, monkeypatch).dispose()
    runs_before = sorted(p.name for p in (first / "history" / "runs").glob("*.db"))
    copy = Path(shutil.copytree(first, tmp_path / "copy"))
    _materialize(copy, monkeypatch).dispose()
    assert sorted(p.name for p in (first / "history" / "runs").glob("*.db")) == runs_before
    assert len(list((copy / "history" / "runs").glob("*.db"))) == len(runs_before) + 1


def test_a_wiped_event_log_is_initialised_again(tmp_path, monkeypatch):
    home = prepare_dagster_home(tmp_path / "home")
    instance = _materialize(home, monkeypatch)
    instance.event_log_storage.wipe()
    assert dg.materialize([_mart], instance=instance).success
    assert _row_count(instance) == 3
    instance.dispose()


@pytest.mark.parametrize("before, after", [
    (None, DAGSTER_YAML),
    (_PREVIOUS_DAGSTER_YAML, DAGSTER_YAML),  # what earlier versions wrote: upgraded
    ("telemetry:\n  enabled: true\n", "telemetry:\n  enabled: true\n"),  # edited: left alone
])
def test_dagster_yaml(tmp_path, before, after, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # prepare_dagster_home sets it anyway
    home = tmp_path / "home"
    if before is not None:
        home.mkdir()
        (home / "dagster.yaml").write_text(before, encoding="utf-8")
    prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == after

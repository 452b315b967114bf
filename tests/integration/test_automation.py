"""The nightly schedule, the landing sensor and the full-refresh job, evaluated by Dagster.

Uses the real code location (`pipelines.definitions`), Dagster's build_*_context helpers and
landing folders on disk; the sensor's clock is fixed through `now_in_shanghai`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.platform import sensors
from pipelines.lib.ingest.landing_status import CHANNELS, TZ
from pipelines.resources import WarehouseResource
from tests.fixtures.landing import deliver


@pytest.fixture(scope="module")
def code_location():
    from pipelines.definitions import defs

    return defs()


def test_nightly_schedule_requests_the_previous_business_day(code_location):
    schedule = code_location.resolve_schedule_def("siyu_nightly")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.job_name == "siyu_all"
    # 02:30 in Shanghai is 18:30 UTC the day before: the partition follows Shanghai time
    tick = datetime(2026, 11, 1, 2, 30, tzinfo=TZ)
    [request] = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)).run_requests
    assert request.partition_key == "2026-10-31"
    assert request.tags["siyu/trigger"] == "nightly_schedule"


def test_full_refresh_job_is_unpartitioned_and_skips_landing(code_location):
    job = code_location.resolve_job_def("siyu_full_refresh")
    keys = job.asset_layer.executable_asset_keys
    assert job.partitions_def is None
    assert keys and not any(k.path[0] == "raw" for k in keys)
    assert dg.AssetKey(["marts", "fct_orders"]) in keys
    assert job.tags["siyu/full_refresh"] == "true"


def _evaluate(zone: Path, now: datetime, cursor: str | None, monkeypatch) -> dg.SensorResult:
    monkeypatch.setattr(sensors, "now_in_shanghai", lambda: now)
    resources = {"warehouse": WarehouseResource(path=str(zone / "wh.duckdb"), data_dir=str(zone))}
    with dg.build_sensor_context(cursor=cursor, resources=resources,
                                 sensor_name="siyu_landing_sensor") as context:
        return sensors.siyu_landing_sensor(context)


def test_sensor_requests_a_fully_landed_day(tmp_path: Path, monkeypatch):
    for ch in CHANNELS:
        deliver(tmp_path / "landing", ch, date(2026, 10, 30))
    cursor = json.dumps({"done_through": "2026-10-29"})
    result = _evaluate(tmp_path, datetime(2026, 10, 31, 0, 10, tzinfo=TZ), cursor, monkeypatch)
    [request] = result.run_requests
    assert request.partition_key == "2026-10-30"
    assert request.run_key == "landed:2026-10-30"
    assert json.loads(result.cursor)["done_through"] == "2026-10-30"
    assert not result.asset_events


def test_sensor_requests_nothing_for_a_partial_day_before_the_cutoff(tmp_path: Path, monkeypatch):
    for ch in ("pos", "tmall", "miniprogram"):
        deliver(tmp_path / "landing", ch, date(2026, 10, 30))
    cursor = json.dumps({"done_through": "2026-10-29"})
    result = _evaluate(tmp_path, datetime(2026, 10, 31, 1, 0, tzinfo=TZ), cursor, monkeypatch)
    assert not result.run_requests
    assert "missing wecom" in result.skip_reason.skip_message
    assert "not late" in result.skip_reason.skip_message
    assert json.loads(result.cursor)["late"] == {}
    assert not result.asset_events


def test_sensor_reports_the_late_channel_after_the_cutoff(tmp_path: Path, monkeypatch):
    for ch in ("pos", "miniprogram", "wecom"):
        deliver(tmp_path / "landing", ch, date(2026, 10, 30))
    cursor = json.dumps({"done_through": "2026-10-29"})
    now = datetime(2026, 10, 31, 3, 0, tzinfo=TZ)
    result = _evaluate(tmp_path, now, cursor, monkeypatch)
    assert not result.run_requests
    assert "missing tmall — LATE" in result.skip_reason.skip_message
    assert json.loads(result.cursor)["late"] == {"2026-10-30": ["tmall"]}
    observed = {(e.asset_key.path[-1], e.partition) for e in result.asset_events}
    assert observed == {("tmall__members", "2026-10-30"), ("tmall__orders", "2026-10-30"),
                        ("tmall__order_items", "2026-10-30")}
    meta = result.asset_events[0].metadata
    assert meta["landing_status"].value == "late" and meta["channel"].value == "tmall"
    # the next evaluation does not repeat the observation, but still shows the lateness
    again = _evaluate(tmp_path, now, result.cursor, monkeypatch)
    assert not again.asset_events and "LATE" in again.skip_reason.skip_message


def test_sensor_catches_up_consecutive_days_in_one_run(tmp_path: Path, monkeypatch):
    for day in (date(2026, 10, 28), date(2026, 10, 29), date(2026, 10, 30)):
        for ch in CHANNELS:
            deliver(tmp_path / "landing", ch, day)
    cursor = json.dumps({"done_through": "2026-10-27"})
    result = _evaluate(tmp_path, datetime(2026, 10, 31, 8, 0, tzinfo=TZ), cursor, monkeypatch)
    [request] = result.run_requests
    assert request.partition_key is None
    assert (request.tags[sensors.RANGE_START_TAG], request.tags[sensors.RANGE_END_TAG]) == (
        "2026-10-28", "2026-10-30")

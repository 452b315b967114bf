"""Landing completeness and lateness: real folders, fixed clock."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from pipelines.lib.ingest.landing_status import (
    CHANNELS,
    TZ,
    LandingPolicy,
    SensorCursor,
    channel_days,
    contiguous_ranges,
    plan_landing_runs,
)
from pipelines.lib.ingest.specs import ENTITY_SPECS
from tests.fixtures.landing import deliver

POLICY = LandingPolicy(cutoff=time(2, 0), lookback_days=3)
EARLIEST = date(2024, 1, 1)


def test_channels_are_the_four_of_the_contract():
    assert CHANNELS == ("pos", "tmall", "miniprogram", "wecom")


def test_empty_or_temporary_folders_do_not_count(tmp_path: Path):
    spec = next(s for s in ENTITY_SPECS if s.channel == "pos")
    empty = tmp_path / "pos" / spec.entity / "dt=2026-10-30"
    empty.mkdir(parents=True)
    (empty / "part-0001.csv.tmp").write_text("half", encoding="utf-8")
    assert channel_days(tmp_path)["pos"] == set()
    deliver(tmp_path, "pos", date(2026, 10, 30))
    assert channel_days(tmp_path)["pos"] == {date(2026, 10, 30)}


def test_contiguous_ranges():
    d = date(2026, 10, 1)
    days = [d.replace(day=n) for n in (5, 1, 2, 3, 7, 8)]
    assert contiguous_ranges(days) == [(d, d.replace(day=3)), (d.replace(day=5), d.replace(day=5)),
                                       (d.replace(day=7), d.replace(day=8))]


@pytest.mark.parametrize("now_hour, late", [(1, False), (2, True)])
def test_missing_channel_is_late_only_after_the_cutoff(tmp_path: Path, now_hour: int, late: bool):
    day = date(2026, 10, 30)
    for ch in ("pos", "tmall", "miniprogram"):
        deliver(tmp_path, ch, day)
    now = datetime(2026, 10, 31, now_hour, 0, tzinfo=TZ)
    cursor = SensorCursor(done_through=date(2026, 10, 29))
    plan = plan_landing_runs(cursor, channel_days(tmp_path), now, POLICY, EARLIEST)
    assert plan.ranges == []
    [status] = plan.statuses
    assert status.missing == ("wecom",) and status.late is late
    assert plan.cursor.done_through == date(2026, 10, 29)
    assert dict(plan.cursor.late) == ({day: ("wecom",)} if late else {})


def test_complete_days_are_requested_once_and_the_cursor_advances(tmp_path: Path):
    for day in (date(2026, 10, 28), date(2026, 10, 29), date(2026, 10, 30)):
        for ch in CHANNELS:
            if not (day == date(2026, 10, 29) and ch == "tmall"):
                deliver(tmp_path, ch, day)
    now = datetime(2026, 10, 31, 9, 0, tzinfo=TZ)
    first = plan_landing_runs(SensorCursor(done_through=date(2026, 10, 27)),
                              channel_days(tmp_path), now, POLICY, EARLIEST)
    # the late 29th does not hold back the 30th; each complete stretch is one run
    assert first.ranges == [(date(2026, 10, 28), date(2026, 10, 28)),
                            (date(2026, 10, 30), date(2026, 10, 30))]
    assert first.cursor.done_through == date(2026, 10, 28)
    assert first.cursor.requested == (date(2026, 10, 30),)
    assert [s.day for s in first.newly_late] == [date(2026, 10, 29)]

    again = plan_landing_runs(SensorCursor.from_json(first.cursor.to_json()),
                              channel_days(tmp_path), now, POLICY, EARLIEST)
    assert again.ranges == [] and again.newly_late == []  # reported once

    deliver(tmp_path, "tmall", date(2026, 10, 29))
    last = plan_landing_runs(again.cursor, channel_days(tmp_path), now, POLICY, EARLIEST)
    assert last.ranges == [(date(2026, 10, 29), date(2026, 10, 29))]
    assert last.cursor == SensorCursor(done_through=date(2026, 10, 30))


def test_first_start_looks_back_and_catches_up_in_one_range(tmp_path: Path):
    for day in (date(2026, 10, 27), date(2026, 10, 28), date(2026, 10, 29), date(2026, 10, 30)):
        for ch in CHANNELS:
            deliver(tmp_path, ch, day)
    now = datetime(2026, 10, 31, 0, 5, tzinfo=TZ)
    plan = plan_landing_runs(SensorCursor(), channel_days(tmp_path), now, POLICY, EARLIEST)
    # lookback 3 days from the 31st: 28th..30th, one single-run range; today is not closed
    assert plan.ranges == [(date(2026, 10, 28), date(2026, 10, 30))]


def test_policy_from_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIYU_LANDING_CUTOFF", "06:30")
    monkeypatch.setenv("SIYU_SENSOR_LOOKBACK_DAYS", "14")
    assert LandingPolicy.from_env() == LandingPolicy(cutoff=time(6, 30), lookback_days=14)

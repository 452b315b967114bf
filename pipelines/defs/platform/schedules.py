"""The nightly schedule: 02:30 Asia/Shanghai, the previous business day's partition.

Built from the partitioned job, so each tick requests exactly the partition that closed last
(the tick at 2026-10-31 02:30 requests `2026-10-30`), in the partitions' own time zone.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.defs.platform.jobs import siyu_all_job


def nightly_time() -> tuple[int, int]:
    """`SIYU_NIGHTLY_AT` (HH:MM, Asia/Shanghai), default 02:30."""
    hour, minute = os.environ.get("SIYU_NIGHTLY_AT", "02:30").split(":")
    return int(hour), int(minute)


_hour, _minute = nightly_time()
nightly_schedule = dg.build_schedule_from_partitioned_job(
    siyu_all_job,
    name="siyu_nightly",
    hour_of_day=_hour,
    minute_of_hour=_minute,
    description="Every night: load and rebuild the previous business day (Asia/Shanghai). "
    "Use this OR the landing sensor; see docs/operations.md.",
    tags={"siyu/trigger": "nightly_schedule"},
)

"""The landing sensor: run a business day once all four channels have delivered it.

Each evaluation reads the landing folders (no warehouse access), requests one run per range
of consecutive complete days (a single-run backfill, not one run per day), and reports late
channels three ways: the evaluation's skip message, the JSON cursor (visible on the sensor's
page) and an `AssetObservation` with `landing_status=late` on the late channel's raw assets
for that day's partition, emitted once per lateness change.
"""

from datetime import date, datetime

import dagster as dg

from pipelines.defs.platform.jobs import siyu_all_job
from pipelines.lib.ingest.landing_status import (
    TZ,
    DayStatus,
    LandingPolicy,
    SensorCursor,
    channel_days,
    plan_landing_runs,
)
from pipelines.lib.ingest.specs import ENTITY_SPECS
from pipelines.resources import WarehouseResource
from pipelines.settings import load_settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def now_in_shanghai() -> datetime:
    """The evaluation clock (a function so tests can fix it)."""
    return datetime.now(TZ)


def range_run_request(start: date, end: date, tags: dict[str, str] | None = None) -> dg.RunRequest:
    """One run of `siyu_all` over [start, end]; a single day is an ordinary partition run."""
    extra = {"siyu/trigger": "landing_sensor", **(tags or {})}
    if start == end:
        return dg.RunRequest(run_key=f"landed:{start}", partition_key=start.isoformat(),
                             tags=extra)
    return dg.RunRequest(
        run_key=f"landed:{start}..{end}",
        tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat(), **extra},
    )


def late_observations(status: DayStatus) -> list[dg.AssetObservation]:
    """One observation per raw asset of each late channel, on that day's partition."""
    return [
        dg.AssetObservation(
            asset_key=dg.AssetKey(["raw", spec.name]),
            partition=status.day.isoformat(),
            metadata={
                "landing_status": "late",
                "business_day": status.day.isoformat(),
                "channel": spec.channel,
                "cutoff": status.cutoff_at.isoformat(),
                "missing_channels": ", ".join(status.missing),
                "landed_channels": ", ".join(status.landed) or "none",
            },
        )
        for spec in ENTITY_SPECS if spec.channel in status.missing
    ]


@dg.sensor(
    name="siyu_landing_sensor",
    job=siyu_all_job,
    minimum_interval_seconds=300,
    description="Starts `siyu_all` for a business day once pos, tmall, miniprogram and wecom "
    "have all landed it; reports channels still missing after the cut-off "
    "(SIYU_LANDING_CUTOFF, default 02:00 the next day) as late.",
)
def siyu_landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    policy = LandingPolicy.from_env()
    landed = channel_days(warehouse.data_path / "landing")
    plan = plan_landing_runs(SensorCursor.from_json(context.cursor), landed,
                             now_in_shanghai(), policy, load_settings().partitions_start)
    for s in plan.newly_late:
        context.log.warning(f"landing late: {s.describe()}")
    waiting = "; ".join(s.describe() for s in plan.waiting) or "no closed day waiting"
    return dg.SensorResult(
        run_requests=[range_run_request(a, b) for a, b in plan.ranges],
        skip_reason=None if plan.ranges else f"nothing new to run — {waiting}",
        cursor=plan.cursor.to_json(),
        asset_events=[o for s in plan.newly_late for o in late_observations(s)],
    )

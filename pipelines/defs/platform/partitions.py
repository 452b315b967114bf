"""The business-day partitioning shared by every day-grained asset."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from pipelines.settings import BUSINESS_TIMEZONE, load_settings

business_days = dg.DailyPartitionsDefinition(
    start_date=load_settings().partitions_start.isoformat(),
    timezone=BUSINESS_TIMEZONE,
)

#: Multi-day loads run as one run (one dbt invocation), not one run per day.
single_run = dg.BackfillPolicy.single_run()


def days_in_context(context: dg.AssetExecutionContext) -> list[date]:
    """The business days the current run covers (a range in a single-run backfill)."""
    if not (context.has_partition_key_range or context.has_partition_key):
        return []
    rng = context.partition_key_range
    start, end = date.fromisoformat(rng.start), date.fromisoformat(rng.end)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]

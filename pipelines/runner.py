"""`siyu run`: materialise every asset for a business-day range as ONE Dagster run.

Runs in-process against the persistent instance under `DAGSTER_HOME`, so the run, its asset
materialisations and check results appear in the Dagster UI like any other run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

from pipelines.lib.ingest.loader import landed_days
from pipelines.lib.ingest.specs import ENTITY_SPECS
from pipelines.lib.platform.instance import prepare_dagster_home
from pipelines.lib.platform.warehouse import WarehouseBusyError, connect, run_lock
from pipelines.settings import load_settings


@dataclass
class RunReport:
    success: bool
    days: tuple[date, date] | None
    run_id: str | None = None
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    quality_report: str | None = None
    full_refresh: bool = False

    def summary(self) -> str:
        lines = [
            f"siyu run: {'SUCCESS' if self.success else 'FAILED'}"
            + (f" (run {self.run_id})" if self.run_id else ""),
            "  full refresh: every table derived from raw, from the whole raw history"
            if self.full_refresh else
            f"  business days: {self.days[0]} .. {self.days[1]}" if self.days else "  business days: none landed",
            f"  assets materialised: {len(self.materialized)}",
        ]
        if self.error:
            lines.append(f"  error: {self.error}")
        for s in self.failed_steps:
            lines.append(f"  failed step: {s}")
        for c in self.failed_checks:
            lines.append(f"  failed blocking check: {c}")
        if self.skipped:
            lines.append(f"  not built (upstream failed or blocked): {len(self.skipped)} step(s)")
        if self.quality_report:
            lines.append(f"  data-quality report: {self.quality_report}")
        return "\n".join(lines)


def all_landed_days() -> list[date]:
    s = load_settings()
    days: set[date] = set()
    for spec in ENTITY_SPECS:
        days.update(landed_days(s.landing_dir, spec))
    return sorted(days)


def resolve_days(start: date | None, end: date | None, landed: list[date]
                 ) -> tuple[date, date] | None:
    """The business-day range of `siyu run --start/--end`: a missing end is the last landed
    day, a missing start the first (as the CLI help says), nothing given is every landed day.

    Raises ValueError for an empty range, so the CLI can say why instead of running nothing.
    """
    if start is None and end is None:
        return (landed[0], landed[-1]) if landed else None
    if (start is None or end is None) and not landed:
        raise ValueError("no business day has landed; give both --start and --end")
    if start is None:
        if end < landed[0]:
            raise ValueError(f"--end {end} is before the first landed day {landed[0]}")
        return landed[0], end
    if end is None:
        if start > landed[-1]:
            raise ValueError(f"--start {start} is after the last landed day {landed[-1]}")
        return start, landed[-1]
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    return start, end


def run_pipeline(days: tuple[date, date] | None = None, log_level: str = "WARNING",
                 full_refresh: bool = False) -> RunReport:
    """One Dagster run: `siyu_all` over `days`, or with `full_refresh` the `siyu_full_refresh`
    job (every table derived from raw rebuilt from the whole raw history; `days` ignored)."""
    import dagster as dg

    # one "planned" event per asset for a multi-day run instead of one per asset and day
    # (11,000 SQLite writes, 80 s, for a two-year backfill); the catch — a failed run does not
    # mark each of its partitions failed — does not matter here: `siyu run` reports the failure
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    s = load_settings()
    if full_refresh:
        days = None
    elif days is None:
        days = resolve_days(None, None, all_landed_days())
    try:  # fail fast and clearly when another process is writing (the run's resource then
        # holds the run lock for the whole run)
        with run_lock(s.warehouse), connect(s.warehouse):
            pass
    except WarehouseBusyError as exc:
        return RunReport(False, days, error=str(exc))
    prepare_dagster_home(s.dagster_home)
    from pipelines.definitions import defs

    job = defs().resolve_job_def("siyu_full_refresh" if full_refresh else "siyu_all")
    tags = {}
    if days and not full_refresh:
        tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[1].isoformat()}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, tags=tags, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    report = RunReport(result.success, days, run_id=result.run_id, full_refresh=full_refresh)
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_MATERIALIZATION":
            report.materialized.append(ev.asset_key.to_user_string())
        elif ev.event_type_value == "STEP_FAILURE":
            err = ev.step_failure_data.error
            msg = err.message.strip() if err else ""
            if ev.step_failure_data.user_failure_data and ev.step_failure_data.user_failure_data.description:
                msg = ev.step_failure_data.user_failure_data.description
            report.failed_steps.append(f"{ev.step_key}: {msg}")
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if not data.passed and data.severity.value == "ERROR":
                detail = f" — {data.description}" if data.description else ""
                report.failed_checks.append(
                    f"{data.asset_key.to_user_string()}:{data.check_name}{detail}"
                )
        elif ev.event_type_value == "STEP_SKIPPED":
            report.skipped.append(ev.step_key)
    if report.failed_checks or report.failed_steps:
        report.success = False
    report.quality_report = str(_quality_report(report, result.all_events, s))
    return report


def _quality_report(report: RunReport, events: list, s):
    """Write the run's data-quality report and attach it to Dagster as `quality/run_report`."""
    import dagster as dg

    from pipelines.lib.quality.run_report import add_quarantine, from_events, write_report

    rep = from_events(events, report.run_id, report.success, report.days, report.failed_steps)
    if s.dbt_target == "duckdb":
        with connect(s.warehouse, read_only=True) as con:
            add_quarantine(rep, con)
    path = write_report(rep, s.reports_dir)
    c = rep.counts()
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=["quality", "run_report"],
            description=f"data-quality report of run {report.run_id}",
            metadata={"run_id": report.run_id or "", "success": report.success,
                      "checks_passed": c["passed"], "checks_failed": c["failed"],
                      "checks_warned": c["warned"],
                      "rows_quarantined": sum(n for _, _, n in rep.quarantine_by_reason),
                      "report_file": dg.MetadataValue.path(str(path)),
                      "report": dg.MetadataValue.md(rep.markdown())}))
    return path

"""`siyu run`: materialise every asset for a business-day range as ONE Dagster run.

Runs in-process against the persistent instance under `DAGSTER_HOME`, so the run, its asset
materialisations and check results appear in the Dagster UI like any other run.

What it prints is a progress view fed by the run's own Dagster events (an event listener on
the instance: step start/success/failure, materialisations with `dagster/row_count`, check
evaluations) and by the steps' `progress.report` (lib/platform/run_view.py). dbt's text log,
which dagster-dbt re-emits on stdout, and Dagster's console log stay out of it: both are in
the Dagster UI (the run's event log and each step's captured stdout); `--verbose` prints them
as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from pipelines.lib.ingest.loader import landed_days
from pipelines.lib.ingest.specs import ENTITY_SPECS
from pipelines.lib.platform import progress
from pipelines.lib.platform.instance import prepare_dagster_home
from pipelines.lib.platform.memory import MemoryWatch, PeakMemory
from pipelines.lib.platform.run_view import RunView
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
    peak_memory: PeakMemory | None = None

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
        if self.peak_memory is not None:
            lines.append(f"  peak memory: {self.peak_memory.describe()}")
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


def run_pipeline(days: tuple[date, date] | None = None, full_refresh: bool = False,
                 verbose: bool = False) -> RunReport:
    """One Dagster run: `siyu_all` over `days`, or with `full_refresh` the `siyu_full_refresh`
    job (every table derived from raw rebuilt from the whole raw history; `days` ignored).

    Prints the progress view on stdout, or with `verbose` Dagster's DEBUG log and dbt's log."""
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
    title = ("siyu run: full refresh from the whole raw history" if full_refresh else
             f"siyu run: business days {days[0]} .. {days[1]}" if days else
             "siyu run: no business day landed")
    if verbose:
        return _execute(days, full_refresh, s, "DEBUG", None)
    with _view_terminal() as (out, live):
        view = RunView(out, live=live)
        view.begin(title)
        try:
            return _execute(days, full_refresh, s, "CRITICAL", view)
        finally:
            view.close()


def _execute(days: tuple[date, date] | None, full_refresh: bool, s, log_level: str,
             view: RunView | None) -> RunReport:
    import dagster as dg

    if view:
        view.set_phase("loading the pipeline definitions")
    from pipelines.definitions import defs

    job = defs().resolve_job_def("siyu_full_refresh" if full_refresh else "siyu_all")
    tags = {}
    if days and not full_refresh:
        tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[1].isoformat()}
    run_id = str(uuid.uuid4())  # known before the run starts: the view listens to it
    watch = MemoryWatch()  # the run's peak memory, dbt's processes included
    with dg.DagsterInstance.get() as instance, _feeding(view, instance, run_id), watch:
        result = job.execute_in_process(
            instance=instance, tags=tags, raise_on_error=False, run_id=run_id,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    report = RunReport(result.success, days, run_id=result.run_id, full_refresh=full_refresh,
                       peak_memory=watch.result)
    run_error = ""
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_MATERIALIZATION":
            report.materialized.append(ev.asset_key.to_user_string())
        elif ev.event_type_value == "STEP_FAILURE":
            report.failed_steps.append(f"{ev.step_key}: {failure_reason(ev.step_failure_data)}")
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if not data.passed and data.severity.value == "ERROR":
                detail = f" — {data.description}" if data.description else ""
                report.failed_checks.append(
                    f"{data.asset_key.to_user_string()}:{data.check_name}{detail}"
                )
        elif ev.event_type_value == "STEP_SKIPPED":
            report.skipped.append(ev.step_key)
        elif ev.event_type_value == "PIPELINE_FAILURE" and ev.event_specific_data.error:
            run_error = _unwrap(ev.event_specific_data.error)
    if report.failed_checks or report.failed_steps:
        report.success = False
    elif not report.success and run_error:  # the run failed outside any step (e.g. a resource)
        report.error = run_error
    if view:
        view.set_phase("writing the data-quality report")
    report.quality_report = str(_quality_report(report, result.all_events, s))
    return report


def failure_reason(data) -> str:
    """A failed step's reason: the `dg.Failure` description the asset wrote, else the error the
    op raised (Dagster wraps it in 'Error occurred while executing op …', its cause is the
    exception itself, e.g. 'ServingError: port … is already in use')."""
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    return _unwrap(data.error)


def _unwrap(err) -> str:
    while err is not None and err.cause is not None \
            and err.cls_name in ("DagsterExecutionStepExecutionError",
                                 "DagsterResourceFunctionError"):
        err = err.cause
    return err.message.strip() if err else ""


@contextlib.contextmanager
def _view_terminal() -> Iterator[tuple[TextIO, bool]]:
    """(stream for the view, is it a terminal); stdout's file descriptor points at /dev/null
    meanwhile, so dbt's log that dagster-dbt writes there (≈ 700 lines a night) and the tail of
    the steps' captured output do not reach the screen — Dagster still captures them per step
    (its compute logs are redirected at the descriptor level, into files the UI shows)."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stdout without a descriptor: share it
        yield sys.stdout, False
        return
    live = os.isatty(fd)
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    out = os.fdopen(os.dup(saved), "w", encoding=sys.stdout.encoding or "utf-8",
                    errors="replace")
    try:
        yield out, live
    finally:
        out.close()
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


class _ProgressHandler(logging.Handler):
    def __init__(self, view: RunView):
        super().__init__(logging.DEBUG)
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        done, total, unit = getattr(record, "siyu_progress", (0, 0, ""))
        self.view.progress(done, total, unit)


@contextlib.contextmanager
def _feeding(view: RunView | None, instance, run_id: str) -> Iterator[None]:
    """Forward the run's events, as Dagster stores them, and the steps' progress to the view."""
    if view is None:
        yield
        return
    handler, level = _ProgressHandler(view), progress.LOGGER.level
    progress.LOGGER.addHandler(handler)
    progress.LOGGER.setLevel(logging.DEBUG)
    instance.add_event_listener(run_id, lambda entry: _to_view(view, entry))
    view.set_phase("planning the run")
    try:
        yield
    finally:
        progress.LOGGER.removeHandler(handler)
        progress.LOGGER.setLevel(level)


def _to_view(view: RunView, entry) -> None:
    step, ev = entry.step_key, entry.dagster_event
    if ev is None:
        if step and entry.level >= logging.WARNING:
            view.warning(step)
        return
    kind = ev.event_type_value
    if kind in ("ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"):
        if step:
            view.planned_step(step)
    elif kind == "STEP_START":
        view.step_started(step, entry.timestamp)
    elif kind == "ASSET_MATERIALIZATION":
        rows = ev.event_specific_data.materialization.metadata.get("dagster/row_count")
        view.materialized(step, ev.asset_key.to_user_string(),
                          None if rows is None else int(rows.value))
    elif kind == "ASSET_CHECK_EVALUATION":
        data = ev.event_specific_data
        view.check(step, f"{data.asset_key.to_user_string()}:{data.check_name}", data.passed,
                   blocking=data.severity.value == "ERROR")
    elif kind == "STEP_SUCCESS":
        view.step_finished(step, entry.timestamp, ok=True)
    elif kind == "STEP_FAILURE":
        view.step_finished(step, entry.timestamp, ok=False,
                           reason=failure_reason(ev.step_failure_data))


def _quality_report(report: RunReport, events: list, s):
    """Write the run's data-quality report and attach it to Dagster as `quality/run_report`."""
    import dagster as dg

    from pipelines.lib.quality.run_report import add_quarantine, from_events, write_report

    rep = from_events(events, report.run_id, report.success, report.days, report.failed_steps)
    rep.peak_memory = report.peak_memory
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
                      "peak_memory_bytes": (report.peak_memory.peak_bytes
                                            if report.peak_memory else 0),
                      "report_file": dg.MetadataValue.path(str(path)),
                      "report": dg.MetadataValue.md(rep.markdown())}))
    return path

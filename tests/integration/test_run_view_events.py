"""The view of `siyu run` fed by a real in-process Dagster run (pipelines/runner.py): the
instance's event listener delivers each step's events while the run goes on, row counts and
checks come from the materialisations and check evaluations, progress from `progress.report`,
and a failed step shows the exception the op raised, not Dagster's wrapper."""

from __future__ import annotations

import io
import uuid

import dagster as dg

from pipelines.lib.platform import progress
from pipelines.lib.platform.run_view import RunView
from pipelines.runner import _feeding, _ProgressHandler

OUT = io.StringIO()
SEEN: dict[str, object] = {}


@dg.asset(check_specs=[dg.AssetCheckSpec("not_empty", asset="orders")])
def orders():
    progress.report(1, 2, "files read")
    progress.report(2, 2, "files read")
    return dg.MaterializeResult(metadata={"dagster/row_count": 3},
                                check_results=[dg.AssetCheckResult(passed=True)])


@dg.asset(deps=[orders])
def publish():
    SEEN["screen while publishing"] = OUT.getvalue()
    raise RuntimeError("port 54329 is already in use by another process")


@dg.asset(deps=[publish])
def outbox():
    return None


def test_the_view_follows_the_run_as_it_happens():
    job = dg.Definitions(assets=[orders, publish, outbox],
                         jobs=[dg.define_asset_job("night")]).resolve_job_def("night")
    view = RunView(OUT, live=False)
    view.begin("siyu run: test")
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.ephemeral() as instance, _feeding(view, instance, run_id):
        result = job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    view.close()
    assert not result.success
    # the first step's line was on screen while the second step ran
    assert "ok     orders" in SEEN["screen while publishing"]
    assert view.steps["orders"].progress == (2, 2, "files read")
    assert not [h for h in progress.LOGGER.handlers if isinstance(h, _ProgressHandler)]
    lines = OUT.getvalue().splitlines()
    assert lines[1].split()[:8] == ["[1/3]", "ok", "orders", "1", "asset", "3", "rows", "1"]
    assert lines[2].split()[:3] == ["[2/3]", "FAILED", "publish"]
    assert lines[3].strip() == ("RuntimeError: port 54329 is already in use by another "
                                "process")
    assert lines[4] == ("  not run (an upstream step failed or a blocking check stopped it): "
                        "outbox")


class FailingWarehouse(dg.ConfigurableResource):
    def setup_for_execution(self, context) -> None:
        raise RuntimeError("warehouse busy: held by pid 1")


@dg.asset
def needs_warehouse(warehouse: FailingWarehouse):
    return None


def test_a_run_that_fails_outside_any_step_names_the_cause():
    """No step failed (the resource did): the run's failure event carries the reason."""
    from pipelines.runner import _unwrap

    job = dg.Definitions(assets=[needs_warehouse], resources={"warehouse": FailingWarehouse()},
                         jobs=[dg.define_asset_job("night")]).resolve_job_def("night")
    result = job.execute_in_process(raise_on_error=False, run_config={
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    failures = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"]
    assert not [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert _unwrap(failures[0].event_specific_data.error) == (
        "RuntimeError: warehouse busy: held by pid 1")

"""The progress view of `siyu run` (pipelines/lib/platform/run_view.py), fed by hand."""

from __future__ import annotations

import io

from pipelines.lib.platform.run_view import RunView, bar, fmt_duration


class Tty(io.StringIO):
    encoding = "utf-8"


def _night(view: RunView) -> None:
    """Three planned steps: ingestion (a partitioned asset materialised once per day, with the
    same row count each time, and two checks), a dbt step that fails a blocking check and then
    fails, and the publish that never runs."""
    view.begin("siyu run: business days 2024-05-01 .. 2024-05-02")
    for step in ("ingest_pos__orders", "dbt_marts", "serving__postgres"):
        view.planned_step(step)
    view.step_started("ingest_pos__orders", 100.0)
    for _day in range(2):  # one event per partition, each with the run's row count
        view.materialized("ingest_pos__orders", "raw/pos__orders", 1542)
    view.check("ingest_pos__orders", "raw/pos__orders:gx_raw_suite", True, blocking=True)
    view.check("ingest_pos__orders", "raw/pos__orders:quarantine_share", True, blocking=True)
    view.step_finished("ingest_pos__orders", 103.25, ok=True)
    view.step_started("dbt_marts", 103.5)
    view.progress(40, 163, "models and tests")
    view.materialized("dbt_marts", "marts/dim_member", 5000)
    view.materialized("dbt_marts", "marts/fct_orders", 12000)
    view.materialized("dbt_marts", "marts/some_view", None)  # no row count: not summed
    view.check("dbt_marts", "marts/dim_member:unique_member_id", True, blocking=True)
    view.check("dbt_marts", "marts/fct_orders:not_null_order_key", False, blocking=True)
    view.check("dbt_marts", "marts/fct_orders:accepted_range", False, blocking=False)
    view.warning("dbt_marts")
    view.warning("serving__postgres")  # a "not executing" notice of a step that never ran
    view.step_finished("dbt_marts", 128.0, ok=False,
                       reason="dbt build failed (an error-severity test):\n\n- `test.a` fail\n"
                              "- `test.b` fail\n- `test.c` fail\n")
    view.close()


def test_plain_view_is_one_line_per_step_without_terminal_codes():
    out = io.StringIO()
    _night(RunView(out, live=False))
    text = out.getvalue()
    assert "\x1b" not in text and "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "siyu run: business days 2024-05-01 .. 2024-05-02"
    # partitions count once: 1,542 rows, not 3,084; 2 checks passed; 3.25 s
    assert lines[1].split() == ["[1/3]", "ok", "ingest_pos__orders", "1", "asset", "1,542",
                                "rows", "2", "checks", "3.2", "s"]
    # 5,000 + 12,000 rows (the view has none); one of three checks passed; 24.5 s
    assert lines[2].split()[:11] == ["[2/3]", "FAILED", "dbt_marts", "3", "assets", "17,000",
                                     "rows", "1/3", "checks", "24.5", "s"]
    assert lines[2].endswith(" 24.5 s  1 warning in the run log")
    assert [x.strip() for x in lines[3:9]] == [
        "blocking check failed: marts/fct_orders:not_null_order_key",
        "check warned: marts/fct_orders:accepted_range",
        "dbt build failed (an error-severity test):", "- `test.a` fail", "- `test.b` fail",
        "... (1 more line(s) in the summary below)"]
    assert lines[9] == ("  not run (an upstream step failed or a blocking check stopped it): "
                        "serving__postgres")
    assert lines[10].startswith("  2 of 3 steps finished in ")
    assert len(lines) == 11


def test_live_view_redraws_a_status_line_with_a_bar():
    out = Tty()
    view = RunView(out, live=True, color=False)
    view.begin("siyu run")
    view.set_phase("planning the run")
    assert view.status_line(now=view.t0 + 3).startswith("  > planning the run · 3.0 s")
    view.planned_step("dbt_marts")
    view.step_started("dbt_marts", 0.0)
    view.progress(81, 162, "models and tests")
    status = view.status_line(now=12.0)
    assert status.startswith("  > [1/1] dbt_marts  " + "█" * 12 + "░" * 12
                             + " 81/162 models and tests")
    view.step_finished("dbt_marts", 30.0, ok=True)
    view.set_phase("writing the data-quality report")
    assert "writing the data-quality report" in view.status_line()
    view.close()
    text = out.getvalue()
    # each redraw returns to the line's start and clears it; the finished line replaces it
    assert "\r\x1b[K  > [1/1] dbt_marts" in text
    assert "\r\x1b[K  [1/1] ok     dbt_marts" in text
    assert text.endswith("\n")


def test_live_view_colours_the_status_unless_told_not_to(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Tty()
    view = RunView(out, live=True)
    view.step_started("s", 0.0)
    view.step_finished("s", 1.0, ok=False, reason="boom")
    assert "\x1b[31;1mFAILED" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    assert RunView(Tty(), live=True).color is False


def test_durations_and_bars():
    assert fmt_duration(3.25) == "3.2 s"
    assert fmt_duration(59.96) == "60.0 s"
    assert fmt_duration(61) == "1:01"
    assert fmt_duration(3725) == "1:02:05"
    assert bar(1, 4, width=8, unicode=False) == "##------"
    assert bar(0, 0, width=4, unicode=False) == "----"

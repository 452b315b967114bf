"""The data-quality report: counts, reasons without values, owner-only files."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import duckdb

from pipelines.lib.quality.run_report import CheckLine, QualityReport, add_quarantine, write_report


def test_report_counts_quarantine_and_permissions(tmp_path: Path):
    rep = QualityReport("r1", False, (date(2024, 5, 2), date(2024, 5, 2)), checks=[
        CheckLine("marts/fct_orders", "gx_fct_orders", False, "ERROR"),
        CheckLine("marts/fct_orders", "gx_fct_orders__daily_watch", False, "WARN"),
        CheckLine("raw/pos__orders", "gx_raw_suite", True, "ERROR"),
    ], failed_steps=["marts__fct_orders_gx_fct_orders: blocked\ntraceback"])
    con = duckdb.connect()
    con.execute("CREATE SCHEMA quarantine")
    con.execute("CREATE TABLE quarantine.rejected_rows AS SELECT * FROM (VALUES "
                "('pos', 'orders', 'total_amount: not a decimal amount: ''abc''', DATE '2024-05-02'), "
                "('pos', 'orders', 'total_amount: not a decimal amount: ''x1''', DATE '2024-05-02'), "
                "('pos', 'orders', 'older', DATE '2024-05-01')) t(channel, entity, reason, dt)")
    add_quarantine(rep, con)
    assert rep.quarantine_by_reason == [("pos/orders", "total_amount: not a decimal amount:", 2)]
    path = write_report(rep, tmp_path / "reports")
    text = path.read_text()
    assert "1 passed, 1 failed, 1 warned" in text and "'abc'" not in text
    assert "| marts/fct_orders | gx_fct_orders | failed |" in text and "traceback" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (path.parent / "latest.md").read_text() == text

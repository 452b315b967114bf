"""The BI dashboards (bi/, Streamlit) in a real browser over the session's built warehouse: every
page renders its charts without an error box, the headline numbers equal SQL on the warehouse,
and a screenshot per page lands in data/reports/bi-<page>.png."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from bi import PAGES
from pipelines.lib.warehouse import connect
from tests.serving.browser import browser_page, free_port, server, wait_http
from tests.serving.conftest import ROOT, Built

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Charts each page draws; a page that loses one (or fails half-way) is caught here.
EXPECTED_CHARTS = {"member-base": 4, "tiers": 3, "rfm": 2, "lifecycle": 3, "cohort-ltv": 3,
                   "gmv-drivers": 3}


def _expected_metrics(warehouse: Path) -> dict[str, dict[str, str]]:
    """Metric label → shown value per page, computed here with plain SQL (not via bi.queries)."""
    with connect(warehouse, read_only=True) as con:
        def one(sql: str):
            return con.execute(sql).fetchone()[0]

        window = one("SELECT max(window_days) FROM marts.member_rfm")
        members = one("SELECT count(*) FROM marts.dim_member")
        buyers = one("SELECT count(*) FROM marts.member_lifecycle WHERE orders_total > 0")
        scored = one(f"SELECT count(*) FROM marts.member_rfm WHERE window_days = {window} "
                     "AND is_scored")
        in_cohorts = one("SELECT sum(cohort_size) FROM (SELECT DISTINCT cohort_month, cohort_size"
                         " FROM marts.ltv_cohorts WHERE acquisition_channel = 'all')")
        out = {
            "member-base": {"Members": f"{members:,}", "Buyers": f"{buyers:,}"},
            "tiers": {f"{code} {name}": f"{n:,}" for code, name, n in con.execute(
                "SELECT tier_code, tier_name, count(*) FROM marts.member_tiers GROUP BY 1, 2"
            ).fetchall()},
            "rfm": {f"Scored members ({window} days)": f"{scored:,}"},
            "lifecycle": {f"{stage} {name}": f"{n:,}" for stage, name, n in con.execute(
                "SELECT lifecycle_stage, lifecycle_stage_name, count(*) FROM marts.member_lifecycle"
                " GROUP BY 1, 2").fetchall()},
            "cohort-ltv": {"Members in cohorts": f"{int(in_cohorts or 0):,}"},
            "gmv-drivers": {},
        }
        # the latest complete month, else the open month so far
        month, gmv, complete = con.execute("""
            SELECT month, gmv, is_complete_month FROM marts.gmv_drivers WHERE channel = 'all'
            ORDER BY is_complete_month DESC, month DESC LIMIT 1""").fetchone()
        label = f"GMV {month:%Y-%m}" + ("" if complete else " (to date)")
        out["gmv-drivers"][label] = f"¥{float(gmv):,.0f}"
    return out


def _wait_rendered(page, charts: int, timeout_s: float = 45) -> None:
    """Until the page's script has finished (no running status) and every chart has drawn."""
    end = time.monotonic() + timeout_s
    drawn = page.locator(".vega-embed svg, .vega-embed canvas")
    while time.monotonic() < end:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        if not running and drawn.count() >= charts:
            return
        if page.locator('[data-testid="stException"]').count():
            break  # reported by the caller with the exception text
        time.sleep(0.25)
    else:
        raise AssertionError(f"{page.url}: {drawn.count()} of {charts} charts drawn after "
                             f"{timeout_s} s (status widget present: {bool(running)})")


def _metrics(page) -> dict[str, str]:
    out = {}
    for m in page.locator('[data-testid="stMetric"]').all():
        label = m.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        out[label] = m.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return out


def test_every_dashboard_page_renders_with_warehouse_numbers(built: Built, reports_dir: Path,
                                                             tmp_path: Path):
    expected = _expected_metrics(built.warehouse)
    assert set(EXPECTED_CHARTS) == {url for _, _, url in PAGES}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    streamlit = Path(sys.executable).with_name("streamlit")
    cmd = [str(streamlit), "run", "app.py", "--server.port", str(port)]
    with server(cmd, built.env, str(ROOT / "bi"), str(tmp_path / "streamlit.log")) as proc:
        wait_http(f"{base}/_stcore/health", proc, deadline_s=60)
        with browser_page(height=1800) as page:
            outside: list[str] = []
            page.on("request", lambda r: r.url.startswith(("http:", "https:", "ws:"))
                    and not r.url.startswith((base, base.replace("http", "ws")))
                    and outside.append(r.url))
            for i, (_, title, url) in enumerate(PAGES):
                page.goto(f"{base}/{'' if i == 0 else url}", wait_until="domcontentloaded")
                page.locator("h1", has_text=title).first.wait_for(timeout=45_000)
                _wait_rendered(page, EXPECTED_CHARTS[url])
                page.screenshot(path=str(reports_dir / f"bi-{url}.png"))
                errors = page.locator('[data-testid="stException"], '
                                      '[data-testid="stAlertContentError"], '
                                      '[data-testid="stAlertContentWarning"]')
                assert errors.count() == 0, f"{url}: {errors.first.inner_text()[:2000]}"
                shown = _metrics(page)
                for label, value in expected[url].items():
                    assert shown.get(label) == value, (url, label, shown)
            assert outside == [], f"the dashboards fetched from outside 127.0.0.1: {outside}"
    for _, _, url in PAGES:
        assert (reports_dir / f"bi-{url}.png").stat().st_size > 10_000

"""The Dagster UI in a real browser: `dagster dev` on 127.0.0.1 over a built warehouse, the
asset graph, an asset's checks and a chart drawn in its metadata, screenshots under
data/reports/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipelines.defs.transform.translator import LAYER_GROUPS
from tests.serving.browser import browser_page, free_port, server, wait_http
from tests.serving.conftest import ROOT, Built

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _groups_with_assets() -> list[str]:
    from pipelines.definitions import defs

    groups = {spec.group_name for spec in defs().resolve_all_asset_specs()}
    assert groups <= set(LAYER_GROUPS) and len(groups) >= 8, groups
    return sorted(groups)


def test_asset_graph_and_checks_render(built: Built, reports_dir: Path, tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "pipelines.definitions"]
    with server(cmd, built.env, str(ROOT), str(tmp_path / "dagster-dev.log")) as proc:
        wait_http(f"{base}/server_info", proc, deadline_s=60)
        with browser_page() as page:
            page.goto(f"{base}/asset-groups", wait_until="domcontentloaded")
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            skip.wait_for(timeout=30_000)
            skip.click()
            # the graph is drawn client-side; at this zoom it shows one box per group — every
            # group that holds an asset (LAYER_GROUPS also names `quality`, which holds none:
            # the quality checks are checks on other groups' assets)
            graph = page.locator("svg")
            for group in _groups_with_assets():
                graph.get_by_text(group, exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(reports_dir / "dagster-asset-graph.png"))

            page.goto(f"{base}/assets/raw/pos__orders?view=checks", wait_until="domcontentloaded")
            page.get_by_text("gx_raw_suite").first.wait_for(timeout=30_000)
            # the check was evaluated by the run, not just declared
            page.get_by_text("Passed").first.wait_for(timeout=30_000)
            page.screenshot(path=str(reports_dir / "dagster-asset-checks.png"))

            # the tier mix is a picture (a PNG in Markdown, lib/quality/charts.py), not its
            # Vega-Lite JSON; the UI inlines Markdown under 1,000 characters and opens longer
            # Markdown, such as a picture, from the metadata row's "[Show Markdown]"
            page.goto(f"{base}/assets/marts/member_tiers?view=events",
                      wait_until="domcontentloaded")
            row = page.locator("tr", has_text="tier_mix_chart")
            row.get_by_text("[Show Markdown]").click(timeout=30_000)
            chart = page.locator("img[alt='Tier mix']")
            chart.wait_for(timeout=30_000)
            page.wait_for_function(  # decoded and drawn, not a broken-image placeholder
                "() => { const i = document.querySelector(\"img[alt='Tier mix']\");"
                " return i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
            width, height, src = chart.evaluate(
                "i => [i.naturalWidth, i.naturalHeight, i.src.slice(0, 22)]")
            assert src == "data:image/png;base64," and width > 300 and height > 150
            page.screenshot(path=str(reports_dir / "dagster-asset-chart.png"))
    for shot in ("dagster-asset-graph.png", "dagster-asset-checks.png",
                 "dagster-asset-chart.png"):
        assert (reports_dir / shot).stat().st_size > 10_000

"""The Superset dashboards (bi/superset/) in a real browser, over the session's hand-made run.

The run's marts and `bi` views are published to a throwaway embedded serving PostgreSQL (its
own temporary folder, a free port); `make bi`'s own module (bi/superset/setup.py) sets
Superset up against it — metadata database, upgrade/init/admin, the bundle imported — and
starts it on a free port of 127.0.0.1. Headless Debian Chromium (Playwright, no browser
download) logs in through the Chinese login page and opens every dashboard: each chart has
drawn without an error, the titles are Chinese, the Chinese labels (普卡 …) are on the page,
every headline number equals SQL run here on the serving database as the BI role, nothing
was fetched from outside 127.0.0.1, and a screenshot lands in data/reports/superset-<slug>.png.
A re-import of the bundle converges (same objects, same ids) and the bundle in the repository
is what Superset exports (canonical), so `bundle.py export` after a UI change is a clean diff.

Needs .venv-superset (`make bi-setup`, a prerequisite of `make test`) and Debian chromium
(`make browser-deps`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from playwright.sync_api import expect

from bi.superset import bundle, setup
from pipelines.lib.platform.warehouse import connect
from pipelines.lib.serving import (
    BI_ROLE,
    ServingConfig,
    ensure_running,
    publish,
    served_from_duckdb,
    stop,
)
from tests.serving.browser import CHROMIUM_ARGS, chromium_path, free_port
from tests.serving.conftest import Built

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: slug → (title, number of charts); every dashboard of the bundle
DASHBOARDS = {
    "member-overview": ("会员概览", 8),
    "member-tiers": ("会员等级", 7),
    "rfm": ("RFM 分层", 6),
    "lifecycle": ("生命周期", 6),
    "cohort-ltv": ("同期群 LTV", 6),
    "gmv-drivers": ("GMV 驱动", 7),
    "audiences": ("人群", 4),
    "audience-lift": ("人群活动成效", 7),
    "groups": ("社群", 7),
}
#: the one outside request the pip build of Superset 6.1 makes: the Scarf telemetry pixel in
#: the navbar, refused by the content security policy of bi/superset/superset_config.py
SCARF = "apachesuperset.gateway.scarf.sh"
#: every chart holder present, no spinner, something drawn (or an error shown)
RENDERED = """n => {
    const holders = document.querySelectorAll('[data-test="chart-grid-component"]');
    if (holders.length < n) return false;
    for (const h of holders) {
        if (h.querySelector('.loading')) return false;
        if (!h.querySelector('canvas, svg, table, .header-line, [role=alert], .ant-empty'))
            return false;
    }
    return true;
}"""


@pytest.fixture(scope="module")
def stack(built: Built) -> Iterator[dict]:
    """Serving PostgreSQL with the hand-made run published, and Superset over it."""
    # not under pytest's tmp folder: its permissions are reset when a worker starts, which
    # would drop the traverse-only ACL the serving library gives the server user
    scratch = Path(tempfile.mkdtemp(prefix="siyu-superset-test-"))
    config = ServingConfig(root=scratch / "serving", port=free_port())
    home = scratch / "superset"
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        info = ensure_running(config, store_roles={})
        with connect(built.warehouse, read_only=True) as duck:
            as_of = duck.execute("SELECT max(as_of_date) FROM marts.member_tiers").fetchall()[0][0]
            publish(duck, info.url, served_from_duckdb(duck), run_id="superset-test",
                    as_of=as_of if isinstance(as_of, date) else None, store_roles={})
        timings["serving_and_publish"] = round(time.perf_counter() - t, 2)
        superset = setup.up(config, home=home, port=free_port())
        timings.update(superset.timings)
        yield {"config": config, "home": home, "superset": superset,
               "bi_url": info.role_urls[BI_ROLE], "timings": timings}
    finally:
        setup.stop(home)
        stop(config)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nsuperset test timings (s): {json.dumps(timings)}")


def _expected(bi_url: str) -> dict[str, dict]:
    """Per dashboard: big-number chart name → the text it must show, and Chinese labels that
    must be on the page — computed here with SQL on the serving database as the BI role."""
    with psycopg.connect(bi_url, autocommit=True) as conn:
        def one(query: str):
            return conn.execute(query).fetchone()[0]

        def labels(query: str) -> set[str]:
            return {r[0] for r in conn.execute(query).fetchall()}

        def n(query: str) -> str:
            return f"{one(query):,}"

        lc = "SELECT count(*) FROM bi.member_lifecycle WHERE "
        tier = "SELECT count(*) FROM bi.member_tiers WHERE tier_code = "
        rfm = "SELECT count(*) FROM bi.member_rfm WHERE is_primary_window AND "
        gmv = "FROM bi.gmv_drivers WHERE channel = 'all' AND is_headline_month"
        return {
            "member-overview": {"big": {
                "会员总数": n("SELECT count(*) FROM bi.members"),
                "购买会员数": n(lc + "is_buyer"),
                "近30天新会员": n(lc + "is_new_30d")}, "labels": set()},
            "member-tiers": {"big": {
                "普卡会员": n(tier + "'regular'"), "银卡会员": n(tier + "'silver'"),
                "金卡会员": n(tier + "'gold'")},
                "labels": labels("SELECT DISTINCT tier_name FROM bi.member_tiers")},
            "rfm": {"big": {
                "已评分会员（主窗口）": n(rfm + "is_scored"),
                "窗口内无购买（主窗口）": n(rfm + "NOT is_scored")},
                "labels": labels("SELECT DISTINCT segment_name FROM bi.member_rfm "
                                 "WHERE is_primary_window")},
            "lifecycle": {"big": {
                "衰退期会员": n(lc + "lifecycle_stage = 'decline'"),
                "流失会员": n(lc + "lifecycle_stage = 'churned'")},
                "labels": labels("SELECT DISTINCT lifecycle_stage_name FROM bi.member_lifecycle")
                | labels("SELECT DISTINCT aipl_stage_name FROM bi.member_lifecycle")},
            "cohort-ltv": {"big": {
                "同期群会员数": n("SELECT coalesce(sum(cohort_size), 0) FROM (SELECT DISTINCT "
                                "cohort_month, cohort_size FROM bi.ltv_cohorts "
                                "WHERE acquisition_channel = 'all') c"),
                "同期群数": n("SELECT count(DISTINCT cohort_month) FROM bi.ltv_cohorts "
                           "WHERE acquisition_channel = 'all'")}, "labels": set()},
            "gmv-drivers": {"big": {
                "GMV（最近完整月）": f"{one('SELECT sum(gmv) ' + gmv):,.2f}",
                "购买会员数（最近完整月）": n("SELECT sum(buyers) " + gmv),
                "订单数（最近完整月）": n("SELECT sum(orders) " + gmv)}, "labels": set()},
            "audiences": {"big": {
                "人群数": n("SELECT count(*) FROM bi.audience_sizes"),
                "覆盖会员数": n("SELECT count(DISTINCT member_id) FROM bi.member_audiences")},
                "labels": labels("SELECT audience_label FROM bi.audience_sizes")},
            # the hand-made zone is one night: its audience entries are lift rows whose window
            # is still open (sizes, 观察期未结束, no rates) — checked non-empty below
            "audience-lift": {"big": {
                "实验组人数": n("SELECT coalesce(sum(treated_members), 0) FROM bi.audience_lift"),
                "对照组人数": n("SELECT coalesce(sum(holdout_members), 0) FROM bi.audience_lift"),
                "可解读人群周次": n("SELECT count(*) FROM bi.audience_lift WHERE status = 'ok'")},
                "labels": labels("SELECT audience_label FROM bi.audience_lift")
                | labels("SELECT status_name FROM bi.audience_lift"),
                "rows": one("SELECT count(*) FROM bi.audience_lift")},
            "groups": {"big": {
                "群数": n("SELECT count(*) FROM bi.groups WHERE status <> 'dismissed'"),
                "僵尸群数": n("SELECT count(*) FROM bi.groups WHERE status = 'zombie'"),
                "群内客户数": n("SELECT coalesce(sum(current_customers), 0) FROM bi.groups")},
                "labels": labels("SELECT DISTINCT status_name FROM bi.groups")},
        }


def _local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in ("data", "blob", "about") or u.hostname in ("127.0.0.1", "localhost")


def test_every_dashboard_renders_in_chinese_with_serving_numbers(stack, reports_dir: Path):
    from playwright.sync_api import sync_playwright

    expected = _expected(stack["bi_url"])
    assert set(expected) == set(DASHBOARDS)
    assert expected["audience-lift"]["rows"] > 0  # the lift page has rows to show
    s: setup.Superset = stack["superset"]
    outside: list[str] = []  # requests that tried to leave 127.0.0.1
    answered: list[str] = []  # … and got an answer (must stay empty)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), headless=True,
            args=[*CHROMIUM_ARGS, "--lang=zh-CN",
                  # anything that escapes the CSP fails at DNS at once
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 1000},
                                       locale="zh-CN").new_page()
            page.on("request", lambda r: None if _local(r.url) else outside.append(r.url))
            page.on("response", lambda r: None if _local(r.url) else answered.append(r.url))
            timings["browser"] = round(time.perf_counter() - t0, 2)

            # the login page is Chinese (zh pack for anonymous users, fuzzy strings fixed)
            t = time.perf_counter()
            page.goto(f"{s.url}/login/")
            # Ant Design spaces a two-character button label: "登 录"
            page.locator("button[type=submit]", has_text=re.compile(r"^\s*登\s*录\s*$")).wait_for(
                timeout=30_000)
            page.fill("input#username", s.admin_user)
            page.fill("input#password", s.admin_password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/login" not in u, wait_until="commit", timeout=30_000)
            timings["login"] = round(time.perf_counter() - t, 2)

            for slug, (title, charts) in DASHBOARDS.items():
                t = time.perf_counter()
                page.goto(f"{s.url}/superset/dashboard/{slug}/", wait_until="domcontentloaded")
                page.wait_for_function(RENDERED, arg=charts, timeout=60_000, polling=250)
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(1500)  # ECharts' entry animation
                # Superset may mount the grid again once it has written the native-filter key
                # into the URL (seen under load: the holders gone right after the screenshot)
                page.wait_for_function(RENDERED, arg=charts, timeout=60_000, polling=250)
                shot = reports_dir / f"superset-{slug}.png"
                page.screenshot(path=str(shot), full_page=True)
                timings[slug] = round(time.perf_counter() - t, 2)

                assert page.locator('[data-test="dashboard-header-container"] '
                                    '.dynamic-title-input').first.input_value() == title
                holders = page.locator('[data-test="chart-grid-component"]')
                expect(holders).to_have_count(charts, timeout=30_000)
                errors = page.locator('[data-test="chart-grid-component"] [role=alert]')
                assert errors.count() == 0, f"{slug}: {errors.all_inner_texts()}"
                for name, value in expected[slug]["big"].items():
                    shown = page.locator(f'[data-test-chart-name="{name}"] .header-line')
                    assert shown.inner_text().strip() == value, (slug, name)
                body = page.locator("body").inner_text()
                missing = {label for label in expected[slug]["labels"] if label not in body}
                assert not missing, f"{slug}: labels not on the page: {missing}"
                assert shot.stat().st_size > 20_000
        finally:
            browser.close()
    stack["timings"]["render"] = round(time.perf_counter() - t0, 2)
    stack["timings"].update({f"render_{k}": v for k, v in timings.items()})
    assert answered == [], f"answers from outside 127.0.0.1: {answered}"
    assert {urlparse(u).hostname for u in outside} <= {SCARF}, outside


def _metadata(home: Path, config: ServingConfig) -> dict[str, list]:
    found = setup.load_secrets(home)
    url = (f"postgresql://{setup.META_ROLE}:{found['meta_password']}@127.0.0.1:{config.port}/"
           f"{setup.META_DB}")
    with psycopg.connect(url, autocommit=True) as conn:
        # ORDER BY every column: an import deletes and re-inserts a dashboard's
        # dashboard_slices rows in the order of a Python set (its chart uuids), so the rows'
        # physical order is not part of what must converge
        return {table: conn.execute(f"SELECT {key} FROM {table} ORDER BY {key}").fetchall()
                for table, key in (
                    ("dbs", "id, uuid::text, database_name"),
                    ("tables", "id, uuid::text, table_name"),
                    ("table_columns", "id, table_id, column_name, verbose_name"),
                    ("sql_metrics", "id, table_id, metric_name, verbose_name"),
                    ("slices", "id, uuid::text, slice_name"),
                    ("dashboards", "id, uuid::text, dashboard_title"),
                    ("dashboard_slices", "dashboard_id, slice_id"))}


def test_reimport_converges_and_the_bundle_is_canonical(stack, tmp_path: Path):
    config, home, s = stack["config"], stack["home"], stack["superset"]
    before = _metadata(home, config)
    t = time.perf_counter()
    result = setup.reimport(config, home=home)
    stack["timings"]["reimport"] = round(time.perf_counter() - t, 2)
    assert result["pruned"] == []
    after = _metadata(home, config)
    assert after == before
    files = list(bundle.BUNDLE_DIR.rglob("*.yaml"))
    assert len(before["slices"]) == len(list((bundle.BUNDLE_DIR / "charts").glob("*.yaml")))
    assert len(before["dashboards"]) == len(DASHBOARDS)
    assert {r[2] for r in before["dashboards"]} == {t for t, _ in DASHBOARDS.values()}

    # what Superset exports, normalised, is byte for byte the bundle in the repository
    copy = tmp_path / "bundle"
    shutil.copytree(bundle.BUNDLE_DIR, copy)
    written = bundle.export(s.url, s.admin_user, s.admin_password, copy)
    assert sorted(written) == sorted(p.relative_to(bundle.BUNDLE_DIR).as_posix()
                                     for p in files)
    changed = [rel for rel in written
               if (copy / rel).read_text(encoding="utf-8")
               != (bundle.BUNDLE_DIR / rel).read_text(encoding="utf-8")]
    assert changed == [], f"export differs from the bundle (run bundle.py export?): {changed}"

"""The BI views are re-created by dbt only when what defines them changed
(pipelines/lib/serving_views.py): a night whose views would come out the same skips the dbt
invocation but still materialises them, with row counts, so the export downstream runs."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.ops.jobs import FULL_REFRESH_TAG
from pipelines.lib.dbt_manifest import ensure_manifest
from pipelines.lib.serving_views import fingerprint, last_build, view_group
from pipelines.lib.warehouse import connect
from tests.conftest import copy_built
from tests.serving.conftest import ROOT, Built

pytestmark = pytest.mark.slow
MANIFEST = ensure_manifest(ROOT / "dbt_project", "duckdb")
DBT_DIR = ROOT / "dbt_project"


def _materialize(b: Built, monkeypatch, selection: list[str] | None = None,
                 tags: dict[str, str] | None = None, succeeds: bool = True) -> dict[str, dict]:
    """Materialise the dbt serving asset on `b`; asset key → its materialisation metadata."""
    monkeypatch.setenv("SIYU_WAREHOUSE", str(b.warehouse))
    monkeypatch.setenv("SIYU_DATA_DIR", str(b.zone))
    from pipelines.defs.transform.dbt_assets import dbt_serving
    from pipelines.resources import build_resources

    result = dg.materialize([dbt_serving], resources=build_resources(), selection=selection,
                            tags=tags, instance=dg.DagsterInstance.ephemeral(),
                            raise_on_error=False)
    assert result.success is succeeds
    return {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}


def _views(b: Built) -> dict[str, str]:
    with connect(b.warehouse, read_only=True) as con:
        return dict(con.execute("SELECT view_name, sql FROM duckdb_views() "
                                "WHERE schema_name = 'bi'").fetchall())


def _skipped(meta: dict) -> bool:
    return "dbt" in meta and meta["dbt"].value.startswith("not invoked")


def test_unchanged_views_are_not_rebuilt_changed_or_missing_ones_are(built: Built, tmp_path,
                                                                      monkeypatch):
    b = copy_built(built, tmp_path)
    views_before = _views(b)
    assert len(views_before) >= 4

    # the siyu run recorded what it built the views from: nothing changed since
    meta = _materialize(b, monkeypatch)
    assert len(meta) == len(views_before)
    assert all(_skipped(m) for m in meta.values()), meta
    assert all(m["dagster/row_count"].value >= 0 for m in meta.values())
    assert _views(b) == views_before

    # a missing view: dbt runs and re-creates it, and stores the same fingerprint again
    with connect(b.warehouse) as con:
        fp = last_build(con, "dbt_serving")[0]
        con.execute("DROP VIEW bi.orders")
    meta = _materialize(b, monkeypatch)
    assert not any(_skipped(m) for m in meta.values())
    assert _views(b) == views_before
    with connect(b.warehouse, read_only=True) as con:
        assert last_build(con, "dbt_serving")[0] == fp

    # a view changed by hand since the last build: dbt puts it back
    with connect(b.warehouse) as con:
        con.execute("CREATE OR REPLACE VIEW bi.members AS SELECT 1 AS member_id")
    meta = _materialize(b, monkeypatch)
    assert not any(_skipped(m) for m in meta.values())
    assert _views(b) == views_before

    # a full refresh always builds
    meta = _materialize(b, monkeypatch, tags={FULL_REFRESH_TAG: "true"})
    assert not any(_skipped(m) for m in meta.values())

    # one view picked in the UI: built as asked, even though nothing changed
    meta = _materialize(b, monkeypatch, selection=["bi/members"])
    assert list(meta) == ["bi/members"] and not _skipped(meta["bi/members"])
    assert _skipped(_materialize(b, monkeypatch)["bi/orders"])

    # a failed build (here: a blocking test on a view fails; data alone never makes dbt run,
    # so the build is one asked for in the UI) forgets the fingerprint: the next run invokes
    # dbt whatever it finds
    with connect(b.warehouse) as con:
        con.execute("INSERT INTO marts_build.fct_orders__live "
                    "SELECT * FROM marts_build.fct_orders__live LIMIT 1")
    _materialize(b, monkeypatch, selection=["bi/orders"], succeeds=False)
    with connect(b.warehouse, read_only=True) as con:
        assert last_build(con, "dbt_serving") is None


def test_fingerprint_follows_definitions_and_the_columns_read(built: Built, tmp_path: Path):
    b = copy_built(built, tmp_path)
    manifest = json.loads(MANIFEST.read_text())
    group = view_group(manifest, "dbt_serving", ("siyu", "serving"))
    assert group is not None and ("marts", "fct_orders") in group.parents
    assert group.tests, "the tests on the views are part of what defines them"
    with connect(b.warehouse) as con:
        fp = fingerprint(manifest, group, con, DBT_DIR)
        assert fingerprint(manifest, group, con, DBT_DIR) == fp  # stable

        changed_sql = json.loads(MANIFEST.read_text())
        uid = next(u for u in group.models if u.endswith(".bi_orders"))
        changed_sql["nodes"][uid]["raw_code"] += "\n-- changed"
        assert fingerprint(changed_sql, group, con, DBT_DIR) != fp

        changed_macro = json.loads(MANIFEST.read_text())
        changed_macro["macros"]["macro.siyu.published"]["macro_sql"] += " "
        assert fingerprint(changed_macro, group, con, DBT_DIR) != fp

        # a mart the views read gained a column (the publish re-creates marts.<t> views)
        con.execute("CREATE OR REPLACE VIEW marts.fct_orders AS "
                    "SELECT *, 1 AS extra FROM marts_build.fct_orders__live")
        assert fingerprint(manifest, group, con, DBT_DIR) != fp

    # a group with a table in it is never left alone (a table would miss the night's rows)
    assert view_group(manifest, "dbt_marts", ("siyu", "marts")) is None

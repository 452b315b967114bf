"""`siyu export` and the `serving/parquet_export` asset: Parquet equal to the warehouse."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.platform.warehouse import connect
from pipelines.lib.serving.parquet_export import ExportedTable, read_exported
from tests.serving.conftest import ROOT, Built

pytestmark = pytest.mark.slow


def _warehouse_relations(wh: Path) -> set[str]:
    with connect(wh, read_only=True) as con:
        return {f"{s}/{t}" for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('marts', 'bi')").fetchall()}


def _assert_round_trip(wh: Path, out: Path) -> list[dict]:
    manifest = json.loads((out / "_manifest.json").read_text())["tables"]
    assert {t["path"] for t in manifest} == _warehouse_relations(wh)
    con = duckdb.connect()
    con.execute(f"ATTACH '{wh}' AS wh (READ_ONLY)")
    for t in manifest:
        table = ExportedTable(t["schema"], t["name"], t["type"], t["rows"], tuple(t["columns"]),
                              t["hive_partition"])
        src = f'wh."{t["schema"]}"."{t["name"]}"'
        back = read_exported(con, out, table)
        assert con.execute(f"SELECT count(*) FROM ({back})").fetchall()[0][0] == t["rows"]
        for a, b in ((src, f"({back})"), (f"({back})", src)):
            diff = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL "
                               f"SELECT * FROM {b})").fetchall()[0][0]
            assert diff == 0, (t["path"], a)
    return manifest


def test_siyu_export_round_trips_every_mart(built: Built, tmp_path: Path):
    out = tmp_path / "export"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "export", "--out", str(out)],
                          cwd=ROOT, env=built.env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    manifest = _assert_round_trip(built.warehouse, out)
    assert any(t["name"] == "fct_orders" and t["rows"] > 0 for t in manifest)
    months = sorted(p.name for p in (out / "marts" / "fct_orders").iterdir())
    assert months and all(m.startswith("order_month=") for m in months)
    # owner-only: personal data must not be world- or group-readable
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
    assert not out.with_name("export.partial").exists()


def test_export_replaces_a_previous_export(built: Built, tmp_path: Path):
    out = tmp_path / "export"
    (out / "marts" / "stale_table").mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "export", "--out", str(out)],
                          cwd=ROOT, env=built.env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "marts" / "stale_table").exists()


def test_the_nightly_run_materialised_the_export_asset(built: Built, monkeypatch):
    """`siyu run` includes serving/parquet_export; it wrote beside the warehouse."""
    import dagster as dg

    _assert_round_trip(built.warehouse, built.warehouse.parent / "export")
    monkeypatch.setenv("DAGSTER_HOME", str(built.dagster_home))
    with dg.DagsterInstance.get() as inst:
        event = inst.get_latest_materialization_event(dg.AssetKey(["serving", "parquet_export"]))
        assert event is not None
        meta = event.asset_materialization.metadata
        assert meta["tables"].value == len(_warehouse_relations(built.warehouse))
        orders = inst.get_latest_materialization_event(dg.AssetKey(["marts", "fct_orders"]))
        assert "| channel | status | orders |" in \
            orders.asset_materialization.metadata["orders_by_channel_and_status"].value

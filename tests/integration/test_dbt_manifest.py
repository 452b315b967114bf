"""The manifest Dagster builds its dbt assets from is the one of the configured target.

Regression: one `target/manifest.json` served every target. A Spark run (or `dbt parse
--target spark` by hand) left a manifest in which the incremental marts are tables; the next
DuckDB runs reused it because it was newer than the models, found no incremental marts, and
rebuilt them in full every night (the incremental-bases tests failed after a Spark run).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from pipelines.lib.platform.dbt_manifest import ensure_manifest, manifest_path
from pipelines.settings import DBT_PROJECT_DIR


def test_each_target_has_its_own_manifest_path() -> None:
    paths = {manifest_path(DBT_PROJECT_DIR, t) for t in ("duckdb", "spark")}
    assert len(paths) == 2 and DBT_PROJECT_DIR / "target" / "manifest.json" not in paths


def test_a_newer_manifest_of_another_target_is_not_used(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # what `dbt parse --target spark` leaves behind, newer than every model
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text(json.dumps(
        {"metadata": {"adapter_type": "spark"}, "nodes": {}}), encoding="utf-8")

    manifest = ensure_manifest(project, "duckdb")

    data = json.loads(manifest.read_text())
    assert data["metadata"]["adapter_type"] == "duckdb"
    assert next(n["config"]["materialized"] for n in data["nodes"].values()
                if n["name"] == "stg_pos__orders") == "incremental"
    # a current manifest is reused, not parsed again
    mtime = manifest.stat().st_mtime_ns
    assert ensure_manifest(project, "duckdb") == manifest
    assert manifest.stat().st_mtime_ns == mtime
    # a changed model: parsed again, and the new manifest is renamed into place (dbt writes
    # its own in place; a process reading without the lock must never see half a file)
    inode = manifest.stat().st_ino
    model = next((project / "models").rglob("*.sql"))
    os.utime(model, (time.time(), time.time()))
    before_parse = time.time()
    assert ensure_manifest(project, "duckdb") == manifest
    assert manifest.stat().st_ino != inode and manifest.stat().st_mtime_ns > mtime
    assert json.loads(manifest.read_text())["metadata"]["adapter_type"] == "duckdb"
    # dated when its parse began, so an edit made during the parse would count as newer
    assert manifest.stat().st_mtime <= before_parse + 1
    # a deleted model leaves every remaining file older than the manifest: parsed again too
    inode = manifest.stat().st_ino
    gone = project / "models" / "serving" / "bi" / "bi_ltv_cohorts.sql"  # nothing refs it
    gone.unlink()
    assert ensure_manifest(project, "duckdb") == manifest and manifest.stat().st_ino != inode
    assert gone.stem not in {n["name"] for n in json.loads(manifest.read_text())["nodes"].values()}

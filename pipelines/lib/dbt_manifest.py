"""Keep dbt's manifest current without `dagster dev` (which alone runs `prepare_if_dev`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WATCHED = ("models", "macros", "seeds", "snapshots", "tests", "dbt_project.yml", "profiles.yml")


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in WATCHED:
        p = project_dir / name
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
        elif p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
    return newest


def ensure_manifest(project_dir: Path, target: str) -> Path:
    """Run `dbt parse` when the manifest is missing or older than any model/macro/config file."""
    manifest = project_dir / "target" / "manifest.json"
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir):
        return manifest
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "SIYU_WAREHOUSE": os.environ.get("SIYU_WAREHOUSE", "/tmp/siyu-parse.duckdb")}
    cmd = [str(dbt) if dbt.exists() else "dbt", "parse", "--project-dir", str(project_dir),
           "--profiles-dir", str(project_dir), "--target", target, "--quiet"]
    proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    return manifest

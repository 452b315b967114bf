"""Keep dbt's manifest current without `dagster dev` (which alone runs `prepare_if_dev`).

One manifest per dbt target, in `target/dagster-<target>/`: the manifest depends on the
target (on Spark the incremental marts are tables), and a single `target/manifest.json`
written by a Spark run (or by someone's `dbt build --target spark` by hand) was silently
reused by the next DuckDB run, which then rebuilt every incremental mart in full each night.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
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


def manifest_path(project_dir: Path, target: str) -> Path:
    """Where `ensure_manifest` keeps the manifest of `target`."""
    return project_dir / "target" / f"dagster-{target}" / "manifest.json"


def _current(manifest: Path, project_dir: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir)


def ensure_manifest(project_dir: Path, target: str) -> Path:
    """Run `dbt parse` for `target` when its manifest is missing or older than any model,
    macro or config file.

    Processes starting together (test workers, `dagster dev` and a `siyu run`) parse one at a
    time under a lock on the target folder, and each re-checks after waiting. dbt writes its
    manifest in place, so it parses in a working folder (`parse/`, which keeps dbt's
    partial-parse state) and the finished manifest is renamed into place: a process reading
    without the lock sees the old file or the new one, never half of one.
    """
    manifest = manifest_path(project_dir, target)
    if _current(manifest, project_dir):
        return manifest
    work = manifest.parent / "parse"
    work.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _current(manifest, project_dir):
            return manifest
        started = time.time()
        dbt = Path(sys.executable).parent / "dbt"
        env = {**os.environ,
               "SIYU_WAREHOUSE": os.environ.get("SIYU_WAREHOUSE", "/tmp/siyu-parse.duckdb")}
        cmd = [str(dbt) if dbt.exists() else "dbt", "parse", "--project-dir", str(project_dir),
               "--profiles-dir", str(project_dir), "--target", target,
               "--target-path", str(work), "--quiet"]
        proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse --target {target} failed:\n{proc.stdout}\n{proc.stderr}")
        staged = manifest.with_suffix(".json.tmp")
        shutil.copyfile(work / "manifest.json", staged)
        # dated when the parse began: a file edited while dbt parsed is newer, so the next
        # process parses again instead of trusting a manifest that may have missed the edit
        os.utime(staged, (started, started))
        os.replace(staged, manifest)
    return manifest


if __name__ == "__main__":  # `make setup`: the manifest of the configured target, ready
    from pipelines.settings import DBT_PROJECT_DIR, load_settings

    print(ensure_manifest(DBT_PROJECT_DIR, load_settings().dbt_target))

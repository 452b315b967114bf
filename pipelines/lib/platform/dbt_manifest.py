"""Keep dbt's manifest current without `dagster dev` (which alone runs `prepare_if_dev`).

One manifest per dbt target, in `target/dagster-<target>/`: the manifest depends on the
target (on Spark the incremental marts are tables), and a single `target/manifest.json`
written by a Spark run (or by someone's `dbt build --target spark` by hand) was silently
reused by the next DuckDB run, which then rebuilt every incremental mart in full each night.

Why not only `DbtProject.prepare_if_dev` (which `pipelines/defs/transform/dbt_assets.py` still
gets, through `DbtProject(target_path=...)`): it parses only under `dagster dev`, so `siyu run`,
the schedule's process and the test workers would build their assets from a stale manifest;
and Dagster's concurrent-update guard runs `dbt parse` in place, where a process reading
without the lock can see half a manifest. Here the parse runs aside and is renamed into place.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

WATCHED = ("models", "macros", "seeds", "snapshots", "tests", "dbt_project.yml", "profiles.yml")


def _sources(project_dir: Path) -> tuple[float, str]:
    """The newest mtime of the files dbt parses, and a digest of their names: a deleted or
    renamed file leaves every remaining mtime old, so the names are compared too."""
    newest, names = 0.0, []
    for name in WATCHED:
        p = project_dir / name
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) \
            if p.is_dir() else []
        for f in files:
            newest = max(newest, f.stat().st_mtime)
            names.append(f.relative_to(project_dir).as_posix())
    return newest, hashlib.sha1("\n".join(names).encode()).hexdigest()


def manifest_path(project_dir: Path, target: str) -> Path:
    """Where `ensure_manifest` keeps the manifest of `target`."""
    return project_dir / "target" / f"dagster-{target}" / "manifest.json"


def _names_file(manifest: Path) -> Path:
    return manifest.with_name("sources.sha1")


def _current(manifest: Path, project_dir: Path) -> bool:
    if not manifest.exists():
        return False
    newest, names = _sources(project_dir)
    recorded = _names_file(manifest)
    return (manifest.stat().st_mtime >= newest and recorded.exists()
            and recorded.read_text(encoding="utf-8") == names)


def ensure_manifest(project_dir: Path, target: str) -> Path:
    """Run `dbt parse` for `target` when its manifest is missing, older than any model, macro
    or config file, or was parsed from another set of files (one deleted or renamed since).

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
        started, names = time.time(), _sources(project_dir)[1]
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
        _names_file(manifest).write_text(names, encoding="utf-8")
        os.replace(staged, manifest)
    return manifest


if __name__ == "__main__":  # `make setup`: the manifest of the configured target, ready
    from pipelines.settings import DBT_PROJECT_DIR, load_settings

    print(ensure_manifest(DBT_PROJECT_DIR, load_settings().dbt_target))


def models_in_schemas(manifest: dict, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    """(schema, relation name) of every enabled model configured into `schemas`, sorted.

    The relation name is the alias where one is set (BI views: model `bi_orders` is `bi.orders`).
    """
    return sorted(
        (n["config"]["schema"], n.get("alias") or n["name"])
        for n in manifest["nodes"].values()
        if n.get("resource_type") == "model"
        and n.get("config", {}).get("schema") in schemas
        and n.get("config", {}).get("enabled", True)
    )

"""The one way tests run dbt: `dbt(...)` builds the command line, `dbt_ok(...)` also asserts
success and shows the end of dbt's log when it fails.

A subprocess, not `dbtRunner` in the test process: dbt keeps global state (flags, adapters,
the invocation context) between in-process invocations, and the tests run dbt on many
warehouses with different vars. Each call writes its target and logs under `workdir`, so
parallel tests (xdist workers) never share dbt's partial-parse state or its logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"


def dbt(command: str, *args: str, warehouse: Path, workdir: Path, dbt_vars: dict | None = None,
        project_dir: Path = DBT_DIR, target: str = "duckdb",
        timeout: float = 600) -> subprocess.CompletedProcess:
    """`dbt <command> <args>` on `warehouse` (the duckdb target's file, SIYU_WAREHOUSE)."""
    exe = Path(sys.executable).parent / "dbt"
    cmd = [str(exe) if exe.exists() else "dbt", command, *args,
           "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
           "--target", target, "--target-path", str(workdir / "target"),
           "--log-path", str(workdir / "logs")]
    if dbt_vars is not None:
        cmd += ["--vars", json.dumps(dbt_vars, default=str)]
    if command == "build" and "--exclude-resource-type" not in args:
        # a build runs the unit tests of the models it selects: they run once, in the fast
        # loop (tests/unit/test_dbt_unit_tests.py), not again in every integration build
        cmd += ["--exclude-resource-type", "unit_test"]
    env = {**os.environ, "SIYU_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True,
                          timeout=timeout)


def dbt_ok(command: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`dbt(...)`, asserting it succeeded."""
    proc = dbt(command, *args, **kwargs)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc

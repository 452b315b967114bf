"""Code hygiene that CI enforces: ruff on Python, the portable-SQL rule on dbt models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "pipelines", "tests", "benchmarks", "bi"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dbt_models_use_portable_sql_only():
    proc = subprocess.run([sys.executable, "dbt_project/scripts/check_portable_sql.py"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

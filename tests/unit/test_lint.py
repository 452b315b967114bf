"""Code hygiene that CI enforces: ruff on Python, the portable-SQL rule on dbt models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "pipelines", "siyu_generator", "tests",
                           "benchmarks", "bi"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dbt_models_use_portable_sql_only():
    proc = subprocess.run([sys.executable, "dbt_project/scripts/check_portable_sql.py"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_portable_sql_lint_catches_engine_only_types():
    """Both constructs broke the Spark build once: `cast(x as varchar)` and a varchar contract."""
    sys.path.insert(0, str(ROOT / "dbt_project" / "scripts"))
    try:
        from check_portable_sql import check_text, check_yaml
    finally:
        sys.path.pop(0)
    assert [f.rule.name for f in check_text("select cast(null as varchar) as x")] == ["engine-type"]
    assert check_text("select cast(x as varchar(20)), {{ dbt.type_string() }} as text_col") == []
    bad = "columns:\n  - name: a\n    data_type: varchar\n  - name: b\n    data_type: hugeint\n"
    assert [(f.line, f.rule.name) for f in check_yaml(bad)] == [(3, "contract-type"),
                                                               (5, "contract-type")]
    good = "    data_type: string\n    data_type: decimal(18,2)\n    data_type: \"timestamp\"\n"
    assert check_yaml(good) == []

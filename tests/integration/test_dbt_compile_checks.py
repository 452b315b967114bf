"""Guarantees checked when dbt compiles, instead of by a data test every night."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def test_member_tags_refuses_a_tag_listed_twice(tmp_path: Path):
    """member_tags has no uniqueness test: (member, tag) is unique because member_profile is
    one row per member and the tag names are distinct — which compilation enforces."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "marts" / "member_value" / "member_tags.sql"
    text = model.read_text(encoding="utf-8")
    line = "    ('static', 'gender', 'gender'),\n"
    assert line in text
    model.write_text(text.replace(line, line + "    ('value', 'gender', 'tier_code'),\n"),
                     encoding="utf-8")
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "SIYU_WAREHOUSE": str(tmp_path / "w.duckdb")}
    proc = subprocess.run([str(dbt), "compile", "--select", "member_tags", "--profiles-dir", ".",
                           "--target", "duckdb"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert "member_tags: a tag name is listed twice" in proc.stdout + proc.stderr

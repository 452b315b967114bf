"""Guarantees checked when dbt compiles, instead of by a data test every night."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.dbt import DBT_DIR, dbt


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
    proc = dbt("compile", "--select", "member_tags", warehouse=tmp_path / "w.duckdb",
               workdir=tmp_path, project_dir=project)
    assert proc.returncode != 0
    assert "member_tags: a tag name is listed twice" in proc.stdout + proc.stderr

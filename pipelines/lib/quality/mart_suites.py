"""great-expectations suites on the marts (`expectations/marts/*.json`), evaluated pre-publish.

A suite names its `model`; with a `profile` block it validates the rows of a derived dataset
(lib/quality/mart_profiles.py) instead of the table itself. A suite is blocking when any of its
expectations has severity `error`: its failure stops the publish, so BI keeps yesterday's marts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.lib.quality.gx_suites import SuiteOutcome, run_suite
from pipelines.lib.quality.mart_profiles import PROFILES

#: Above this many rows a mart is validated on a deterministic reservoir sample (uniqueness is
#: then also covered by the dbt tests, which always see every row).
GX_MAX_ROWS = 500_000


@dataclass(frozen=True)
class MartSuite:
    path: Path
    name: str
    model: str
    profile: dict[str, Any] | None
    blocking: bool
    description: str


def load_mart_suites(folder: Path) -> list[MartSuite]:
    """Every suite under `folder`; raises on a suite without `model` or with an unknown profile."""
    out = []
    for path in sorted(folder.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        if "model" not in spec:
            raise ValueError(f"{path}: a mart suite must name its `model`")
        profile = spec.get("profile")
        if profile and profile.get("name") not in PROFILES:
            raise ValueError(f"{path}: unknown profile {profile.get('name')!r}")
        severities = {(e.get("meta") or {}).get("severity", "error") for e in spec["expectations"]}
        out.append(MartSuite(path, path.stem, spec["model"], profile, "error" in severities,
                             (spec.get("meta") or {}).get("description", "")))
    return out


def suite_frame(con: duckdb.DuckDBPyConnection, suite: MartSuite, schema: str,
                as_of: date | None) -> pd.DataFrame:
    relation = f'{schema}."{suite.model}"'
    if suite.profile:
        return PROFILES[suite.profile["name"]](con, relation, as_of, suite.profile)
    n = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    sample = f" USING SAMPLE reservoir({GX_MAX_ROWS} ROWS) REPEATABLE (42)" if n > GX_MAX_ROWS else ""
    return con.execute(f"SELECT * FROM {relation}{sample}").df()


def evaluate(con: duckdb.DuckDBPyConnection, suite: MartSuite, schema: str,
             as_of: date | None) -> SuiteOutcome:
    return run_suite(suite.path, suite_frame(con, suite, schema, as_of))

"""great-expectations suites on the marts (`expectations/marts/*.json`), evaluated pre-publish.

A suite names its `model`; with a `profile` block it validates the rows of a derived dataset
(lib/quality/mart_profiles.py) instead of the table itself. A suite is blocking when any of its
expectations has severity `error`: its failure stops the publish, so BI keeps yesterday's marts.

Big marts are validated on a bounded frame: every row tonight's run changed (when the suite
names a `new_rows_column`, e.g. `fct_orders.last_delivered_dt`) plus a repeatable random
sample of the older rows, up to GX_MAX_ROWS in all. New defects arrive with new rows, so those
are always checked whole; older rows were validated on the nights that wrote them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.lib.quality.daily_profiles import PROFILES
from pipelines.lib.quality.gx_suites import SuiteOutcome, run_suite

#: Above this many rows a mart is validated on tonight's rows plus a repeatable reservoir
#: sample of the rest (uniqueness and not-null are also dbt tests, which see every row). A
#: random sample of 200,000 finds a defect carried by 1 row in 20,000 with probability 0.99995;
#: 500,000 cost 2.5× the time for the nightly check at a million members.
GX_MAX_ROWS = 200_000


@dataclass(frozen=True)
class MartSuite:
    path: Path
    name: str
    model: str
    profile: dict[str, Any] | None
    blocking: bool
    description: str
    new_rows_column: str | None = None  # a day column: rows >= the run's first day are new


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
                             (spec.get("meta") or {}).get("description", ""),
                             spec.get("new_rows_column")))
    return out


def _sample(k: int) -> str:
    return f" USING SAMPLE reservoir({max(k, 0)} ROWS) REPEATABLE (42)"


def suite_frame(con: duckdb.DuckDBPyConnection, suite: MartSuite, schema: str,
                as_of: date | None, since: date | None = None) -> pd.DataFrame:
    """The rows a suite validates (module doc): all when few; else the rows new since `since`
    (the run's first business day) and a sample of the others, GX_MAX_ROWS in all."""
    relation = f'{schema}."{suite.model}"'
    if suite.profile:
        return PROFILES[suite.profile["name"]](con, relation, as_of, suite.profile)
    n = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    if n <= GX_MAX_ROWS:
        return con.execute(f"SELECT * FROM {relation}").df()
    if not (suite.new_rows_column and since):
        return con.execute(f"SELECT * FROM {relation}{_sample(GX_MAX_ROWS)}").df()
    is_new = f'coalesce("{suite.new_rows_column}" >= ?, false)'
    new = con.execute(f"SELECT count(*) FROM {relation} WHERE {is_new}", [since]).fetchall()[0][0]
    if new >= GX_MAX_ROWS:  # a backfill: tonight's rows alone fill the budget
        return con.execute(f"SELECT * FROM (SELECT * FROM {relation} WHERE {is_new})"
                           f"{_sample(GX_MAX_ROWS)}", [since]).df()
    return con.execute(
        f"SELECT * FROM {relation} WHERE {is_new} UNION ALL "
        f"SELECT * FROM (SELECT * FROM {relation} WHERE NOT {is_new}){_sample(GX_MAX_ROWS - new)}",
        [since, since]).df()


def evaluate(con: duckdb.DuckDBPyConnection, suite: MartSuite, schema: str,
             as_of: date | None, since: date | None = None) -> SuiteOutcome:
    return run_suite(suite.path, suite_frame(con, suite, schema, as_of, since))

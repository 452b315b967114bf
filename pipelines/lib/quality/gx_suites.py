"""Run great-expectations 1.x JSON suites from `expectations/` on pandas batches.

GX's SQL datasource fails against DuckDB here, so every suite runs on a pandas DataFrame; GX is
imported lazily because importing it costs seconds. An unknown expectation `type` would be
dropped silently by GX, so the loader raises instead: a suite always runs all it declares.
Each expectation may carry `meta.severity` = `error` (blocking, the default) or `warn`, and
`meta.min_rows`: a distribution check (a median, a `mostly` share) says nothing about a handful
of rows, so below that many rows it is reported as not evaluated instead of run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    severity: str
    unexpected_count: int | None
    sample: list[Any]


@dataclass
class SuiteOutcome:
    suite: str
    rows: int
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def errors(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "error"]

    @property
    def passed(self) -> bool:
        return not self.errors

    def markdown(self) -> str:
        lines = ["| expectation | column | result | severity | unexpected | sample |",
                 "|---|---|---|---|---|---|"]
        for o in self.outcomes:
            sample = ", ".join(str(s) for s in o.sample[:3])
            lines.append(
                f"| {o.expectation} | {o.column or ''} | {'pass' if o.success else 'FAIL'} "
                f"| {o.severity} | {o.unexpected_count if o.unexpected_count is not None else ''} "
                f"| {sample} |"
            )
        return "\n".join(lines)


def load_suite_json(path: Path) -> dict:
    """The suite; a kwarg written `"{var_name}"` takes that var of dbt_project.yml (one place
    for a limit that SQL, ingestion and a suite all apply, e.g. `max_order_amount_yuan`)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not data.get("expectations"):
        raise ValueError(f"{path}: suite has no expectations")
    for e in data["expectations"]:
        e["kwargs"] = {k: _project_var(v, path) for k, v in (e.get("kwargs") or {}).items()}
    return data


def _project_var(value: Any, path: Path) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        from pipelines.lib.platform.project_vars import project_vars

        name = value[1:-1]
        if name not in project_vars():
            raise ValueError(f"{path}: {value} names no var of dbt_project.yml")
        return project_vars()[name]
    return value


def run_suite(path: Path, df: pd.DataFrame) -> SuiteOutcome:
    """Validate `df` against the suite at `path`; raises if any expectation fails to load."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    spec = load_suite_json(path)
    skipped = [e for e in spec["expectations"] if len(df) < (e.get("meta") or {}).get("min_rows", 0)]
    spec["expectations"] = [e for e in spec["expectations"] if e not in skipped]
    outcome = SuiteOutcome(suite=spec.get("name", path.stem), rows=len(df), outcomes=[
        ExpectationOutcome(
            expectation=e["type"], column=e.get("kwargs", {}).get("column"), success=True,
            severity=str(e["meta"].get("severity", "error")), unexpected_count=None,
            sample=[f"not evaluated: {len(df)} rows < min_rows {e['meta']['min_rows']}"])
        for e in skipped])
    if not spec["expectations"]:
        return outcome
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = gx.ExpectationSuite(name=spec.get("name", path.stem))
    for i, e in enumerate(spec["expectations"]):
        try:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=e["type"], kwargs=e.get("kwargs", {}),
                                         meta=e.get("meta") or {})
            )
        except Exception as exc:
            raise ValueError(f"{path}: expectation #{i + 1} ({e.get('type')}) invalid: {exc}") from exc
    if len(suite.expectations) != len(spec["expectations"]):
        raise ValueError(
            f"{path}: loaded {len(suite.expectations)} of {len(spec['expectations'])} expectations"
        )
    source = ctx.data_sources.add_pandas("siyu")
    batch_def = source.add_dataframe_asset(path.stem).add_batch_definition_whole_dataframe("all")
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        outcome.outcomes.append(ExpectationOutcome(
            expectation=cfg.type,
            column=cfg.kwargs.get("column"),
            success=bool(r.success),
            severity=str((cfg.meta or {}).get("severity", "error")),
            unexpected_count=res.get("unexpected_count"),
            sample=[_plain(x) for x in (res.get("partial_unexpected_list") or [])][:5]
            or ([_plain(res["observed_value"])] if "observed_value" in res else []),
        ))
    return outcome


def _plain(x: Any) -> Any:
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)

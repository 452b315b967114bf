"""great-expectations mart suites as Dagster asset checks on the dbt mart assets.

One check per `expectations/marts/*.json`, attached to the suite's model. Checks read the
tables tonight's run built in the DuckDB workspace; a blocking check (any error-severity
expectation) failing skips the serving publish downstream, so BI keeps the last good night.
"""

import json
from datetime import date

import dagster as dg
from dagster import AssetCheckExecutionContext

from pipelines.defs.transform.dbt_assets import MANIFEST
from pipelines.lib.platform.dbt_manifest import models_in_schemas
from pipelines.lib.privacy.phones import redact_mobiles
from pipelines.lib.quality.mart_suites import MartSuite, evaluate, load_mart_suites
from pipelines.resources import WarehouseResource
from pipelines.settings import EXPECTATIONS_DIR

MART_SUITES_DIR = EXPECTATIONS_DIR / "marts"
MARTS = "marts"


def _run_day(context: AssetCheckExecutionContext, end: str) -> date | None:
    """The run's last (`end`) or first business day; None for an unpartitioned run."""
    tags = context.run.tags
    day = tags.get(f"dagster/asset_partition_range_{end}") or tags.get("dagster/partition")
    return date.fromisoformat(day) if day else None


def build_mart_check(suite: MartSuite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey([MARTS, suite.model]),
        name=f"gx_{suite.name}",
        blocking=suite.blocking,
        description=f"great-expectations suite expectations/marts/{suite.path.name} "
        f"({'blocking' if suite.blocking else 'warn only'}). {suite.description}",
    )
    def _check(context: AssetCheckExecutionContext,
               warehouse: WarehouseResource) -> dg.AssetCheckResult:
        if warehouse.dbt_target != "duckdb":
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.WARN,
                metadata={"not_evaluated": f"mart suites read DuckDB; target is "
                          f"{warehouse.dbt_target}"})
        with warehouse.connect(read_only=True) as con:
            outcome = evaluate(con, suite, MARTS, _run_day(context, "end"),
                               since=_run_day(context, "start"))
        failed = outcome.errors or outcome.warnings
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if outcome.errors else dg.AssetCheckSeverity.WARN,
            description=redact_mobiles("; ".join(
                f"{o.severity}: {o.expectation}({o.column or ''}) sample {o.sample[:3]}"
                for o in failed))[:1000] or None,
            metadata={
                "rows_validated": dg.MetadataValue.int(outcome.rows),
                "failed_errors": dg.MetadataValue.int(len(outcome.errors)),
                "failed_warnings": dg.MetadataValue.int(len(outcome.warnings)),
                "results": dg.MetadataValue.md(redact_mobiles(outcome.markdown())),
            },
        )

    return _check


def _checks() -> list[dg.AssetChecksDefinition]:
    models = {name for _, name in models_in_schemas(json.loads(MANIFEST.read_text()), (MARTS,))}
    suites = load_mart_suites(MART_SUITES_DIR)
    unknown = [s.path.name for s in suites if s.model not in models]
    if unknown:
        raise ValueError(f"mart suites name models that are not marts: {', '.join(unknown)}")
    return [build_mart_check(s) for s in suites]


mart_checks = _checks()

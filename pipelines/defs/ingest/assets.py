"""One asset factory for all landing entities: each spec row becomes a multi-asset.

A multi-asset per entity because nested JSON arrays land as child tables (order items, WeCom
follow users, tags, remark mobiles) written in the same transaction as their parent. A row
that breaks a rule never stops the night: ingestion quarantines it. Two blocking checks on
the parent table judge the *systemic* picture, and a failure stops every downstream asset:

* `quarantine_share` — a file (or the entity over the run) with more quarantined rows than
  the gate allows (var `quarantine_gate`): a changed export, a file in the wrong unit;
* `gx_raw_suite` — the great-expectations suite on the rows loaded (columns, distributions).

Customers' names are hashed with a key kept beside the warehouse, never in it
(`pipelines.lib.privacy.keys.name_key`: `SIYU_NAME_KEY` or `<warehouse folder>/keys/name.key`).
"""


from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
from dagster import AssetExecutionContext

from pipelines.defs.platform.partitions import business_days, days_in_context, single_run
from pipelines.lib.ingest.loader import LoadResult, load_entity, quarantine_breaches
from pipelines.lib.ingest.sinks import DuckDBSink, ParquetSink, lake_location
from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS, Child, EntitySpec
from pipelines.lib.platform.project_vars import var
from pipelines.lib.privacy.keys import name_key
from pipelines.lib.quality.gx_suites import run_suite
from pipelines.resources import WarehouseResource
from pipelines.settings import EXPECTATIONS_DIR, load_settings

CODE_VERSION = "ingest-v1"
OWNERS = ["team:data-platform"]
#: GX runs on pandas; above this many rows it validates a deterministic sample (documented).
GX_MAX_ROWS = 500_000
_settings = load_settings()


def child_tables(spec: EntitySpec) -> list[tuple[str, Child]]:
    out: list[tuple[str, Child]] = []

    def walk(prefix: str, children: tuple[Child, ...]) -> None:
        for c in children:
            name = f"{prefix}__{c.name}"
            out.append((name, c))
            walk(name, c.children)

    walk(spec.name, spec.children)
    return out


def suite_path(spec: EntitySpec) -> Path:
    return EXPECTATIONS_DIR / "raw" / f"{spec.name}.json"


def _load_metadata(result: LoadResult, days: list[date]) -> dict[str, dg.MetadataValue]:
    reasons = "\n".join(
        f"| {reason} | {n} |" for reason, n in result.rejected_by_reason.most_common(20)
    )
    files = "\n".join(
        f"| {f.source_file} | {f.rows_in} | {f.accepted} | {f.rejected} |" for f in result.files[:50]
    )
    return {
        "days_requested": dg.MetadataValue.int(len(days)),
        "days_loaded": dg.MetadataValue.int(len(result.dts_loaded)),
        "files_read": dg.MetadataValue.int(len(result.files)),
        "rows_in_files": dg.MetadataValue.int(result.rows_in),
        "rows_accepted": dg.MetadataValue.int(result.accepted),
        "rows_rejected": dg.MetadataValue.int(result.rejected),
        "rejected_by_reason": dg.MetadataValue.md(
            "| reason | rows |\n|---|---|\n" + (reasons or "| (none) | 0 |")
        ),
        "files": dg.MetadataValue.md(
            "| file | rows in | accepted | rejected |\n|---|---|---|---|\n" + (files or "| (none) | | | |")
        ),
        "warnings": dg.MetadataValue.text("\n".join(result.warnings) or "none"),
    }


def _preview(df: pd.DataFrame, spec: EntitySpec) -> str:
    """A few rows without free-text personal fields (names, nicknames, remarks) and without
    the names' hashes."""
    hidden = {f.name for f in spec.fields if f.kind == "text"}
    hidden |= {f"{f.name}_hash" for f in spec.fields if f.kind == "name"}
    cols = [c for c in df.columns if c not in hidden and not c.startswith("_ingested")]
    return df[cols].head(5).to_markdown(index=False) if len(df) else "(no rows)"


def _read_loaded(warehouse: WarehouseResource, table: str, days: list[date]) -> tuple[pd.DataFrame, int]:
    with warehouse.connect(read_only=True) as con:
        schema, name = table.split(".")
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
        if not exists:
            return pd.DataFrame(), 0
        where = "_dt IS NULL" if not days else (
            "_dt IN (" + ", ".join(f"DATE '{d.isoformat()}'" for d in days) + ")"
        )
        total = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        n = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]
        sample = "" if n <= GX_MAX_ROWS else (
            f" AND hash(_source_file, _source_line) % {int(n // GX_MAX_ROWS) + 1} = 0"
        )
        df = con.execute(f"SELECT * FROM {table} WHERE {where}{sample}").df()
    return df, total


def build_ingest_asset(spec: EntitySpec) -> dg.AssetsDefinition:
    parent_key = dg.AssetKey(["raw", spec.name])
    is_reference = spec.channel == "reference"
    common = {
        "group_name": "ingest",
        "owners": OWNERS,
        "kinds": {"python", "duckdb" if _settings.dbt_target == "duckdb" else "parquet"},
        "tags": {"layer": "raw", "channel": spec.channel},
        "code_version": CODE_VERSION,
    }
    specs = [
        dg.AssetSpec(
            parent_key,
            description=f"{spec.description} Landing `{spec.channel}/{spec.entity}` "
            f"({spec.fmt}, {spec.encoding}), typed and checked; lineage columns "
            "`_source_file, _source_line, _dt, _ingested_at`.",
            metadata={"dagster/table_name": f"raw.{spec.name}",
                      "dagster/column_schema": _column_schema(spec)},
            **common,
        )
    ] + [
        dg.AssetSpec(
            dg.AssetKey(["raw", name]),
            description=f"{child.description or child.name} — nested `{child.path}` of "
            f"`{spec.channel}/{spec.entity}`, written with its parent.",
            metadata={"dagster/table_name": f"raw.{name}"},
            **common,
        )
        for name, child in child_tables(spec)
    ]
    gate = var("quarantine_gate")
    checks = [
        dg.AssetCheckSpec(
            "quarantine_share",
            asset=parent_key,
            blocking=True,
            description="rows quarantined by this run, per file and for the entity: at most "
            f"max({gate['min_rows']}, {gate['max_share']:.0%} of the rows in) (var "
            "quarantine_gate); more is a systemic fault (a changed export, a wrong unit)",
        ),
        dg.AssetCheckSpec(
            "gx_raw_suite",
            asset=parent_key,
            blocking=True,
            description=f"great-expectations suite expectations/raw/{spec.name}.json "
            "on the rows loaded by this run",
        ),
    ]

    @dg.multi_asset(
        name=f"ingest_{spec.name}",
        specs=specs,
        check_specs=checks,
        partitions_def=None if is_reference else business_days,
        backfill_policy=None if is_reference else single_run,
        can_subset=False,
    )
    def _ingest(context: AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
        days = [] if is_reference else days_in_context(context)
        started = datetime.now(UTC).replace(tzinfo=None)
        key = name_key(Path(warehouse.path))
        if warehouse.dbt_target == "spark":
            result = load_entity(spec, warehouse.data_path, None if is_reference else days,
                                 ParquetSink(Path(warehouse.lake_dir)), started, name_key=key)
        else:
            with warehouse.connect() as con:
                result = load_entity(spec, warehouse.data_path, None if is_reference else days,
                                     DuckDBSink(con), started, name_key=key)
        meta = _load_metadata(result, days)
        if result.errors:
            problems = "\n".join(f"- {e}" for e in result.errors)
            raise dg.Failure(
                description=f"{len(result.errors)} landing file(s) of {spec.channel}/{spec.entity} "
                f"could not be read; their days were not loaded (earlier data kept):\n{problems}",
                metadata=meta,
            )
        gate_check = _quarantine_check(spec, result)
        if warehouse.dbt_target == "spark":
            yield from _spark_results(spec, result, meta, Path(warehouse.lake_dir))
            yield gate_check
            return
        df, total = _read_loaded(warehouse, f"raw.{spec.name}", result.dts_loaded)
        yield dg.MaterializeResult(
            asset_key=parent_key,
            metadata={**meta, "dagster/row_count": dg.MetadataValue.int(total),
                      "preview": dg.MetadataValue.md(_preview(df, spec))},
        )
        for name, _ in child_tables(spec):
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["raw", name]),
                metadata={"rows_written": dg.MetadataValue.int(result.child_rows.get(name, 0))},
            )
        yield gate_check
        yield _check_result(spec, run_suite(suite_path(spec), df) if len(df) else None)

    return _ingest


def _quarantine_check(spec: EntitySpec, result: LoadResult) -> dg.AssetCheckResult:
    """Blocking: no file (and not the entity as a whole) above the quarantine gate."""
    gate = var("quarantine_gate")
    breaches = quarantine_breaches(result, float(gate["max_share"]), int(gate["min_rows"]))
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(["raw", spec.name]),
        check_name="quarantine_share",
        passed=not breaches,
        severity=dg.AssetCheckSeverity.ERROR,
        description="\n".join(str(b) for b in breaches) or None,
        metadata={
            "rows_in_files": dg.MetadataValue.int(result.rows_in),
            "rows_rejected": dg.MetadataValue.int(result.rejected),
            "max_share": dg.MetadataValue.float(float(gate["max_share"])),
            "min_rows": dg.MetadataValue.int(int(gate["min_rows"])),
            "breaches": dg.MetadataValue.md(
                "\n".join(f"- {b}" for b in breaches) or "none"),
        },
    )


def _spark_results(spec: EntitySpec, result: LoadResult, meta, lake_dir: Path) -> Iterator:
    """With the Spark target the raw rows are Parquet in the lake; GX runs on the same rows."""
    df = read_lake_days(lake_dir, spec.name, result.dts_loaded)
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(["raw", spec.name]),
        metadata={**meta, "preview": dg.MetadataValue.md(_preview(df, spec))},
    )
    for name, _ in child_tables(spec):
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["raw", name]),
            metadata={"rows_written": dg.MetadataValue.int(result.child_rows.get(name, 0))},
        )
    yield _check_result(spec, run_suite(suite_path(spec), df) if len(df) else None)


def read_lake_days(lake_dir: Path, table: str, days: list[date]) -> pd.DataFrame:
    """The rows of `raw.<table>` landed for `days` (none: a reference table), from the lake.

    Read as DuckDB/pandas from the Parquet files ParquetSink wrote, with `_dt` restored from
    the partition folder, so GX validates exactly the rows the Spark tables will show.
    """
    folder = lake_location(lake_dir, f"raw.{table}")
    parts = ([(folder / f"_dt={d.isoformat()}" / "part-0.parquet", d) for d in days] if days
             else [(folder / "part-0.parquet", None)])
    frames = []
    for path, day in parts:
        if path.exists():
            frame = pq.read_table(path).to_pandas()
            if day is not None:
                frame["_dt"] = day
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _check_result(spec: EntitySpec, outcome) -> dg.AssetCheckResult:
    if outcome is None:  # nothing landed for these days: lateness is the sensor's concern
        return dg.AssetCheckResult(
            asset_key=dg.AssetKey(["raw", spec.name]), check_name="gx_raw_suite", passed=True,
            metadata={"rows_validated": dg.MetadataValue.int(0),
                      "note": dg.MetadataValue.text("no rows loaded by this run")},
        )
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(["raw", spec.name]),
        check_name="gx_raw_suite",
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="\n".join(
            f"{o.expectation}({o.column or ''}): {o.unexpected_count or 'failed'} unexpected of "
            f"{outcome.rows} rows loaded, e.g. {', '.join(str(x) for x in o.sample[:3])}"
            for o in outcome.errors) or None,
        metadata={
            "rows_validated": dg.MetadataValue.int(outcome.rows),
            "failed_errors": dg.MetadataValue.int(len(outcome.errors)),
            "failed_warnings": dg.MetadataValue.int(len(outcome.warnings)),
            "results": dg.MetadataValue.md(outcome.markdown()),
        },
    )


def _column_schema(spec: EntitySpec) -> dg.TableSchema:
    cols = []
    for f in spec.fields:
        names = {
            "mobile": [f"{f.name}_sha256", f"{f.name}_masked", f"{f.name}_status"],
            "mobile_hash": [f"{f.name}_sha256", f"{f.name}_status"],
            "masked_mobile": [f"{f.name}_masked"],
            "name": [f"{f.name}_hash"],
        }.get(f.kind, [f.name])
        for n in names:
            cols.append(dg.TableColumn(n, f.kind, description=f.description or f"from `{f.source}`"))
    return dg.TableSchema(columns=cols)


ingest_assets = [build_ingest_asset(s) for s in ENTITY_SPECS + REFERENCE_SPECS]

#: The ingestion log, a dbt source (models/staging/_ingestion__sources.yml) the incremental
#: staging models read: every ingest asset writes its files' rows with its own (one row per
#: delivered file and day), so it is declared here, in the ingest group, rather than as the
#: output of one of them.
load_log = dg.AssetSpec(
    dg.AssetKey(["raw", "_load_log"]),
    description="One row per delivered file and business day: rows in / accepted / rejected "
                "and when it was ingested; written by every ingest asset with its raw rows.",
    group_name="ingest",
    owners=["team:data-platform"],
    kinds={"duckdb"},
    metadata={"dagster/table_name": "raw._load_log"},
)

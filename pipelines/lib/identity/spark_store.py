"""The persisted OneID state on Spark, read and written as DataFrames (no driver collect).

The same tables and the same versioning as `pipelines.lib.identity.store` (its docstring is
the contract: `assignment_history`/`member_history` versions valid for `valid_from <= day <
valid_to`, the current tables beside them, cumulative merge/split logs, `snapshot_days`, the
last KEEP_SNAPSHOTS nights re-runnable). `store` computes a night's closed and opened versions
on Arrow in the Dagster process; here they are anti joins in Spark, and each table is
rewritten through a staging table (Spark cannot overwrite a table it reads). Only counts and the
list of snapshot days reach the driver. Schema creation and the one-off migrations stay in
`store.ensure_schema` (they run once per warehouse).

As on Spark generally (docs/spark.md), the tables are written one after the other: a night
that fails part-way is undone and redone by running it again (`store._written_from`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pipelines.lib.identity import store
from pipelines.lib.identity.store import ASSIGNMENTS, KEEP_SNAPSHOTS, MEMBERS, SCHEMAS, Versioned
from pipelines.lib.platform.engines import SparkEngine

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _lit(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def previous_state(engine: SparkEngine, as_of: date) -> tuple[DataFrame, DataFrame]:
    """(state, members) of the newest snapshot day before `as_of`, as DataFrames."""
    store.ensure_schema(engine)
    prev = store._previous_day(engine, as_of)
    where = store._visible(_lit(prev)) if prev is not None else "1 = 0"
    spark = engine.spark
    state = spark.sql("SELECT id_type, id_value, member_id, is_founder "
                      f"FROM identity.assignment_history WHERE {where}")
    members = spark.sql(f"SELECT member_id, first_seen_at FROM identity.member_history "
                        f"WHERE {where}")
    return state, members


def retired_ids(engine: SparkEngine, as_of: date) -> DataFrame:
    """Every member id retired by a merge before `as_of` (one column, `old_member_id`); call
    after `previous_state`, which creates the tables when missing."""
    return engine.spark.sql("SELECT DISTINCT old_member_id FROM identity.merges "
                            f"WHERE as_of < {_lit(as_of)}")


def _rewrite(engine: SparkEngine, table: str, df: DataFrame) -> None:
    """Replace `table`'s content by `df` (which may read `table`): staging table, swap."""
    schema = engine.spark.table(table).schema
    staging = f"{table}__siyu_rewrite"
    engine.spark.sql(f"DROP TABLE IF EXISTS {staging}")
    df.select(*[df[f.name].cast(f.dataType).alias(f.name) for f in schema]) \
        .write.format("parquet").saveAsTable(staging)
    engine.spark.sql(f"DROP TABLE {table}")
    engine.spark.sql(f"ALTER TABLE {staging} RENAME TO {table}")


def _forget_days_from(engine: SparkEngine, as_of: date) -> None:
    """`store._forget_days_from` in Spark SQL: drop the versions nights on or after `as_of`
    opened, reopen the ones they closed."""
    d = _lit(as_of)
    for v in (ASSIGNMENTS, MEMBERS):
        table = f"identity.{v.history}"
        cols = ", ".join(v.columns)
        _rewrite(engine, table, engine.spark.sql(
            f"SELECT {cols}, valid_from, CASE WHEN valid_to >= {d} THEN CAST(NULL AS DATE) "
            f"ELSE valid_to END AS valid_to FROM {table} WHERE valid_from < {d}"))
    _rewrite(engine, "identity.snapshot_days",
             engine.spark.sql(f"SELECT as_of FROM identity.snapshot_days WHERE as_of < {d}"))


def _write_versions(engine: SparkEngine, v: Versioned, as_of: date,
                    tonight: DataFrame) -> tuple[int, int]:
    """Close the current versions tonight no longer has, open tonight's new rows, rebuild the
    current table; returns (versions opened, keys whose member changed — for assignments)."""
    from pyspark.sql import functions as F

    spark = engine.spark
    schema = spark.table(f"identity.{v.current}").schema
    tonight = tonight.select(*[tonight[f.name].cast(f.dataType).alias(f.name) for f in schema])
    history = spark.table(f"identity.{v.history}")
    current = history.where(F.col("valid_to").isNull())
    same = None
    for c in v.columns:
        cond = current[c].eqNullSafe(tonight[c])
        same = cond if same is None else same & cond
    opened = tonight.join(current, same, "left_anti") \
        .withColumn("valid_from", F.lit(as_of)).withColumn("valid_to", F.lit(None).cast("date"))
    opened = opened.localCheckpoint(eager=True)
    closed = current.join(tonight, same, "left_anti").select(*v.columns)
    closed = closed.localCheckpoint(eager=True)
    closed_once = closed.distinct().select(*[F.col(c).alias(f"_c_{c}") for c in v.columns],
                                           F.lit(True).alias("_closed"))
    closing = F.col("valid_to").isNull()
    for c in v.columns:
        closing = closing & F.col(c).eqNullSafe(F.col(f"_c_{c}"))
    marked = history.join(closed_once, closing, "left") \
        .select(*v.columns, "valid_from",
                F.when(F.col("_closed"), F.lit(as_of)).otherwise(F.col("valid_to"))
                .alias("valid_to"))
    _rewrite(engine, f"identity.{v.history}", marked.unionByName(opened))
    _rewrite(engine, f"identity.{v.current}", spark.table(f"identity.{v.history}")
             .where(F.col("valid_to").isNull()).select(*v.columns))
    moved = 0
    if v is ASSIGNMENTS:
        before = closed.select(*[F.col(k).alias(f"_{k}") for k in v.key],
                               F.col("member_id").alias("_before"))
        match = None
        for k in v.key:
            cond = F.col(k).eqNullSafe(F.col(f"_{k}"))
            match = cond if match is None else match & cond
        moved = opened.join(before, match).where(
            ~F.col("member_id").eqNullSafe(F.col("_before"))).count()
    return opened.count(), moved


def write_state(engine: SparkEngine, as_of: date, assignments: DataFrame, members: DataFrame,
                merges: DataFrame, splits: DataFrame) -> dict[str, int]:
    """`store.write_state` for DataFrames (same tables, same rows, same counts returned)."""
    from pyspark.sql import functions as F

    store.ensure_schema(engine)
    d = _lit(as_of)
    spark = engine.spark
    if store._written_from(engine, as_of):
        _forget_days_from(engine, as_of)
    for table, data in (("merges", merges), ("splits", splits)):
        name = f"identity.{table}"
        kept = spark.sql(f"SELECT * FROM {name} WHERE as_of < {d}")
        _rewrite(engine, name, kept.unionByName(
            data.withColumn("as_of", F.lit(as_of)).select(*SCHEMAS[table].names),
            allowMissingColumns=False))
    opened, moved = _write_versions(engine, ASSIGNMENTS, as_of, assignments)
    member_versions, _ = _write_versions(engine, MEMBERS, as_of, members)
    _rewrite(engine, "identity.snapshot_days", spark.sql(
        f"SELECT as_of FROM identity.snapshot_days WHERE as_of <> {d} UNION ALL SELECT {d}"))
    kept = sorted((r.as_of for r in spark.sql("SELECT as_of FROM identity.snapshot_days")
                   .collect()), reverse=True)
    if len(kept) > KEEP_SNAPSHOTS + 1:
        oldest = _lit(kept[KEEP_SNAPSHOTS])
        for v in (ASSIGNMENTS, MEMBERS):
            table = f"identity.{v.history}"
            _rewrite(engine, table, spark.sql(
                f"SELECT * FROM {table} WHERE valid_to IS NULL OR valid_to > {oldest}"))
        _rewrite(engine, "identity.snapshot_days", spark.sql(
            f"SELECT as_of FROM identity.snapshot_days WHERE as_of >= {oldest}"))
    return {"identifier_versions_written": opened,
            "identifiers_moved_to_another_member": moved,
            "member_versions_written": member_versions}

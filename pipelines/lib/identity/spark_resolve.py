"""OneID on Spark: the rules of `pipelines.lib.identity` as DataFrame operations on the cluster.

`resolve_spark` takes Spark DataFrames (the dbt models `int_identity__nodes/edges` and the
previous night's state) and returns DataFrames with the columns `resolve` returns, holding the
same rows: the graph never leaves Spark, only small aggregates (counts for the run metadata,
two numbers per component round) reach the Connect client. Rules (founding order, founders,
founding parts, keep / merge / split, minting and clash re-mint): the package docstring.

How the rules map onto Spark:

* **Node numbers are the founding order.** Identifiers (node rows folded by (type, value), plus
  edge endpoints missing from them) are sorted by the founding key (account before hub,
  ``first_dt`` NULL last, ``id_type``, ``id_value``, byte order like Arrow) with a distributed
  range sort, and numbered with `monotonically_increasing_id`, which grows with the sort order
  across partitions. So the smallest node of a component *is* its founder, and the smallest
  node of a member's part is the part's rank in the founding order. The numbers themselves
  (which depend on the partitioning) are never stored: only their order is used.
* **Components**: large-star / small-star rounds (`spark_components`), checkpointed.
* **Previous state**: joined to the nodes on (id_type, id_value); parts are a group-by on
  (member, component); the founding part, the fallback part (most identifiers, then the
  smaller first node) and the deciding part (smallest first node) are window ranks.
* **Minting**: SHA-256 in Spark (`sha2`), the same bytes as `mint_id`; clashes (a minted id
  equal to a previous id or to another minted id) are re-minted with the salt
  ``"<attempt>:"``, a count per attempt on the driver.

Every intermediate frame that is read more than once is checkpointed (`localCheckpoint` by
default) so each is computed once and plans stay small.

Every Spark night resolves the whole graph: the incremental night (only the components the
night's changes reach, the rest carried forward) is the DuckDB path's
(`pipelines.lib.identity.compact`, "Incremental nights").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pipelines.lib.identity.graph import HUB_TYPES
from pipelines.lib.identity.minting import _MAX_REMINTS
from pipelines.lib.identity.resolve import HISTOGRAM_BUCKETS
from pipelines.lib.identity.spark_components import connected_components, local_checkpoint
from pipelines.lib.identity.state import MERGE_REASON, SPLIT_REASON

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass(frozen=True)
class SparkIdentityResult:
    """What one night of OneID on Spark produced: DataFrames with `resolve`'s schemas."""

    assignments: DataFrame  # id_type, id_value, member_id, first_seen_at, last_seen_at, is_founder
    members: DataFrame  # member_id, first_seen_at, n_identifiers
    merges: DataFrame  # old_member_id, member_id, merged_at, reason
    splits: DataFrame  # member_id, new_member_id, split_at, reason
    stats: dict[str, Any] = field(default_factory=dict)


def _usable(c: Column) -> Column:
    """Not NULL and not the empty string (NULL or empty types/values are ignored)."""
    from pyspark.sql import functions as F

    return c.isNotNull() & (F.length(c) > 0)


def _day(df: DataFrame) -> Column:
    """``first_dt``, or without that column the day of ``first_seen_at`` (session time zone
    UTC: the wall-clock day, as `resolve` takes it)."""
    from pyspark.sql import functions as F

    return F.col("first_dt").cast("date") if "first_dt" in df.columns else \
        F.to_date(F.col("first_seen_at"))


def mint_column(id_type: Column, id_value: Column, salt: Column | str = "") -> Column:
    """`mint_id` as a Spark column: ``M`` + 15 upper-case hex of SHA-256(salt + type + US + value)."""
    from pyspark.sql import functions as F

    salt_col = F.lit(salt) if isinstance(salt, str) else salt
    digest = F.sha2(F.concat(salt_col, id_type, F.lit("\x1f"), id_value), 256)
    return F.concat(F.lit("M"), F.upper(F.substring(digest, 1, 15)))


def _identifiers(nodes: DataFrame, edges: DataFrame) -> DataFrame:
    """(id_type, id_value, first_seen_at, last_seen_at, day): node rows folded, plus edge
    endpoints missing from them (earliest / latest / earliest of their edges)."""
    from pyspark.sql import functions as F

    fold = [F.min("first_seen_at").alias("first_seen_at"),
            F.max("last_seen_at").alias("last_seen_at"), F.min("day").alias("day")]
    rows = nodes.select("id_type", "id_value", F.col("first_seen_at").cast("timestamp"),
                        F.col("last_seen_at").cast("timestamp"), _day(nodes).alias("day")) \
        .where(_usable(F.col("id_type")) & _usable(F.col("id_value"))) \
        .groupBy("id_type", "id_value").agg(*fold)
    ends = None
    for side in ("left", "right"):
        end = edges.select(F.col(f"{side}_type").alias("id_type"),
                           F.col(f"{side}_value").alias("id_value"),
                           F.col("first_seen_at").cast("timestamp"),
                           F.col("last_seen_at").cast("timestamp"), _day(edges).alias("day"))
        ends = end if ends is None else ends.unionByName(end)
    extra = ends.where(_usable(F.col("id_type")) & _usable(F.col("id_value"))) \
        .join(rows.select("id_type", "id_value"), ["id_type", "id_value"], "left_anti") \
        .groupBy("id_type", "id_value").agg(*fold)
    return rows.unionByName(extra)


def _numbered(ids: DataFrame, checkpoint: Callable[[DataFrame], DataFrame]) -> DataFrame:
    """Node number `n` growing with the founding order (module docstring)."""
    from pyspark.sql import functions as F

    hub = F.col("id_type").isin(*HUB_TYPES).cast("int")
    ordered = ids.orderBy(hub.asc(), F.col("day").asc_nulls_last(), F.col("id_type").asc(),
                          F.col("id_value").asc())
    return checkpoint(ordered.withColumn("n", F.monotonically_increasing_id()))


def resolve_spark(nodes: DataFrame, edges: DataFrame | None,
                  previous_state: DataFrame | None = None,
                  previous_members: DataFrame | None = None, *, as_of: date,
                  retired_ids: DataFrame | None = None,
                  checkpoint: Callable[[DataFrame], DataFrame] = local_checkpoint,
                  ) -> SparkIdentityResult:
    """`pipelines.lib.identity.resolve` on Spark DataFrames (same rules, same rows).

    `nodes`: id_type, id_value, first_seen_at, last_seen_at[, first_dt]; `edges`: left_type,
    left_value, right_type, right_value, first_seen_at, last_seen_at[, first_dt] (None: no
    edges); `previous_state`: id_type, id_value, member_id[, is_founder]; `previous_members`:
    member_id; `retired_ids`: a frame whose first column holds every member id retired before
    tonight (only for ``stats["revived_ids"]``). Returns DataFrames (checkpointed) and the
    run's stats (the keys `resolve` reports).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = nodes.sparkSession
    if edges is None:
        edges = spark.createDataFrame([], "left_type string, left_value string, right_type "
                                          "string, right_value string, first_seen_at timestamp, "
                                          "last_seen_at timestamp")
    g = _numbered(_identifiers(nodes, edges), checkpoint)
    # -- components over the usable edges (both endpoints identifiers)
    key = g.select("id_type", "id_value", "n")
    left = key.withColumnRenamed("id_type", "left_type").withColumnRenamed("id_value", "left_value") \
        .withColumnRenamed("n", "a")
    right = key.withColumnRenamed("id_type", "right_type") \
        .withColumnRenamed("id_value", "right_value").withColumnRenamed("n", "b")
    pairs = checkpoint(edges.join(left, ["left_type", "left_value"])
                       .join(right, ["right_type", "right_value"]).select("a", "b"))
    edges_used = pairs.count()
    labels, rounds = connected_components(pairs, checkpoint=checkpoint)
    g = checkpoint(g.join(labels.withColumnRenamed("node", "n"), "n", "left")
                   .withColumn("comp", F.coalesce("component", "n")).drop("component"))
    comps = g.groupBy("comp").agg(F.count(F.lit(1)).alias("size"),
                                  F.min("first_seen_at").alias("first_seen_at"))

    # -- previous state: member per usable row, founders, parts
    if previous_state is None:
        previous_state = spark.createDataFrame([], "id_type string, id_value string, "
                                                   "member_id string, is_founder boolean")
    if "is_founder" not in previous_state.columns:
        previous_state = previous_state.withColumn("is_founder", F.lit(None).cast("boolean"))
    state = previous_state.select("id_type", "id_value", F.col("member_id").alias("member"),
                                  F.col("is_founder").cast("boolean").alias("flag")) \
        .where(_usable(F.col("member")))
    state = checkpoint(state.join(g.select("id_type", "id_value", "n", "comp"),
                                  ["id_type", "id_value"], "left"))
    names = state.select("member")
    if previous_members is not None:
        names = previous_members.select(F.col("member_id").alias("member")) \
            .where(_usable(F.col("member"))).unionByName(names)
    names = checkpoint(names.distinct())
    usable = state.where(F.col("n").isNotNull())
    recorded = state.where(F.col("flag").isNotNull()).groupBy("member").agg(
        F.min(F.when(F.col("flag"), F.col("n"))).alias("founder"),
        F.max(F.when(F.col("flag"), F.lit(1)).otherwise(F.lit(0))).alias("has_flag"))
    present = usable.select("member").distinct()
    derive = present.join(recorded, "member", "left_anti")
    founders = _derived_founders(spark, state, usable, derive) \
        .unionByName(recorded.select("member", "founder", F.lit(True).alias("known"),
                                     F.lit(True).alias("recorded")))
    founders = checkpoint(founders.join(g.select(F.col("n").alias("founder"),
                                                 F.col("comp").alias("founder_comp")),
                                        "founder", "left"))
    parts = usable.groupBy("member", "comp").agg(F.count(F.lit(1)).alias("k"),
                                                F.min("n").alias("first")) \
        .join(founders.select("member", "founder_comp"), "member", "left") \
        .withColumn("founding", F.coalesce(F.col("founder_comp") == F.col("comp"), F.lit(False)))
    has_founding = parts.groupBy("member").agg(F.max(F.col("founding").cast("int")).alias("hf"))
    fallback = Window.partitionBy("member").orderBy(F.col("k").desc(), F.col("first").asc())
    parts = parts.join(has_founding, "member") \
        .withColumn("rank", F.row_number().over(fallback)) \
        .withColumn("founding", F.col("founding") | ((F.col("hf") == 0) & (F.col("rank") == 1))) \
        .drop("hf", "rank", "founder_comp")
    parts = checkpoint(parts)
    deciding = Window.partitionBy("comp").orderBy(F.col("first").asc(), F.col("member").asc())
    decided = parts.withColumn("r", F.row_number().over(deciding)).where(F.col("r") == 1) \
        .select("comp", F.col("member").alias("deciding"), F.col("founding").alias("kept"))
    plan = comps.join(decided, "comp", "left") \
        .withColumn("keeper", F.when(F.col("kept"), F.col("deciding"))) \
        .withColumn("had", F.col("deciding").isNotNull()) \
        .join(founders.select(F.col("member").alias("keeper"), F.col("founder").alias("kf")),
              "keeper", "left") \
        .withColumn("founder", F.when(F.col("keeper").isNotNull() & F.col("kf").isNotNull(),
                                      F.col("kf")).otherwise(F.col("comp"))) \
        .drop("deciding", "kept", "kf")
    plan = checkpoint(plan)

    # -- mint for the components no member keeps; re-mint clashes
    minting = checkpoint(plan.where(F.col("keeper").isNull()).select("comp")
                         .join(g.select(F.col("n").alias("comp"), "id_type", "id_value"), "comp")
                         .withColumn("m", mint_column(F.col("id_type"), F.col("id_value"))))
    for attempt in range(1, _MAX_REMINTS + 1):
        taken = names.select(F.col("member").alias("m"))
        doubled = minting.groupBy("m").agg(F.count(F.lit(1)).alias("c")) \
            .where(F.col("c") > 1).select("m")
        clash = minting.join(taken.unionByName(doubled).distinct(), "m", "left_semi") \
            .select("comp")
        if clash.count() == 0:
            break
        if attempt == _MAX_REMINTS:
            raise RuntimeError("could not mint unique member ids")
        again = clash.withColumn("again", F.lit(True))
        minting = checkpoint(minting.join(again, "comp", "left").withColumn(
            "m", F.when(F.col("again"), mint_column(F.col("id_type"), F.col("id_value"),
                                                    f"{attempt}:")).otherwise(F.col("m")))
            .drop("again"))
    plan = checkpoint(plan.join(minting.select("comp", F.col("m").alias("minted")), "comp", "left")
                      .withColumn("member_id", F.coalesce("keeper", "minted")))

    # -- outputs
    final = plan.select("comp", "member_id", "founder")
    assignments = checkpoint(g.join(final, "comp").select(
        "id_type", "id_value", "member_id", "first_seen_at", "last_seen_at",
        (F.col("n") == F.col("founder")).alias("is_founder")))
    members = plan.select("member_id", "first_seen_at", F.col("size").alias("n_identifiers"))
    kept_by = plan.select("comp", "keeper", F.col("member_id").alias("to"))
    logged = parts.join(kept_by, "comp")
    retired = F.col("founding") & ~F.col("keeper").eqNullSafe(F.col("member"))
    merges = logged.where(retired).select(
        F.col("member").alias("old_member_id"), F.col("to").alias("member_id"),
        F.lit(as_of).alias("merged_at"), F.lit(MERGE_REASON).alias("reason"))
    splits = logged.where(~F.col("founding")).select(
        F.col("member").alias("member_id"), F.col("to").alias("new_member_id"),
        F.lit(as_of).alias("split_at"), F.lit(SPLIT_REASON).alias("reason"))
    stats = _stats(plan, logged, retired, names, present, founders, minting, retired_ids,
                   edges_used, rounds)
    return SparkIdentityResult(assignments, members, merges, splits, stats)


def _derived_founders(spark, state: DataFrame, usable: DataFrame,
                      derive: DataFrame) -> DataFrame:
    """(member, founder, known, recorded=false) for members none of whose rows records a
    founder: the
    identifier whose mint (unsalted, then "1:"…) is the member id — NULL when that identifier
    is gone — else the member's smallest identifier tonight (`known` false)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    salts = spark.createDataFrame([(i, "" if i == 0 else f"{i}:") for i in range(_MAX_REMINTS)],
                                  "attempt int, salt string")
    rows = state.join(derive, "member", "left_semi")
    hits = rows.crossJoin(F.broadcast(salts)) \
        .where(mint_column(F.col("id_type"), F.col("id_value"), F.col("salt")) == F.col("member"))
    first = Window.partitionBy("member").orderBy(F.col("attempt").asc(),
                                                 F.col("n").asc_nulls_last())
    by_mint = hits.withColumn("r", F.row_number().over(first)).where(F.col("r") == 1) \
        .select("member", F.col("n").alias("founder"), F.lit(True).alias("known"))
    smallest = usable.join(derive, "member", "left_semi").join(by_mint, "member", "left_anti") \
        .groupBy("member").agg(F.min("n").alias("founder")).withColumn("known", F.lit(False))
    return by_mint.unionByName(smallest).withColumn("recorded", F.lit(False))


def _stats(plan: DataFrame, logged: DataFrame, retired: Column, names: DataFrame,
           present: DataFrame, founders: DataFrame, minting: DataFrame,
           retired_ids: DataFrame | None, edges_used: int, rounds: int) -> dict[str, Any]:
    """The run summary `resolve` reports: three or four aggregate jobs, one row each."""
    from pyspark.sql import functions as F

    def count_if(c):
        return F.sum(F.when(c, 1).otherwise(0))

    buckets = [count_if((F.col("size") >= lo) & (F.col("size") <= hi)).alias(f"h{i}")
               for i, (lo, hi, _) in enumerate(HISTOGRAM_BUCKETS)]
    p = plan.agg(F.count(F.lit(1)).alias("members"), F.max("size").alias("largest"),
                 F.sum("size").alias("identifiers"),
                 count_if(F.col("keeper").isNull() & ~F.col("had")).alias("new"),
                 count_if(F.col("keeper").isNotNull()).alias("kept"),
                 count_if(F.col("keeper").isNull() & F.col("had")).alias("split_off"),
                 *buckets).collect()[0]
    logs = logged.agg(count_if(retired).alias("merges"),
                      count_if(~F.col("founding")).alias("splits")).collect()[0]
    m = names.join(present.withColumn("present", F.lit(True)), "member", "left") \
        .join(founders, "member", "left") \
        .agg(count_if(F.col("present").isNull()).alias("vanished"),
             count_if(~F.col("recorded")).alias("derived"),
             count_if(F.col("present") & F.col("known") & F.col("founder").isNull())
             .alias("gone")).collect()[0]
    revived = 0
    if retired_ids is not None:
        retired_m = retired_ids.select(F.col(retired_ids.columns[0]).alias("m")).distinct()
        revived = minting.join(retired_m, "m", "left_semi").count()
    return {
        "members": int(p["members"]),
        "identifiers": int(p["identifiers"] or 0),
        "edges_used": int(edges_used),
        "new_members": int(p["new"] or 0),
        "kept_members": int(p["kept"] or 0),
        "merges": int(logs["merges"] or 0),
        "splits": int(logs["splits"] or 0),
        "split_off_members": int(p["split_off"] or 0),
        "vanished_members": int(m["vanished"] or 0),
        "revived_ids": int(revived),
        "founders_gone": int(m["gone"] or 0),
        "founders_derived": int(m["derived"] or 0),
        "largest_cluster_size": int(p["largest"] or 0),
        "cluster_size_histogram": {label: int(p[f"h{i}"] or 0)
                                   for i, (_, _, label) in enumerate(HISTOGRAM_BUCKETS)},
        "component_rounds": rounds,
    }

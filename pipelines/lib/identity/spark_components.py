"""Connected components as Spark DataFrame operations: alternating large-star / small-star.

Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii (2014), "Connected Components in MapReduce
and Beyond" — the algorithm GraphFrames' ``connectedComponents`` runs by default. GraphFrames
itself cannot be used here (its jar comes from Maven) and GraphX is not reachable through Spark
Connect, so the rounds are plain DataFrame joins and aggregations that run on the cluster; the
driver (the Connect client) only sees two counts per round.

Nodes are integers (``bigint``). The edge set is kept oriented ``src < dst`` and, each round:

* **large-star**: every node ``u`` links each *larger* neighbour ``v`` to ``m(u)``, the
  smallest of ``u`` and its neighbours — output oriented ``src > dst``;
* **small-star**: every node ``u`` links each *smaller* neighbour ``v`` and itself to the
  smallest of its smaller neighbours — output oriented ``src < dst`` again.

Both steps keep the components, and the alternation converges to a forest of stars whose
centre is the smallest node of its component (the paper's Theorem 2.4: O(log² n) rounds, a few
in practice). The loop stops when the edge set *is* such a star forest — no node is both a
centre (``src``) and a leaf (``dst``), and every leaf has one centre: a round would change
nothing — so the rounds counted are the rounds that changed something. Every round's edges are
checkpointed (``localCheckpoint`` by default: materialised on the executors, lineage cut), so
the query plan does not grow with the rounds.

The result labels every node that is an edge endpoint with its component's smallest node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: A round limit that a correct run never reaches (O(log² n) rounds: ~20 at 10⁶ nodes in the
#: paper's worst case; paths of 10⁵ nodes converge in < 30 here) — a guard against a bug.
MAX_ROUNDS = 100


def local_checkpoint(df: DataFrame) -> DataFrame:
    """Materialise `df` on the executors and cut its lineage (works over Spark Connect)."""
    return df.localCheckpoint(eager=True)


def _star_forest(ee: DataFrame) -> bool:
    """True when `ee` (oriented src < dst) is a forest of stars centred on their smallest node.

    Leaves with two centres or a centre that is another centre's leaf mean more rounds. One
    Spark job; the driver gets two numbers.
    """
    from pyspark.sql import functions as F

    centres = ee.select(F.col("src").alias("c")).distinct()
    chained = ee.join(centres, ee["dst"] == centres["c"], "left_semi").select(
        F.lit(1).alias("one"))
    stats = ee.agg((F.count(F.lit(1)) - F.countDistinct("dst")).alias("shared_leaves")) \
        .crossJoin(chained.agg(F.count(F.lit(1)).alias("chained"))).collect()[0]
    return stats["shared_leaves"] == 0 and stats["chained"] == 0


def connected_components(edges: DataFrame, src: str = "a", dst: str = "b", *,
                         checkpoint: Callable[[DataFrame], DataFrame] = local_checkpoint,
                         max_rounds: int = MAX_ROUNDS) -> tuple[DataFrame, int]:
    """Components of the undirected graph `edges` (two bigint columns `src`, `dst`).

    Returns ``(labels, rounds)``: `labels` has a row ``(node, component)`` for every node that
    is an endpoint of an edge (self-loops included), ``component`` the smallest node of its
    component; `rounds` is the number of large-star + small-star rounds run. Nodes in no edge
    are their own component: the caller adds them.
    """
    from pyspark.sql import functions as F

    ends = edges.select(F.col(src).cast("bigint").alias("x"), F.col(dst).cast("bigint").alias("y")) \
        .where(F.col("x").isNotNull() & F.col("y").isNotNull())
    loops = ends.where(F.col("x") == F.col("y")).select(F.col("x").alias("node"))
    ee = checkpoint(ends.where(F.col("x") != F.col("y"))
                    .select(F.least("x", "y").alias("src"), F.greatest("x", "y").alias("dst"))
                    .distinct())
    rounds = 0
    while not _star_forest(ee):
        if rounds == max_rounds:
            raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
        rounds += 1
        # large-star: m(u) = min(u, neighbours of u); each larger neighbour v of u links to m(u)
        both = ee.union(ee.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
        m = both.groupBy("src").agg(F.min("dst").alias("m")) \
            .select("src", F.least("src", "m").alias("m"))
        ee = ee.join(m, "src").select(F.col("dst").alias("src"), F.col("m").alias("dst")) \
            .distinct()  # src > dst
        # small-star: each node u and its smaller neighbours link to the smallest of those
        m = ee.groupBy("src").agg(F.min("dst").alias("m"))
        ee = ee.join(m, "src").where(F.col("dst") != F.col("m")) \
            .select(F.col("m").alias("src"), F.col("dst").alias("dst")) \
            .union(m.select(F.col("m").alias("src"), F.col("src").alias("dst"))) \
            .distinct()  # src < dst
        ee = checkpoint(ee)
    labels = ee.select(F.col("dst").alias("node"), F.col("src").alias("component")).union(
        ee.select(F.col("src").alias("node"), F.col("src").alias("component")).distinct())
    alone = loops.distinct().join(labels, "node", "left_anti") \
        .select("node", F.col("node").alias("component"))
    return labels.union(alone), rounds

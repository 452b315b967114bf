"""OneID on Spark (`lib/identity/spark_*`) against the DuckDB/NumPy path and SciPy.

* Components: large-star / small-star on Spark equals SciPy's `connected_components` (labels
  = smallest node) on hypothesis graphs, and on a long path and a star given in an order that
  needs many rounds.
* Resolution: nights of hand-written and hypothesis histories go through `resolve` and
  `resolve_spark`, each fed its own previous night; assignments, members, merges and splits
  are equal every night.

Spark runs cost seconds per job on 2 cores, so each Spark call takes many graphs at once:
independent graphs are put side by side (node numbers offset, identifier values prefixed),
which changes nothing for either side — components never cross graphs. One local Spark Connect
server for the module (~10 s to start). Marked `spark` (needs the `spark` extra and Java 17).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from pipelines.lib.identity import mint_id, resolve
from pipelines.lib.platform.engines import naive_timestamps
from tests.unit.test_oneid import D0, deleted_founder_nights, edge, histories, node

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.spark, pytest.mark.slow]

NODE_COLUMNS = ["id_type", "id_value", "first_seen_at", "last_seen_at", "first_dt"]
EDGE_COLUMNS = ["left_type", "left_value", "right_type", "right_value", "source",
                "first_seen_at", "last_seen_at"]
SLOW = settings(max_examples=2, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pipelines.lib.platform.spark import connect, local_connect_server

    lake: Path = tmp_path_factory.mktemp("spark-identity") / "lake"
    with local_connect_server(lake) as url:
        session = connect(url)
        try:
            yield session
        finally:
            session.stop()


# --- components ---------------------------------------------------------------------------------


def _scipy_min_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per node: the smallest node of its component (SciPy is the oracle)."""
    _, labels = scipy_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)),
                                 directed=False)
    smallest = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]


def _spark_labels(spark, a: np.ndarray, b: np.ndarray) -> tuple[dict[int, int], int]:
    from pipelines.lib.identity.spark_components import connected_components

    edges = spark.createDataFrame(
        pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64())})) if len(a) \
        else spark.createDataFrame([], "a bigint, b bigint")
    labels, rounds = connected_components(edges)
    out = labels.toArrow()
    nodes, comps = out["node"].to_pylist(), out["component"].to_pylist()
    assert len(set(nodes)) == len(nodes), "a node labelled twice"
    return dict(zip(nodes, comps, strict=True)), rounds


def _check_components(spark, n: int, a: np.ndarray, b: np.ndarray) -> int:
    got, rounds = _spark_labels(spark, a, b)
    want = _scipy_min_labels(n, a, b)
    assert set(got) == set(a.tolist()) | set(b.tolist())  # every endpoint, nothing else
    assert got == {x: int(want[x]) for x in got}
    return rounds


graphs = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                         max_size=2 * n)))


@SLOW
@given(st.lists(graphs, min_size=1, max_size=25))
def test_components_equal_scipy_on_random_graphs(spark, batch):
    """Up to 25 random graphs (self-loops, repeated edges, isolated nodes) side by side."""
    offset, a, b = 0, [], []
    for n, pairs in batch:
        a += [offset + x for x, _ in pairs]
        b += [offset + y for _, y in pairs]
        offset += n
    _check_components(spark, offset, np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))


def test_components_of_long_paths_and_stars_need_rounds_and_agree(spark):
    """A path numbered from both ends inwards (the slowest case for min-label propagation),
    a path in random order, a star centred on its largest node and two paths joined."""
    rng = np.random.default_rng(7)
    parts, offset = [], 0
    zigzag = np.array([(i // 2) if i % 2 == 0 else 599 - i // 2 for i in range(600)])
    parts.append((zigzag[:-1], zigzag[1:]))
    perm = rng.permutation(500) + 600
    parts.append((perm[:-1], perm[1:]))
    star = np.arange(1100, 1400)
    parts.append((np.full(len(star) - 1, star[-1]), star[:-1]))
    parts.append((np.array([0, 1100]), np.array([600, 1399])))  # glue the path, path, star
    offset = 1400
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    rounds = _check_components(spark, offset, a, b)
    assert rounds >= 5  # a 1,400-node path-like component is no one-round case


# --- resolution ---------------------------------------------------------------------------------


def _side_by_side(histories: list[list[tuple[list, list]]]) -> list[tuple[list, list]]:
    """Histories as one: values prefixed per history; a history that has ended keeps its last
    night's data (both resolvers see the same graph, so equality still means something)."""
    nights = max(len(h) for h in histories)
    out = []
    for d in range(nights):
        nodes, edges = [], []
        for i, h in enumerate(histories):
            ns, es = h[min(d, len(h) - 1)]
            nodes += [dict(x, id_value=f"s{i}_{x['id_value']}") for x in ns]
            edges += [dict(x, left_value=f"s{i}_{x['left_value']}",
                           right_value=f"s{i}_{x['right_value']}") for x in es]
        out.append((nodes, edges))
    return out


#: what the component cap reports (lib/identity/cap.py): not applied on Spark yet, where a
#: component above the cap fails identity_sanity instead (docs/spark.md); the histories here
#: stay below it, so every other figure must agree
CAP_STATS = {"capped_components", "identifiers_in_capped_components", "shared_hubs_flagged",
             "largest_components"}


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in table.column_names])


def _arrow(df, like: pa.Schema) -> pa.Table:
    return naive_timestamps(df.toArrow()).select(like.names).cast(like)


def _both_nightly(spark, history, drop_founder_flag_after: int | None = None) -> list:
    """Run `history` night after night through both resolvers (each fed its own state) and
    assert equal outputs each night; returns the (equal) results per night, `resolve`'s."""
    from pipelines.lib.identity.spark_resolve import resolve_spark

    prev_py = prev_sp = None
    retired_py: list[str] = []
    retired_sp = None
    results = []
    for i, (nodes, edges) in enumerate(history):
        as_of = D0 + timedelta(days=i)
        n = pd.DataFrame(nodes, columns=NODE_COLUMNS)
        e = pd.DataFrame(edges, columns=EDGE_COLUMNS)
        n_sp = spark.createDataFrame(pa.Table.from_pandas(n, preserve_index=False))
        e_sp = spark.createDataFrame(pa.Table.from_pandas(e, preserve_index=False)) \
            if len(e) else None
        if prev_py is None:
            py = resolve(n, e if len(e) else None, None, None, as_of=as_of)
            sp = resolve_spark(n_sp, e_sp, as_of=as_of)
        else:
            state_py, state_sp = prev_py.assignments, prev_sp.assignments
            if drop_founder_flag_after == i - 1:  # a state written before founders existed
                state_py = state_py.drop_columns(["is_founder"])
                state_sp = state_sp.drop("is_founder")
            py = resolve(n, e if len(e) else None, state_py, prev_py.members, as_of=as_of,
                         retired_ids=retired_py)
            sp = resolve_spark(n_sp, e_sp, state_sp, prev_sp.members, as_of=as_of,
                               retired_ids=retired_sp)
        for name in ("assignments", "members", "merges", "splits"):
            want = getattr(py, name)
            got = _arrow(getattr(sp, name), want.schema)
            assert _sorted(got).equals(_sorted(want)), f"night {i}: {name}\n{got}\n{want}"
        for k, v in py.stats.items():
            if k not in CAP_STATS:
                assert sp.stats[k] == v, f"night {i}: stats[{k}] {sp.stats[k]} != {v}"
        retired_py += py.merges["old_member_id"].to_pylist()
        merged = sp.merges.select("old_member_id")
        retired_sp = merged if retired_sp is None else retired_sp.unionByName(merged)
        prev_py, prev_sp = py, sp
        results.append(py)
    return results


def _hand_written() -> list[list[tuple[list, list]]]:
    """Merges, splits, a three-way merge, a deleted founder, a late older identifier, an
    edge-only identifier, duplicate node rows, and a founder that comes back as its own
    component (its mint is taken: a clash, re-minted with the salt "1:")."""
    merge = [([node("pos_card", "C1", 1), node("tmall_ouid", "O1", 2),
               node("mobile_sha256", "h", 1)],
              [edge("pos_card", "C1", "mobile_sha256", "h", 1)]),
             ([node("pos_card", "C1", 1), node("tmall_ouid", "O1", 2),
               node("mobile_sha256", "h", 1)],
              [edge("pos_card", "C1", "mobile_sha256", "h", 1),
               edge("tmall_ouid", "O1", "mobile_sha256", "h", 3)])]
    three = [([node("pos_card", f"C{i}", i) for i in (1, 2, 3)] + [node("mobile_sha256", "h", 1),
                                                                  node("wechat_unionid", "u", 1)],
              []),
             ([node("pos_card", f"C{i}", i) for i in (1, 2, 3)] + [node("mobile_sha256", "h", 1),
                                                                  node("wechat_unionid", "u", 1)],
              [edge("pos_card", "C1", "mobile_sha256", "h"),
               edge("pos_card", "C2", "mobile_sha256", "h"),
               edge("pos_card", "C3", "wechat_unionid", "u"),
               edge("pos_card", "C2", "wechat_unionid", "u")])]
    n, e, deleted = deleted_founder_nights()
    back = ([*deleted[0], node("wecom_external_userid", "w1", 1)], deleted[1])
    deleted_and_back = [(n, e), deleted, back]
    late = [([node("pos_card", "C2", 2), node("mobile_sha256", "h", 2)],
             [edge("pos_card", "C2", "mobile_sha256", "h", 2)]),
            ([node("pos_card", "C2", 2), node("mobile_sha256", "h", 2),
              node("tmall_ouid", "O1", 1), node("tmall_ouid", "O1", 3)],  # a duplicated row
             [edge("pos_card", "C2", "mobile_sha256", "h", 2),
              edge("tmall_ouid", "O1", "mobile_sha256", "h", 5),
              edge("mp_openid", "only_in_edges", "mobile_sha256", "h", 4),
              edge("mp_openid", "", "mobile_sha256", "h", 4)])]
    return [merge, three, deleted_and_back, late]


def test_a_state_without_founders_derives_them_alike(spark):
    """The migration path: a state written before `is_founder` existed (founders derived by
    their mint, else the smallest identifier) gives the same ids on both engines."""
    nights = _both_nightly(spark, _side_by_side(_hand_written())[:2], drop_founder_flag_after=0)
    assert nights[1].stats["founders_derived"] == nights[0].stats["members"]

@SLOW
@given(st.lists(histories(max_nights=4), min_size=1, max_size=30))
def test_random_histories_give_identical_state_on_both_engines(spark, batch):
    batch = [h for h in batch if h]
    if batch:
        _both_nightly(spark, _side_by_side(batch))


# --- persisted state ----------------------------------------------------------------------------


def test_hand_written_nights_give_the_same_results_and_state_on_both_engines(spark):
    """Both resolvers and both state stores, night by night: `resolve` + `store` on DuckDB,
    `resolve_spark` + `spark_store` (DataFrames, anti joins in Spark) on Spark — equal outputs
    and stats each night, equal `identity.*` tables after each write; then the last night is
    run again (a re-run reproduces the state)."""
    import duckdb

    from pipelines.lib.identity import spark_store, store
    from pipelines.lib.identity.spark_resolve import resolve_spark
    from pipelines.lib.platform.engines import DuckDBEngine, SparkEngine

    duck, on_spark = DuckDBEngine(duckdb.connect()), SparkEngine(spark)
    spark.sql("DROP SCHEMA IF EXISTS identity CASCADE")
    history = _side_by_side(_hand_written())
    nights = []
    for i in [*range(len(history)), len(history) - 1]:
        nodes, edges = history[i]
        as_of = D0 + timedelta(days=i)
        n = pd.DataFrame(nodes, columns=NODE_COLUMNS)
        e = pd.DataFrame(edges, columns=EDGE_COLUMNS)
        state, members = store.previous_state(duck, as_of)
        py = resolve(n, e, state, members, as_of=as_of,
                     retired_ids=store.retired_ids(duck, as_of))
        written_py = store.write_state(duck, as_of, py.assignments, py.members, py.merges,
                                       py.splits)
        state, members = spark_store.previous_state(on_spark, as_of)
        sp = resolve_spark(spark.createDataFrame(pa.Table.from_pandas(n, preserve_index=False)),
                           spark.createDataFrame(pa.Table.from_pandas(e, preserve_index=False)),
                           state, members, as_of=as_of,
                           retired_ids=spark_store.retired_ids(on_spark, as_of))
        for name in ("assignments", "members", "merges", "splits"):
            want = getattr(py, name)
            got = _arrow(getattr(sp, name), want.schema)
            assert _sorted(got).equals(_sorted(want)), f"night {i}: {name}"
        want = {k: v for k, v in py.stats.items() if k not in CAP_STATS}
        assert {k: sp.stats[k] for k in want} == want, f"night {i}"
        written_sp = spark_store.write_state(on_spark, as_of, sp.assignments, sp.members,
                                             sp.merges, sp.splits)
        assert written_sp == written_py, f"night {i}"
        for table, schema in store.SCHEMAS.items():
            want = duck.read_arrow(f"SELECT * FROM identity.{table}").cast(schema)
            got = on_spark.read_arrow(f"SELECT * FROM identity.{table}").select(
                schema.names).cast(schema)
            assert _sorted(got).equals(_sorted(want)), f"night {i}: identity.{table}"
        nights.append(py)
    # night 2: O1 joins C1's member (1 merge); C2, C3, h, u join C1 (4 merges); w1 deleted:
    # {o1, u1} keeps the id, {C1, h} splits off (1 split); night 3 changes no member; the
    # re-run of night 3 reproduces it
    assert [r.stats["merges"] for r in nights] == [0, 5, 0, 0]
    assert [r.stats["splits"] for r in nights] == [0, 1, 0, 0]
    assert nights[1].stats["founders_gone"] == 1
    # night 3: w1 is back on its own; mint(w1) is still the id of the member it founded, so
    # it is re-minted with the salt "1:" (the clash path, on both engines alike)
    w1 = "wecom_external_userid\x1fs2_w1"
    last = {(a["id_type"], a["id_value"]): a["member_id"]
            for a in nights[-1].assignments.to_pylist()}
    assert last[("wecom_external_userid", "s2_w1")] == mint_id(w1, "1:")
    assert last[("mp_openid", "s2_o1")] == mint_id(w1)
    assert duck.read_arrow("SELECT count(*) AS n FROM identity.merges")["n"][0].as_py() == 5

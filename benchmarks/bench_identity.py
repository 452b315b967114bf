"""Identity step: memory and time of the compact path vs bare SciPy on DuckDB-encoded ints.

The graph is written to a DuckDB warehouse file first (and dropped from Python), as the nightly
step finds it. Measured in one process, each part with its own peak RSS (VmHWM reset):

(a) bare baseline: the endpoint strings numbered in DuckDB (distinct values, joined back),
    integer pairs to NumPy, `scipy.sparse.csgraph.connected_components` — the floor;
(b) first night, the identity step as the DuckDB asset runs it: dictionary keys appended to
    identity.identifier_keys, the integer graph read from SQL, the rules (components, cap,
    founders, minting), tonight's state joined in SQL (`resolve_in_warehouse`), then the
    versioned state written (`store.write_state`, in SQL);
(c) second night on top of it (+1 % edges: new identifiers joining, new pairs, merges; −0.01 %
    edges: splits) — with ``--arrow``, for the Arrow path;
(d) the second night from copies of night one's warehouse, each in full (incremental off) and
    incremental (`resolve_in_warehouse(incremental_max_share=…)`, "Incremental nights" in
    `pipelines.lib.identity.compact`): the +1 % / −0.01 % change above, and a small one,
    +0.1 % / −0.1 % edges (``second_night_plus_0_1pct_full`` / ``…_incremental``).

Printed: seconds, peak bytes per identifier (peak RSS added by the step / identifiers; the
resident interpreter and libraries before it, ≈ 0.25 GiB, are left out), ratio of the
step's resolve part and of the whole step to (a). With ``--arrow`` the same nights run through
the Arrow path as well (`resolve` on tables read into Python + Arrow `write_state`: the Spark
path, and the DuckDB path before the compact one) for the before/after comparison.

The synthetic graph is identity-shaped: many small components of 1–6 identifiers (singletons
only in the node table), 0.05 % chains of 10–40, hex ids of the real lengths (16 for cards, 28
for openid/unionid, 32 for ouid/external_userid, 64 for the mobile hash), 10 % of edges
repeated reversed, every table shuffled. ≈ 1.45 identifiers per edge.

    python benchmarks/bench_identity.py                      # small: 200 k edges
    python benchmarks/bench_identity.py --edges 13800000     # ≈ 20 M identifiers
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.lib.identity import ID_TYPES, resolve
from pipelines.lib.identity import store as identity_store
from pipelines.lib.identity.compact import resolve_in_warehouse, write_night
from pipelines.lib.platform.engines import DuckDBEngine

#: Real identifier lengths by type (same order as `ID_TYPES`).
LENGTHS = np.array([16, 32, 28, 28, 32, 64])
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
T0 = np.datetime64("2023-01-01T00:00:00", "us")
SIZES = np.arange(1, 7)
SIZE_P = [0.30, 0.25, 0.18, 0.12, 0.09, 0.06]


def hex_values(rng: np.random.Generator, types: np.ndarray, serial: np.ndarray) -> pa.Array:
    """Random lower-case hex of each type's length; the last 12 chars are a unique serial.

    Plain `string` (32-bit offsets) as DuckDB hands it over; large_string only beyond 2 GiB.
    """
    lengths = LENGTHS[types]
    offsets = np.zeros(len(types) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = HEX[rng.integers(0, 16, int(offsets[-1]), dtype=np.uint8)]
    s = serial.astype(np.uint64)
    for j in range(12):
        data[offsets[1:] - 1 - j] = HEX[(s >> np.uint64(4 * j)) & np.uint64(15)]
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(len(types), pa.py_buffer(offsets.astype(np.int32)),
                                           pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(len(types), pa.py_buffer(offsets),
                                            pa.py_buffer(data))


def node_table(rng: np.random.Generator, n: int, serial_from: int,
               days: tuple[int, int]) -> pa.Table:
    types = rng.integers(0, len(ID_TYPES), n)
    first = T0 + (rng.integers(days[0] * 86400, days[1] * 86400, n) * 1_000_000).astype(
        "timedelta64[us]")
    last = first + (rng.integers(0, 90 * 86400, n) * 1_000_000).astype("timedelta64[us]")
    return pa.table({"id_type": pa.array(ID_TYPES).take(pa.array(types)),
                     "id_value": hex_values(rng, types, np.arange(serial_from, serial_from + n)),
                     "first_seen_at": first, "last_seen_at": last})


def edge_table(nodes: pa.Table, a: np.ndarray, b: np.ndarray, source: str) -> pa.Table:
    first = nodes["first_seen_at"].to_numpy()
    seen = np.maximum(first[a], first[b])
    ia, ib = pa.array(a), pa.array(b)
    return pa.table({"left_type": nodes["id_type"].take(ia),
                     "left_value": nodes["id_value"].take(ia),
                     "right_type": nodes["id_type"].take(ib),
                     "right_value": nodes["id_value"].take(ib),
                     "source": pa.array(np.full(len(a), source)),
                     "first_seen_at": seen, "last_seen_at": seen})


def synth(n_edges: int, seed: int = 1) -> tuple[pa.Table, pa.Table]:
    """Night one: components of 1–6 identifiers (spanning trees), 0.05 % chains, 10 % repeats."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(SIZES, size=n_edges, p=SIZE_P)
    chains = rng.random(n_edges) < 0.0005
    sizes[chains] = rng.integers(10, 40, int(chains.sum()))
    sizes = sizes[: np.searchsorted(np.cumsum(sizes - 1), n_edges * 0.9) + 1]
    n = int(sizes.sum())
    comp = np.repeat(np.arange(len(sizes)), sizes)
    start = np.cumsum(sizes) - sizes
    pos = np.arange(n) - start[comp]
    nodes = node_table(rng, n, 0, (0, 730))
    child = np.flatnonzero(pos > 0)
    chain = sizes[comp[child]] >= 10
    parent_pos = np.where(chain, pos[child] - 1,
                          (rng.random(len(child)) * pos[child]).astype(np.int64))
    a, b = child, start[comp[child]] + parent_pos
    again = rng.integers(0, len(a), max(0, n_edges - len(a)))  # repeated, reversed
    a, b = np.concatenate([a, b[again]]), np.concatenate([b, a[again]])
    edges = edge_table(nodes, a, b, "bench")
    return shuffled(rng, nodes), shuffled(rng, edges)


def second_night(nodes: pa.Table, edges: pa.Table, seed: int = 2, added: float = 0.01,
                 withdrawn: float = 0.0001) -> tuple[pa.Table, pa.Table]:
    """+1 % edges (90 % new → existing, 9 % new pairs, 1 % existing ↔ existing), −0.01 %
    (other shares: `added`, `withdrawn`)."""
    rng = np.random.default_rng(seed)
    k = max(10, int(edges.num_rows * added))
    n_join, n_pair = int(k * 0.9), int(k * 0.09)
    n_link = k - n_join - n_pair
    n_old = nodes.num_rows
    new = node_table(rng, n_join + 2 * n_pair, n_old, (730, 731))
    all_nodes = pa.concat_tables([nodes, new])
    fresh = n_old + np.arange(new.num_rows)
    a = np.concatenate([fresh[:n_join], fresh[n_join::2], rng.integers(0, n_old, n_link)])
    b = np.concatenate([rng.integers(0, n_old, n_join), fresh[n_join + 1::2],
                        rng.integers(0, n_old, n_link)])
    added = edge_table(all_nodes, a, b, "bench_night2")
    keep = np.ones(edges.num_rows, dtype=bool)
    keep[rng.integers(0, edges.num_rows, max(1, int(edges.num_rows * withdrawn)))] = False
    kept = edges.filter(pa.array(keep))
    return shuffled(rng, all_nodes), shuffled(rng, pa.concat_tables(
        [kept, added.cast(kept.schema)]))


def shuffled(rng: np.random.Generator, t: pa.Table) -> pa.Table:
    return t.take(pa.array(rng.permutation(t.num_rows))).combine_chunks()


def baseline_warehouse(con: duckdb.DuckDBPyConnection, edges: str) -> int:
    """(a) Bare clustering: the endpoint strings numbered by DuckDB (distinct (type, value),
    joined back to both ends), integer pairs to NumPy, SciPy components."""
    pairs = con.sql(f"""
        WITH ids AS (
            SELECT t, v, CAST(row_number() OVER () - 1 AS INTEGER) AS id FROM (
                SELECT left_type AS t, left_value AS v FROM {edges}
                UNION SELECT right_type, right_value FROM {edges}) AS ends)
        SELECT a.id AS a, b.id AS b FROM {edges} AS e
        JOIN ids AS a ON a.t = e.left_type AND a.v = e.left_value
        JOIN ids AS b ON b.t = e.right_type AND b.v = e.right_value
    """).to_arrow_table()
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    del pairs
    n = int(max(a.max(), b.max())) + 1 if len(a) else 0
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    n_comp, _ = connected_components(graph, directed=True, connection="weak")
    return int(n_comp)


def compact_night(con: duckdb.DuckDBPyConnection, nodes: str, edges: str, as_of: date,
                  cap: int | None, share: float | None = None) -> dict:
    """(b)/(c) The identity step as the DuckDB asset runs it; seconds of both parts.
    `share`: identity_incremental_max_share (None: every night full)."""
    engine = DuckDBEngine(con)
    t0 = time.perf_counter()
    retired = identity_store.retired_ids(engine, as_of)
    state, members = identity_store.previous_state_sql(engine, as_of)
    night = resolve_in_warehouse(con, as_of=as_of, nodes=nodes, edges=edges, state=state,
                                 members=members, retired_ids=retired, max_component_size=cap,
                                 incremental_max_share=share)
    t1 = time.perf_counter()
    write_night(engine, as_of, night)
    t2 = time.perf_counter()
    return {"resolve_s": t1 - t0, "write_s": t2 - t1, "stats": night.stats, "mode": night.mode}


def arrow_night(con: duckdb.DuckDBPyConnection, nodes: str, edges: str, as_of: date,
                cap: int | None) -> dict:
    """The Arrow path: every table read into Python, `resolve`, Arrow `write_state`."""
    engine = DuckDBEngine(con)
    t0 = time.perf_counter()
    retired = identity_store.retired_ids(engine, as_of)
    n, e = engine.read_arrow(f"SELECT * FROM {nodes}"), engine.read_arrow(f"SELECT * FROM {edges}")
    state, members = identity_store.previous_state(engine, as_of)
    r = resolve(n, e, state, members, as_of=as_of, retired_ids=retired, max_component_size=cap)
    t1 = time.perf_counter()
    identity_store.write_state(engine, as_of, r.assignments, r.members, r.merges, r.splits,
                               r.shared)
    t2 = time.perf_counter()
    return {"resolve_s": t1 - t0, "write_s": t2 - t1, "stats": r.stats}


def measured(fn: Callable[[], object]) -> tuple[float, object, float]:
    """(seconds, result, peak RSS added while running in bytes: VmHWM after a reset, minus
    the resident size before — the interpreter and libraries are not the step's)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    before = _rss("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out, (_rss("VmHWM") - before) * 2**30


def _rss(field: str) -> float:
    """GiB from /proc/self/status (Linux); ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset_peak() -> None:
    """Reset the peak-RSS mark so VmHWM reports the next run alone (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _write_inputs(path: Path, n_edges: int) -> tuple[int, int]:
    """Both nights' node and edge tables into the warehouse file (then gone from Python)."""
    nodes, edges = synth(n_edges)
    nodes2, edges2 = second_night(nodes, edges)
    nodes3, edges3 = second_night(nodes, edges, seed=3, added=0.001, withdrawn=0.001)
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA g")
    for name, t in (("nodes1", nodes), ("edges1", edges), ("nodes2", nodes2),
                    ("edges2", edges2), ("nodes3", nodes3), ("edges3", edges3)):
        con.register("t", t)
        con.execute(f"CREATE TABLE g.{name} AS SELECT * FROM t")
        con.unregister("t")
    con.close()
    return nodes.num_rows, edges.num_rows


def _part(seconds: float, peak: float, identifiers: int, base_s: float, out: dict) -> dict:
    return {"seconds": round(seconds, 2), "resolve_seconds": round(out["resolve_s"], 2),
            "write_state_seconds": round(out["write_s"], 2),
            "peak_added_gib": round(peak / 2**30, 2),
            "peak_bytes_per_identifier": round(peak / identifiers),
            "ratio_resolve_to_a": round(out["resolve_s"] / base_s, 2),
            "ratio_step_to_a": round(seconds / base_s, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--edges", type=int, default=200_000)
    p.add_argument("--cap", type=int, default=50, help="identity_max_component_size")
    p.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit of the step")
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    p.add_argument("--arrow", action="store_true", help="also run the Arrow path (before)")
    p.add_argument("--dir", default=None, help="where the warehouse files go (default: tmp)")
    p.add_argument("--share", type=float, default=0.3,
                   help="identity_incremental_max_share of the incremental nights")
    p.add_argument("--small-only", action="store_true",
                   help="second night: only the +0.1 %% / −0.1 %% change (not the +1 %% one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        identifiers, n_edges = _write_inputs(path, args.edges)
        gc.collect()
        pa.default_memory_pool().release_unused()
        paths = [("compact", path, compact_night)]
        if args.arrow:
            shutil.copy(path, Path(tmp) / "arrow.duckdb")
            paths.append(("arrow", Path(tmp) / "arrow.duckdb", arrow_night))
        report: dict = {"edges": n_edges, "identifiers": identifiers,
                        "duckdb_memory_limit": args.memory_limit, "threads": args.threads,
                        "cap": args.cap}
        def connect(db: Path) -> duckdb.DuckDBPyConnection:
            con = duckdb.connect(str(db))
            con.execute(f"SET memory_limit = '{args.memory_limit}'")
            con.execute(f"SET threads = {args.threads}")
            con.execute(f"SET temp_directory = '{tmp}/spill'")
            return con

        for name, db, night in paths:
            con = connect(db)
            if name == "compact":
                base_s, n_comp, base_peak = measured(partial(baseline_warehouse, con, "g.edges1"))
                report["a_baseline"] = {"seconds": round(base_s, 2), "components": n_comp,
                                        "peak_added_gib": round(base_peak / 2**30, 2),
                                        "peak_bytes_per_identifier": round(base_peak / identifiers)}
            s1, out1, peak1 = measured(partial(night, con, "g.nodes1", "g.edges1",
                                               date(2025, 1, 1), args.cap))
            con.close()
            if name == "compact":
                # (d) the second night from copies of night one's warehouse: +1 % / −0.01 %
                # and +0.1 % / −0.1 % edges, each in full and incrementally
                changes = [("2", "plus_1pct"), ("3", "plus_0_1pct")]
                for change, tag in changes[1:] if args.small_only else changes:
                    for mode, share in (("full", None), ("incremental", args.share)):
                        copy = Path(tmp) / f"{tag}_{mode}.duckdb"
                        shutil.copy(db, copy)
                        c = connect(copy)
                        s, out, peak = measured(partial(night, c, f"g.nodes{change}",
                                                        f"g.edges{change}", date(2025, 1, 2),
                                                        args.cap, share))
                        c.close()
                        copy.unlink()
                        report[f"second_night_{tag}_{mode}"] = {
                            **_part(s, peak, out["stats"]["identifiers"], base_s, out),
                            "mode": out["mode"],
                            **{k: out["stats"][k] for k in ("members", "new_members", "merges",
                                                             "splits")}}
                report["compact_first_night"] = _part(s1, peak1, identifiers, base_s, out1)
                continue
            con = connect(db)
            s2, out2, peak2 = measured(partial(night, con, "g.nodes2", "g.edges2",
                                               date(2025, 1, 2), args.cap))
            con.close()
            report[f"{name}_first_night"] = _part(s1, peak1, identifiers, base_s, out1)
            report[f"{name}_second_night"] = {
                **_part(s2, peak2, out2["stats"]["identifiers"], base_s, out2),
                **{k: out2["stats"][k] for k in ("members", "new_members", "kept_members",
                                                 "merges", "splits", "largest_cluster_size")}}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

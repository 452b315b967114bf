"""Identity stage speed: `resolve()` (edges → stable ids) vs bare SciPy connected components.

The baseline (a) is what any clustering of these edges needs anyway: map the endpoint strings
to integers (one pyarrow dictionary over both endpoint columns) and run
`scipy.sparse.csgraph.connected_components`. `resolve()` adds the node table, timestamps,
founding identifiers, previous-state matching (with each member's recorded founder),
merges/splits, id minting and the output tables. Goal: (b) first night and (c) second night each ≤ 2× (a), measured in the same run.
(a') times the same baseline with the strings mapped by a DuckDB join instead, for reference.

The synthetic graph is identity-shaped: many small components of 1–6 identifiers (singletons
only in the node table), 0.05 % chains of 10–40, hex ids of the real lengths (16 for cards, 28
for openid/unionid, 32 for ouid/external_userid, 64 for the mobile hash), 10 % of edges
repeated reversed, every table shuffled, strings as DuckDB hands them over. Night two adds 1 %
edges (90 % a new identifier joining an existing one, 9 % new pairs, 1 % links between
existing identifiers → merges) and drops 0.01 % of edges (→ splits); its previous state is
night one's output, shuffled.

    python benchmarks/bench_identity.py --edges 10000000
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
from collections.abc import Callable
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.lib.identity import ID_TYPES, IdentityResult, resolve

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


def second_night(nodes: pa.Table, edges: pa.Table, seed: int = 2) -> tuple[pa.Table, pa.Table]:
    """+1 % edges (90 % new → existing, 9 % new pairs, 1 % existing ↔ existing), −0.01 %."""
    rng = np.random.default_rng(seed)
    k = max(10, edges.num_rows // 100)
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
    keep[rng.integers(0, edges.num_rows, max(1, edges.num_rows // 10_000))] = False
    kept = edges.filter(pa.array(keep))
    return shuffled(rng, all_nodes), shuffled(rng, pa.concat_tables(
        [kept, added.cast(kept.schema)]))


def shuffled(rng: np.random.Generator, t: pa.Table) -> pa.Table:
    return t.take(pa.array(rng.permutation(t.num_rows))).combine_chunks()


def baseline(edges: pa.Table) -> int:
    """(a) Bare clustering: endpoint strings → integers (one dictionary) → SciPy components."""
    encoded = pc.dictionary_encode(pa.chunked_array(
        edges["left_value"].chunks + edges["right_value"].chunks))
    codes = np.concatenate([c.indices.to_numpy() for c in encoded.chunks])
    return _components(codes, len(encoded.chunk(0).dictionary), edges.num_rows)


def baseline_duckdb(edges: pa.Table) -> int:
    """(a') The same, the strings numbered by DuckDB (distinct values, then a join back)."""
    ends = pa.table({"v": pa.chunked_array(edges["left_value"].chunks
                                           + edges["right_value"].chunks)})
    ends = ends.append_column("row", pa.array(np.arange(ends.num_rows, dtype=np.int64)))
    con = duckdb.connect()
    con.register("ends", ends)
    res = con.sql("WITH ids AS (SELECT v, (row_number() OVER ()) - 1 AS id "
                  "FROM (SELECT DISTINCT v FROM ends)) "
                  "SELECT e.row, ids.id FROM ends e JOIN ids USING (v)").to_arrow_table()
    n = con.sql("SELECT count(DISTINCT v) FROM ends").fetchall()[0][0]
    con.close()
    codes = np.empty(ends.num_rows, dtype=np.int64)
    codes[res["row"].to_numpy()] = res["id"].to_numpy()
    return _components(codes, n, edges.num_rows)


def _components(codes: np.ndarray, n: int, m: int) -> int:
    graph = coo_matrix((np.ones(m, dtype=np.int8), (codes[:m], codes[m:])), shape=(n, n)).tocsr()
    n_comp, _ = connected_components(graph, directed=True, connection="weak")
    return int(n_comp)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object, dict[str, float]]:
    """Best of `repeat` runs, plus memory: resident before, and the peak while running."""
    best, out, before, peak = float("inf"), None, 0.0, 0.0
    for _ in range(repeat):
        out = None  # let the previous result go before measuring
        gc.collect()
        pa.default_memory_pool().release_unused()
        before = _rss("VmRSS")
        _reset_peak()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        peak = max(peak, _rss("VmHWM"))
    return best, out, {"rss_before_gib": round(before, 2), "peak_rss_gib": round(peak, 2),
                       "peak_added_gib": round(peak - before, 2)}


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--edges", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=1, help="best of N for every timing")
    args = p.parse_args()
    nodes, edges = synth(args.edges)
    nodes2, edges2 = second_night(nodes, edges)
    base_s, _, _ = timed(lambda: baseline(edges), args.repeat)
    base_duck_s, _, _ = timed(lambda: baseline_duckdb(edges), args.repeat)
    first_s, first, first_mem = timed(
        lambda: resolve(nodes, edges, None, None, as_of=date(2025, 1, 1)), args.repeat)
    assert isinstance(first, IdentityResult)
    rng = np.random.default_rng(3)
    state = shuffled(rng, first.assignments.select(["id_type", "id_value", "member_id",
                                                    "is_founder"]))
    members = shuffled(rng, first.members.select(["member_id", "first_seen_at"]))
    stats1 = first.stats
    del first
    second_s, second, second_mem = timed(
        lambda: resolve(nodes2, edges2, state, members, as_of=date(2025, 1, 2)), args.repeat)
    assert isinstance(second, IdentityResult)
    print(json.dumps({
        "edges": edges.num_rows, "identifiers": stats1["identifiers"],
        "members": stats1["members"], "night2_edges": edges2.num_rows,
        "night2": {k: second.stats[k] for k in ("members", "new_members", "kept_members",
                                                 "merges", "splits", "largest_cluster_size")},
        "a_baseline_seconds": round(base_s, 2),
        "a_duckdb_baseline_seconds": round(base_duck_s, 2),
        "b_first_night_seconds": round(first_s, 2),
        "c_second_night_seconds": round(second_s, 2),
        "ratio_b_to_a": round(first_s / base_s, 2),
        "ratio_c_to_a": round(second_s / base_s, 2),
        "ratio_b_to_a_duckdb": round(first_s / base_duck_s, 2),
        "ratio_c_to_a_duckdb": round(second_s / base_duck_s, 2),
        "input_gib": round((nodes.nbytes + edges.nbytes) / 2**30, 2),
        "first_night_memory": first_mem,
        "second_night_memory": second_mem,
    }, indent=2))


if __name__ == "__main__":
    main()

"""Identity stage speed: `resolve()` (edges → stable ids) vs bare SciPy connected components.

The baseline is what any clustering needs anyway: encode the string identifiers to integers
(pandas factorize) and run `scipy.sparse.csgraph.connected_components`. Siyu's stage adds node
bookkeeping, founding identifiers, previous-state matching, merges/splits and id minting.
Goal: first night ≤ 2× the baseline.

    python benchmarks/bench_identity.py --edges 10000000
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.lib.identity import resolve

TYPES = np.array(["pos_card", "tmall_ouid", "mp_openid", "wecom_external_userid"])
HUBS = np.array(["mobile_sha256", "wechat_unionid"])


def synth(n_edges: int, seed: int = 1) -> tuple[pa.Table, pa.Table]:
    """Identity-shaped graph: persons with 1–3 accounts around 1–2 hubs, some chains."""
    rng = np.random.default_rng(seed)
    persons = n_edges // 2
    per = rng.choice([1, 2, 3, 4], size=persons, p=[0.45, 0.3, 0.15, 0.1])
    per = per[np.cumsum(per) <= n_edges]
    owner = np.repeat(np.arange(len(per)), per)
    m = len(owner)
    hub_kind = rng.integers(0, 2, m)
    hub = np.where(hub_kind == 0, owner * 2, owner * 2 + 1)
    left_type = TYPES[rng.integers(0, 4, m)]
    left_value = pd.Series(rng.integers(0, 2**62, m)).map("{:016x}".format).to_numpy()
    right_value = pd.Series(hub).map(lambda h: f"{h:064x}").to_numpy()
    t0 = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 365 * 86400, m).astype("timedelta64[s]")
    edges = pa.table({"left_type": left_type, "left_value": left_value,
                      "right_type": HUBS[hub_kind], "right_value": right_value,
                      "source": np.full(m, "bench"), "first_seen_at": t0, "last_seen_at": t0})
    nodes = pa.table({"id_type": left_type, "id_value": left_value,
                      "first_seen_at": t0, "last_seen_at": t0})
    return nodes, edges


def baseline(edges: pa.Table) -> float:
    t0 = time.perf_counter()
    left = pd.Series(edges.column("left_type").to_numpy(zero_copy_only=False)) + ":" + \
        pd.Series(edges.column("left_value").to_numpy(zero_copy_only=False))
    right = pd.Series(edges.column("right_type").to_numpy(zero_copy_only=False)) + ":" + \
        pd.Series(edges.column("right_value").to_numpy(zero_copy_only=False))
    codes, uniques = pd.factorize(pd.concat([left, right], ignore_index=True))
    n = len(uniques)
    a, b = codes[: len(left)], codes[len(left):]
    g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    connected_components(g, directed=True, connection="weak")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--edges", type=int, default=10_000_000)
    args = p.parse_args()
    nodes, edges = synth(args.edges)
    base = baseline(edges)
    t0 = time.perf_counter()
    first = resolve(nodes, edges, None, None, as_of=date(2025, 1, 1))
    first_s = time.perf_counter() - t0
    # second night: 1 % new edges joining existing hubs, previous state from night one
    k = max(1, edges.num_rows // 100)
    extra = edges.slice(0, k).to_pandas()
    extra["left_value"] = extra["left_value"] + "n"
    extra["first_seen_at"] = datetime(2025, 1, 2)
    edges2 = pa.concat_tables([edges, pa.Table.from_pandas(extra, preserve_index=False,
                                                           schema=edges.schema)])
    t0 = time.perf_counter()
    second = resolve(nodes, edges2, first.assignments.select(["id_type", "id_value", "member_id"]),
                     first.members.select(["member_id", "first_seen_at"]), as_of=date(2025, 1, 2))
    second_s = time.perf_counter() - t0
    print(json.dumps({
        "edges": edges.num_rows, "identifiers": first.stats["identifiers"],
        "members": first.stats["members"],
        "scipy_baseline_seconds": round(base, 2),
        "resolve_first_night_seconds": round(first_s, 2),
        "resolve_second_night_seconds": round(second_s, 2),
        "ratio_first_night_to_baseline": round(first_s / base, 2),
        "ratio_second_night_to_baseline": round(second_s / base, 2),
        "second_night_kept_ids": second.stats["kept_members"],
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }, indent=2))


if __name__ == "__main__":
    main()

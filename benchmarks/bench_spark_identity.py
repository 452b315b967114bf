"""OneID on local Spark (`resolve_spark`, no driver collect) vs the DuckDB/NumPy path, same graph.

The graph is `bench_identity.py`'s identity-shaped synthetic graph (components of 1–6
identifiers, a few chains of 10–40, real id lengths; night two adds 1 % edges and drops
0.01 %), sized to `--identifiers`. Both nights run on both paths:

* DuckDB path: `resolve()` in this process on the Arrow tables (seconds, peak RSS added);
* Spark path: the tables are written as Parquet first (as dbt leaves them on a cluster) and read
  by a local Spark Connect server (`local[2]`, `--driver-memory`), then `resolve_spark`, whose
  outputs are checkpointed (computed) when it returns: seconds, component rounds, the peak RSS
  of the Spark driver JVM (in local mode it runs the executors too) and of this client process.

Afterwards (not timed) both nights' assignments, members, merges and splits are compared:
identical rows on both paths, or the script fails.

    python benchmarks/bench_spark_identity.py --identifiers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bench_identity import _reset_peak, _rss, second_night, synth
from pipelines.lib.identity import resolve
from pipelines.lib.platform.engines import naive_timestamps

#: identifiers per edge in `synth` (measured: 889,009 identifiers for 613,496 edges)
IDS_PER_EDGE = 1.45


def _jvm_pid(port: str) -> int | None:
    """The local Connect server's JVM: the java process whose command line holds its port."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"java") and \
                f"spark.connect.grpc.binding.port={port}".encode() in cmd:
            return int(pid)
    return None


def _proc_gib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 2**20, 2)
    return float("nan")


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([(c, "ascending") for c in t.column_names])


def _same(py, sp) -> dict[str, bool]:
    out = {}
    for name in ("assignments", "members", "merges", "splits"):
        want = getattr(py, name)
        got = naive_timestamps(getattr(sp, name).toArrow()).select(want.schema.names) \
            .cast(want.schema)
        out[name] = _sorted(got).equals(_sorted(want))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identifiers", type=int, default=100_000)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    nodes, edges = synth(int(args.identifiers / IDS_PER_EDGE))
    nodes2, edges2 = second_night(nodes, edges)
    d1, d2 = date(2025, 1, 1), date(2025, 1, 2)

    # -- DuckDB / NumPy path, in this process
    _reset_peak()
    before = _rss("VmRSS")
    t0 = time.perf_counter()
    py1 = resolve(nodes, edges, None, None, as_of=d1)
    duck1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    py2 = resolve(nodes2, edges2, py1.assignments, py1.members, as_of=d2,
                  retired_ids=py1.merges["old_member_id"])
    duck2 = time.perf_counter() - t0
    duck_peak = _rss("VmHWM") - before

    from pipelines.lib.identity.spark_resolve import resolve_spark
    from pipelines.lib.platform.spark import connect, local_connect_server

    with tempfile.TemporaryDirectory(prefix="bench-spark-identity-") as tmp:
        tmp_path = Path(tmp)
        for name, t in (("nodes1", nodes), ("edges1", edges), ("nodes2", nodes2),
                        ("edges2", edges2)):
            pq.write_table(t, tmp_path / f"{name}.parquet")
        t0 = time.perf_counter()
        with local_connect_server(tmp_path / "lake", master=args.master,
                                  driver_memory=args.driver_memory) as url:
            start_s = time.perf_counter() - t0
            jvm = _jvm_pid(url.rsplit(":", 1)[1])
            spark = connect(url)
            _reset_peak()
            client_before = _rss("VmRSS")
            read = spark.read.parquet
            t0 = time.perf_counter()
            sp1 = resolve_spark(read(str(tmp_path / "nodes1.parquet")),
                                read(str(tmp_path / "edges1.parquet")), as_of=d1)
            spark1 = time.perf_counter() - t0
            t0 = time.perf_counter()
            sp2 = resolve_spark(read(str(tmp_path / "nodes2.parquet")),
                                read(str(tmp_path / "edges2.parquet")), sp1.assignments,
                                sp1.members, as_of=d2, retired_ids=sp1.merges)
            spark2 = time.perf_counter() - t0
            client_peak = _rss("VmHWM") - client_before
            jvm_peak = _proc_gib(jvm, "VmHWM") if jvm else None
            same = {"night1": _same(py1, sp1), "night2": _same(py2, sp2)}
            spark.stop()
    report = {
        "identifiers": py1.stats["identifiers"], "edges": edges.num_rows,
        "members": py1.stats["members"], "night2_edges": edges2.num_rows,
        "night2": {k: py2.stats[k] for k in ("members", "merges", "splits")},
        "duckdb_night1_seconds": round(duck1, 1), "duckdb_night2_seconds": round(duck2, 1),
        "duckdb_peak_rss_added_gib": round(duck_peak, 2),
        "spark_master": args.master, "spark_driver_memory": args.driver_memory,
        "spark_server_start_seconds": round(start_s, 1),
        "spark_night1_seconds": round(spark1, 1), "spark_night2_seconds": round(spark2, 1),
        "spark_night1_component_rounds": sp1.stats["component_rounds"],
        "spark_night2_component_rounds": sp2.stats["component_rounds"],
        "spark_driver_jvm_peak_rss_gib": jvm_peak,
        "spark_client_peak_rss_added_gib": round(client_peak, 2),
        "identical_outputs": same,
    }
    print(json.dumps(report, indent=2))
    if not all(all(v.values()) for v in same.values()):
        raise SystemExit("Spark and DuckDB outputs differ")


if __name__ == "__main__":
    main()

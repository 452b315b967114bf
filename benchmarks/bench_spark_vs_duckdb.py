"""Build times of one small landing zone on the DuckDB and the local Spark target.

Generates a zone (`siyu generate`), then times `siyu run` end to end (ingestion, dbt, OneID,
CLV, dbt LTV marts) on each target in a fresh warehouse. Spark runs against one local Spark
Connect server started beforehand (its start is timed separately, as a cluster would already
be running). By default dbt's data tests run on both targets; `--skip-spark-tests` leaves them
out of the Spark run (what the equivalence test does). Prints seconds and the Spark/DuckDB ratio.

    python benchmarks/bench_spark_vs_duckdb.py --members 300 --days 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _siyu(*args: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"siyu {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-spark-tests", action="store_true",
                    help="leave dbt data tests out of the Spark run")
    args = ap.parse_args()
    from pipelines.lib.platform.spark import local_connect_server

    with tempfile.TemporaryDirectory(prefix="siyu-bench-spark-") as tmp_name:
        tmp = Path(tmp_name)
        zone = tmp / "zone"
        _siyu("generate", "--out", str(zone), "--members", str(args.members),
              "--days", str(args.days), "--seed", str(args.seed), env={})
        duck = _siyu("run", env={"SIYU_DATA_DIR": str(zone), "SIYU_DBT_TARGET": "duckdb",
                                 "SIYU_WAREHOUSE": str(tmp / "duck" / "siyu.duckdb"),
                                 "DAGSTER_HOME": str(tmp / "duck" / "home")})
        started = time.perf_counter()
        with local_connect_server(tmp / "lake") as url:
            server_start = time.perf_counter() - started
            env = {"SIYU_DATA_DIR": str(zone), "SIYU_DBT_TARGET": "spark",
                   "SIYU_LAKE_DIR": str(tmp / "lake"), "SPARK_REMOTE": url,
                   "SIYU_WAREHOUSE": str(tmp / "spark" / "unused.duckdb"),
                   "DAGSTER_HOME": str(tmp / "spark" / "home")}
            if args.skip_spark_tests:
                env["DBT_EXCLUDE_RESOURCE_TYPES"] = "test"
            spark = _siyu("run", env=env)
    print(json.dumps({
        "members": args.members, "days": args.days, "cores": os.cpu_count(),
        "duckdb_run_s": round(duck, 1),
        "spark_server_start_s": round(server_start, 1),
        "spark_run_s": round(spark, 1),
        "spark_dbt_tests": not args.skip_spark_tests,
        "spark_over_duckdb": round(spark / duck, 2),
    }, indent=2))


if __name__ == "__main__":
    main()

"""The Spark target's engine: a Spark Connect endpoint shared by dbt and the Python steps.

dbt's `method: session` and the identity/LTV assets run in different processes (dagster-dbt
starts dbt as a subprocess). A local Spark with its embedded Derby metastore admits one JVM at a
time, so each process starting its own Spark would lock the others out of the catalog. Instead
every client talks to ONE Spark Connect server: dbt-spark's `SparkSession.builder.getOrCreate()`
becomes a Connect client when `SPARK_REMOTE` is set, and so does ours.

* `SPARK_REMOTE` set (e.g. `sc://spark-connect.example:15002` on a cluster): use it as is.
* unset: `LocalConnectServer` starts a local server for the duration of a run (the Dagster
  warehouse resource does this) with its metastore and warehouse under the lake folder, and
  stops it afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Seconds to wait for a local server to accept connections (JVM start is ~8 s here).
START_TIMEOUT_S = 180
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def spark_conf(lake_dir: Path) -> dict[str, str]:
    """Server settings for a local Spark: catalog and tables under the lake folder.

    * Hive catalog in `<lake>/_metastore` (Derby), managed tables in `<lake>/_warehouse`.
    * UTC session time zone: raw timestamps are naive wall-clock times; with UTC, Spark's
      TIMESTAMP behaves like DuckDB's naive TIMESTAMP (no shift on read or write). The lake's
      naive Parquet timestamps are read as that TIMESTAMP, not TIMESTAMP_NTZ, so they match
      the contracts' `timestamp` (`dbt.type_timestamp()`).
    * Partitions of lake tables are discovered from the folders at query time instead of
      being tracked in the metastore, so a newly landed `_dt=` day needs only `REFRESH TABLE`.
    * Generated code is reused: Spark compiles each query's generated Java with Janino and
      caches the classes by source text, but only 100 of them by default, and the class name
      carries the codegen stage id, so identical stages of different queries missed the cache.
      A night repeats the same shapes (dbt models, OneID's rounds and nights), so with 2,000
      entries and id-free class names the OneID test compiles ≈ 580 classes instead of
      ≈ 2,440 (≈ 13 s instead of ≈ 43 s of compiling on 2 cores).
    * The parallel (throughput) garbage collector: a local server runs batch queries, where
      G1's concurrent threads and barriers cost CPU the queries need on a small machine.
    """
    lake_dir = lake_dir.resolve()
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(lake_dir / "_warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={lake_dir / '_metastore'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={lake_dir} -XX:+UseParallelGC",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
        "spark.sql.hive.manageFilesourcePartitions": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.codegen.cache.maxEntries": "2000",
        "spark.sql.codegen.useIdInClassName": "false",
        "spark.ui.enabled": "false",
    }


def _pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


#: The warm-up's query: catalog (Hive metastore client over Derby, created on first use) and
#: a first plan with an aggregate, a join and a window (loads and JIT-compiles the planner).
WARM_UP_SQL = ("SELECT k, count(*) AS c, max(v) OVER (PARTITION BY k % 2) AS w "
               "FROM (SELECT id % 7 AS k, id AS v FROM range(100)) a "
               "JOIN (SELECT id FROM range(7)) b ON a.k = b.id GROUP BY k, v")


def _warm_up(url: str) -> None:
    """Pay a new server's first-use costs: open the catalog and plan a first query.

    On a fresh local server the first catalog access creates the Derby metastore and starts
    Hive's client (≈ 7 s on 2 cores) and the first query loads the planner's classes (≈ 8 s);
    done in a thread while the run ingests (which needs no Spark), they are off the critical
    path. Its own session (not the process's default one), released at the end. Failures are
    ignored: the first real query pays the same costs and reports any problem.
    """
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        session = ConnectSession(connection=url)
        try:
            session.sql("SHOW DATABASES").collect()
            session.sql(WARM_UP_SQL).collect()
        finally:
            session.stop()
    except Exception:  # best effort: the real queries pay the same costs and report errors
        pass


#: Seconds the end of the block waits for an unfinished warm-up before stopping the server.
WARM_UP_JOIN_S = 60


@contextmanager
def local_connect_server(lake_dir: Path, master: str = "local[2]",
                         driver_memory: str = "4g", warm_up: bool = True) -> Iterator[str]:
    """Run a Spark Connect server on loopback for the duration of the block; yields its URL.

    The server is our child process (its own process group) and is stopped on exit; its log
    is `<lake>/_logs/connect-server.log`. `warm_up`: open the catalog and plan a first query
    in a background thread as soon as the server listens (`_warm_up`).
    """
    lake_dir.mkdir(parents=True, exist_ok=True)
    logs = lake_dir / "_logs"
    logs.mkdir(exist_ok=True)
    port = _free_port()
    home = _pyspark_home()
    cmd = [str(home / "bin" / "spark-submit"), "--master", master, "--class", SERVER_CLASS,
           "--driver-memory", driver_memory,
           "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
           "--conf", f"spark.connect.grpc.binding.port={port}"]
    for key, value in spark_conf(lake_dir).items():
        cmd += ["--conf", f"{key}={value}"]
    cmd.append("spark-internal")
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE")}
    env.setdefault("SPARK_HOME", str(home))
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with open(logs / "connect-server.log", "ab") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=lake_dir, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    warming: threading.Thread | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(port):
            if proc.poll() is not None:
                raise RuntimeError(f"Spark Connect server exited ({proc.returncode}); "
                                   f"see {logs / 'connect-server.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Spark Connect server did not listen within {START_TIMEOUT_S} s")
            time.sleep(0.3)
        url = f"sc://127.0.0.1:{port}"
        if warm_up:
            warming = threading.Thread(target=_warm_up, args=(url,), name="spark-warm-up",
                                       daemon=True)
            warming.start()
        yield url
    finally:
        if warming is not None:
            warming.join(timeout=WARM_UP_JOIN_S)
        _stop(proc)


#: Seconds a stopping server gets before SIGKILL. Its shutdown hook normally takes < 1 s; now
#: and then (seen in the test suite) the JVM ignores SIGTERM and a 30 s grace was all waiting.
STOP_GRACE_S = 10


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (spark-submit's JVM), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def connect(url: str | None = None):
    """A Spark Connect session to `url` (default: `SPARK_REMOTE`)."""
    from pyspark.sql import SparkSession

    url = url or os.environ.get("SPARK_REMOTE")
    if not url:
        raise RuntimeError("no Spark endpoint: set SPARK_REMOTE (sc://host:port) or run "
                           "inside a Siyu run, which starts a local Spark Connect server")
    return SparkSession.builder.remote(url).getOrCreate()

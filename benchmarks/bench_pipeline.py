"""The whole nightly pipeline: full build, one more night on top, memory and Dagster overhead.

Runs `siyu run` as a user would (a subprocess, one Dagster run), twice on one fresh
warehouse:

1. the full build: every landed business day except the last;
2. the nightly run: only the last day, on top of (1).

and prints, measured in this one invocation:

* wall time of each, and nightly / full (goal ≤ 5 %) and full / 600 s (goal ≤ 1);
* peak RSS of the largest process (Dagster, a dbt subprocess, ...) / 8 GiB (goal ≤ 1);
* Dagster overhead of each run: process wall time minus the sum of the steps' own durations
  (from the run's event log), as a share of the wall time;
* the warehouse file size after each run (write settings trade speed for size);
* the serving publish of each run (the `serving__postgres` step: copy into the serving
  PostgreSQL and swap; goal ≤ 30 s) and the nightly run against 150 s, on a serving server of
  its own under the work folder (stopped at the end);
* the slowest steps, which is where to look next.

    python benchmarks/bench_pipeline.py --data-dir DIR [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from pipelines.lib.ingest.loader import landed_days
from pipelines.lib.ingest.specs import ENTITY_SPECS

GIB = 1024**3


def landed_range(data_dir: Path) -> tuple[date, date]:
    days = sorted({d for spec in ENTITY_SPECS for d in landed_days(data_dir / "landing", spec)})
    if len(days) < 2:
        raise SystemExit(f"{data_dir}: need at least two landed business days")
    return days[0], days[-1]


def step_durations(dagster_home: Path) -> tuple[dict[str, float], float, dict[str, float]]:
    """Per-step seconds of the latest run, the run's own duration (start → end event) and
    the seconds dbt reported for each model and test (`Execution Duration`)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        starts: dict[str, float] = {}
        steps: dict[str, float] = {}
        dbt_nodes: dict[str, float] = {}
        first = last = None
        for rec in instance.all_logs(run.run_id):
            ts = rec.timestamp
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
            ev = rec.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
                data = ev.event_specific_data
                meta = getattr(getattr(data, "materialization", None), "metadata", None) \
                    or getattr(data, "metadata", None) or {}
                if "Execution Duration" in meta:
                    key = (data.materialization.asset_key.to_user_string()
                           if hasattr(data, "materialization")
                           else f"{data.asset_key.to_user_string()}:{data.check_name}")
                    dbt_nodes[key] = float(meta["Execution Duration"].value)
            if ev.event_type_value == "STEP_START":
                starts[ev.step_key] = ts
            elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in starts:
                steps[ev.step_key] = ts - starts[ev.step_key]
    return steps, (last - first) if first is not None else 0.0, dbt_nodes


def run(env: dict[str, str], start: date, end: date
        ) -> tuple[float, dict[str, float], float, dict[str, float]]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--start", str(start),
                           "--end", str(end)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"siyu run {start}..{end} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    steps, run_span, dbt_nodes = step_durations(Path(env["DAGSTER_HOME"]))
    return wall, steps, run_span, dbt_nodes


def _top(d: dict[str, float], n: int) -> dict[str, float]:
    return dict(sorted(((k, round(v, 1)) for k, v in d.items()), key=lambda kv: -kv[1])[:n])


def incremental_models() -> list[str]:
    """The asset keys (`schema/name`) of the models dbt builds incrementally on this target."""
    from pipelines.lib.platform.dbt_manifest import ensure_manifest
    from pipelines.settings import DBT_PROJECT_DIR, load_settings

    manifest = json.loads(ensure_manifest(DBT_PROJECT_DIR, load_settings().dbt_target).read_text())
    return sorted(f"{n['config']['schema']}/{n.get('alias') or n['name']}"
                  for n in manifest["nodes"].values()
                  if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    first, last = landed_range(args.data_dir)
    env = {**os.environ, "SIYU_DATA_DIR": str(args.data_dir),
           "SIYU_WAREHOUSE": str(work / "warehouse" / "siyu.duckdb"),
           "SIYU_EXPORT_DIR": str(work / "export"), "DAGSTER_HOME": str(work / "dagster_home"),
           "SIYU_SERVING_DIR": str(work / "serving"), "SIYU_SERVING_PORT": str(free_port())}
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)

    prev_day = date.fromordinal(last.toordinal() - 1)
    full_wall, full_steps, _, full_nodes = run(env, first, prev_day)
    full_file = Path(env["SIYU_WAREHOUSE"]).stat().st_size
    nightly_wall, nightly_steps, _, nightly_nodes = run(env, last, last)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    subprocess.run([sys.executable, "-m", "pipelines.cli", "serving", "stop"], env=env,
                   capture_output=True, check=False)

    def overhead(wall: float, steps: dict[str, float]) -> float:
        return wall - sum(steps.values())

    result = {
        "days_full": (prev_day - first).days + 1,
        "full_s": round(full_wall, 1), "nightly_s": round(nightly_wall, 1),
        "ratio_nightly_to_full": round(nightly_wall / full_wall, 4),
        "ratio_full_to_600s_goal": round(full_wall / 600, 3),
        "ratio_nightly_to_90s_goal": round(nightly_wall / 90, 3),
        "ratio_nightly_to_150s_goal": round(nightly_wall / 150, 3),
        "serving_publish_full_s": round(full_steps.get("serving__postgres", float("nan")), 1),
        "serving_publish_nightly_s": round(nightly_steps.get("serving__postgres", float("nan")), 1),
        "ratio_publish_to_30s_goal": round(nightly_steps.get("serving__postgres", float("nan")) / 30, 3),
        "warehouse_file_gib_full": round(full_file / GIB, 2),
        "warehouse_file_gib_nightly": round(Path(env["SIYU_WAREHOUSE"]).stat().st_size / GIB, 2),
        "peak_rss_gib": round(peak / GIB, 2), "ratio_peak_to_8gib_goal": round(peak / (8 * GIB), 3),
        "dagster_overhead_full_s": round(overhead(full_wall, full_steps), 1),
        "dagster_overhead_full_share": round(overhead(full_wall, full_steps) / full_wall, 3),
        "dagster_overhead_nightly_s": round(overhead(nightly_wall, nightly_steps), 1),
        "dagster_overhead_nightly_share": round(overhead(nightly_wall, nightly_steps) / nightly_wall, 3),
        "slowest_steps_full": dict(sorted(((k, round(v, 1)) for k, v in full_steps.items()),
                                          key=lambda kv: -kv[1])[:8]),
        "slowest_steps_nightly": dict(sorted(((k, round(v, 1)) for k, v in nightly_steps.items()),
                                             key=lambda kv: -kv[1])[:8]),
        "slowest_dbt_nodes_full": _top(full_nodes, 12),
        "slowest_dbt_nodes_nightly": _top(nightly_nodes, 12),
        # each incremental model's own time built in full (the full build) and as tonight's
        # increment: what the increment saves a night (issue 21: a mechanism stays where it
        # saves ≥ 10 s a night or gives a correctness a standard feature cannot)
        "incremental_models_full_vs_nightly": {
            m: [round(full_nodes.get(m, float("nan")), 1), round(nightly_nodes.get(m, float("nan")), 1)]
            for m in incremental_models()},
        "dbt_node_seconds_full": round(sum(full_nodes.values()), 1),
        "dbt_node_seconds_nightly": round(sum(nightly_nodes.values()), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

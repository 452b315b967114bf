"""Dagster's SQLite event log vs. Siyu's (one engine kept per database), in one run.

Stores the same events — asset materialisations with Markdown metadata and asset-check
evaluations, the two kinds a `siyu run` writes most — into a fresh folder with each storage,
alternating, and prints the CPU seconds and the ratio.

    python benchmarks/bench_event_log.py --events 600 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

import dagster as dg
from dagster._core.events import (
    AssetCheckEvaluation,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.lib.dagster_storage import SiyuSqliteEventLogStorage


def _events(n: int, run_id: str) -> list[EventLogEntry]:
    out = []
    for i in range(n):
        key = dg.AssetKey(["marts", f"mart_{i % 60}"])
        if i % 2:
            data = AssetCheckEvaluation(asset_key=key, check_name=f"check_{i % 7}", passed=True,
                                        metadata={"rows": dg.MetadataValue.int(i)})
            kind = DagsterEventType.ASSET_CHECK_EVALUATION
        else:
            data = StepMaterializationData(dg.AssetMaterialization(
                asset_key=key, metadata={"dagster/row_count": i,
                                         "profile": dg.MetadataValue.md("| a | b |\n|---|---|\n| 1 | 2 |")}))
            kind = DagsterEventType.ASSET_MATERIALIZATION
        event = DagsterEvent(kind.value, "siyu_all", event_specific_data=data)
        out.append(EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id,
                                 timestamp=time.time(), dagster_event=event))
    return out


def _store(cls: type[SqliteEventLogStorage], n: int) -> float:
    folder = tempfile.mkdtemp(prefix="siyu-evlog-")
    try:
        storage = cls(folder)
        events = _events(n, "bench-run")
        start = time.process_time()
        for e in events:
            storage.store_event(e)
        spent = time.process_time() - start
        storage.dispose()
        return spent
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    dagster_s, siyu_s = 0.0, 0.0
    for _ in range(a.rounds):
        dagster_s += _store(SqliteEventLogStorage, a.events)
        siyu_s += _store(SiyuSqliteEventLogStorage, a.events)
    print(json.dumps({"events": a.events * a.rounds, "dagster_cpu_s": round(dagster_s, 2),
                      "siyu_cpu_s": round(siyu_s, 2),
                      "ratio_siyu_to_dagster": round(siyu_s / dagster_s, 3)}, indent=2))


if __name__ == "__main__":
    main()

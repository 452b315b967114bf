"""Helpers for tests that run `siyu` as a separate process and interrupt it for real."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def env_for(data_dir: Path, warehouse: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "SIYU_DATA_DIR": str(data_dir), "SIYU_WAREHOUSE": str(warehouse),
            "DAGSTER_HOME": str(home), "SIYU_REPORTS_DIR": str(warehouse.parent / "reports")}


def siyu(*args: str, data_dir: Path, warehouse: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT,
                          env=env_for(data_dir, warehouse, home), capture_output=True, text=True,
                          timeout=900)


def start_siyu(*args: str, data_dir: Path, warehouse: Path, home: Path) -> subprocess.Popen:
    """`siyu …` in its own process group, so SIGKILL reaches dbt children too."""
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT,
                            env=env_for(data_dir, warehouse, home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    cmd: dict[int, str] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            parents[int(p.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            cmd[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    out, frontier = [], [pid]
    while frontier:
        cur = frontier.pop()
        for child, parent in parents.items():
            if parent == cur:
                out.append((child, cmd.get(child, "")))
                frontier.append(child)
    return out


def materialized(home: Path) -> list[str]:
    """Asset keys materialised so far by the (single) run recorded under `home`."""
    keys: list[str] = []
    for db in (home / "history" / "runs").glob("*-*.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
                keys += [r[0] for r in con.execute(
                    "SELECT asset_key FROM event_logs "
                    "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'").fetchall()]
        except sqlite3.Error:
            continue
    return keys


def kill_when(proc: subprocess.Popen, condition, timeout: float = 600) -> bool:
    """SIGKILL `proc`'s whole process group as soon as `condition()` holds.

    Returns False when the process ended first (the interruption did not happen).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise TimeoutError("condition never held")


class BIReaders:
    """Two BI readers (role siyu_bi, autocommit single statements, as BI tools send them)
    querying the served order total in a loop until stopped."""

    def __init__(self, url: str):
        self.url, self.sums, self.errors, self._stop = url, [], [], threading.Event()
        self.threads = [threading.Thread(target=self._loop) for _ in range(2)]

    def _loop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as pg:
            while not self._stop.is_set():
                try:
                    self.sums.append(pg.execute("SELECT sum(net_amount) FROM bi.orders"
                                                ).fetchall()[0][0])
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                time.sleep(0.01)

    def __enter__(self) -> BIReaders:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self.threads:
            t.join()

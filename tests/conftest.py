"""Shared fixtures: a hand-made landing zone, a loaded warehouse, and ONE `siyu run` of the
hand-made zone (`built`) shared by the end-to-end `siyu run` tests and the serving and browser
tests (exports, DuckDB 1.x readers, the BI build and the Dagster UI read the same result).

Under pytest-xdist (`make test`: `--dist loadfile`) a module never splits across workers, so
its module-scoped fixtures are built once. `built` is built ONCE per test session: the first
worker that needs it runs `siyu run` under a file lock in the session's shared temp folder,
the others wait and read the same result (the pytest-xdist pattern for session data). Its
readers never write to it; a test that changes a hand-made run (faults, privacy) works on a
private copy (`copy_built`), which costs a file copy instead of a ≈ 70 s run.
(`--dist loadgroup` with `xdist_group` marks would pin the readers of `built` to one worker,
but with pytest 9.2.0 / pytest-xdist 3.8.0 it did not group anything — measured.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest

from tests.fixtures.handmade import write_handmade

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
INGESTED_AT = dt.datetime(2024, 1, 1)
#: The names' hash key of tests that call the loader directly (a `siyu run` makes its own
#: key file beside its warehouse, pipelines/lib/privacy/keys.py).
NAME_KEY = "test-name-key-0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]


def examples(n: int) -> int:
    """A Hypothesis example count: `n` (what `make test` runs), or a fifth of it, at least 3,
    under `make test-fast` (HYPOTHESIS_PROFILE=fast), the loop that must stay under two
    minutes. The counts are written beside each test because they differ by cost (a phone
    spelling is microseconds, a generated landing file through the loader ≈ 0.3 s); a
    Hypothesis profile's max_examples would be overridden by them."""
    return max(3, n // 5) if os.environ.get("HYPOTHESIS_PROFILE") == "fast" else n


hypothesis.settings.register_profile("fast", max_examples=examples(100))
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _isolate_serving() -> None:
    """Every pytest process (each xdist worker) publishes to its own serving PostgreSQL —
    a folder of its own, a free port — never to the developer's `data/serving` server; the
    `siyu run` subprocesses inherit it. Stopped at the end of the session (below). The folder
    is made with `tempfile.mkdtemp`: pytest's own temp root is not traversable by the server's
    system user when the tests run as root (pipelines/lib/serving/server.py)."""
    who = os.environ.get("PYTEST_XDIST_WORKER", "main")
    # xdist workers inherit the controller's environment: isolate per process, not once
    if os.environ.get("SIYU_SERVING_URL") or os.environ.get("SIYU_TEST_SERVING_FOR") == who:
        return
    root = Path(tempfile.mkdtemp(prefix="siyu-test-serving-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update({"SIYU_SERVING_DIR": str(root / "serving"),
                       "SIYU_SERVING_PORT": str(port), "SIYU_TEST_SERVING_DIR": str(root),
                       "SIYU_TEST_SERVING_FOR": who})


_isolate_serving()


def pytest_sessionfinish(session, exitstatus):
    """Stop this process's serving PostgreSQL (a daemon: it would outlive the tests)."""
    root = os.environ.get("SIYU_TEST_SERVING_DIR")
    if not root or not (Path(root) / "serving" / "pgdata").exists():
        return
    from pipelines.lib.serving import stop

    stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Built:
    zone: Path
    warehouse: Path
    dagster_home: Path
    run_stdout: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SIYU_DATA_DIR": str(self.zone),
                "SIYU_WAREHOUSE": str(self.warehouse), "DAGSTER_HOME": str(self.dagster_home),
                "DAGSTER_DISABLE_TELEMETRY": "1"}


@pytest.fixture(scope="session")
def built(tmp_path_factory, worker_id) -> Built:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != "master" else base  # all workers' common folder
    b = Built(shared / "built" / "zone", shared / "built" / "wh" / "siyu.duckdb",
              shared / "built" / "home")
    done = shared / "built" / "run_stdout.txt"
    with open(shared / "built.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the worker dies)
        if not done.exists():
            shutil.rmtree(shared / "built", ignore_errors=True)  # a half-built earlier attempt
            write_handmade(b.zone)
            run = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=ROOT,
                                 env=b.env, capture_output=True, text=True, timeout=900)
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
            done.write_text(run.stdout, encoding="utf-8")
    return dataclasses.replace(b, run_stdout=done.read_text(encoding="utf-8"))


def copy_built(built: Built, dest: Path) -> Built:
    """A private copy of the shared hand-made run — landing zone, warehouse folder (with its
    dbt target and export) and Dagster home — for a test that changes it: the same state as a
    fresh `siyu run` of the hand-made zone."""
    shutil.copytree(built.zone, dest / "zone")
    shutil.copytree(built.warehouse.parent, dest / "wh")
    shutil.copytree(built.dagster_home, dest / "home")
    return Built(dest / "zone", dest / "wh" / built.warehouse.name, dest / "home",
                 built.run_stdout)


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    return write_handmade(tmp_path / "zone")


def load_all(root: Path, warehouse: Path, dts=None, ingested_at=None):
    from pipelines.lib.ingest.loader import load_entity
    from pipelines.lib.ingest.sinks import DuckDBSink
    from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS
    from pipelines.lib.platform.warehouse import connect

    results = {}
    with connect(warehouse) as con:
        for spec in ENTITY_SPECS + REFERENCE_SPECS:
            results[spec.name] = load_entity(spec, root, dts, DuckDBSink(con),
                                             ingested_at or INGESTED_AT, name_key=NAME_KEY)
    return results

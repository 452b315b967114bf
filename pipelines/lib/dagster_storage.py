"""Dagster's SQLite event log, without a new SQLAlchemy engine for every event.

Dagster's `SqliteEventLogStorage` creates (and disposes) an engine each time it touches a
database, so every stored event pays SQLAlchemy's dialect start-up again. A `siyu run` stores
one to two thousand events (each dbt model, each of the ~320 dbt tests as an asset check, the
planned events), and that was a fifth of the CPU time of a run on a small day: measured with
py-spy, 12.8 of 60 CPU-seconds. Keeping one engine per database (still `NullPool`: a fresh
SQLite connection each time, as Dagster does) stores the same events for about 40 % less CPU
(`benchmarks/bench_event_log.py`).

Same files, same layout, same locking as Dagster's default, so a Dagster home written with
either can be read with the other; `dagster.yaml` selects it (`pipelines/lib/instance.py`).
The override is of one private method (`_connect`), checked against the pinned Dagster by
`tests/unit/test_dagster_storage.py`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy.pool import NullPool

#: Engines kept at most (one per run database touched, plus the index): a UI process that
#: opens many runs must not hold an engine for each of them forever.
MAX_ENGINES = 64


def default_base_dir() -> str:
    """Where Dagster's default storage keeps the event logs: `$DAGSTER_HOME/history/runs`.

    Resolved when the instance loads, not written into dagster.yaml, so a Dagster home copied
    elsewhere (tests do) writes its events into the copy."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise RuntimeError("DAGSTER_HOME is not set; it locates the event log")
    return os.path.join(home, "history", "runs")


class SiyuSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that reuses one engine per database."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SiyuSqliteEventLogStorage:
        return cls(config_value.get("base_dir") or default_base_dir(), inst_data=inst_data)

    def _engine(self, shard: str) -> sa.Engine:
        engine = self._engines.get(shard)
        if engine is None:
            engine = sa.create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                      connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[shard] = engine
            while len(self._engines) > MAX_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
        else:
            self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        # as Dagster's own, but with the engine kept; a database is (re)initialised whenever
        # the set of initialised ones forgets it (first use, wipe, upgrade)
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()

"""How rows become text: DuckDB macros for money, timestamps and quoting, and Arrow helpers.

Each landing entity is one SQL projection that renders a whole line per row (CSV or JSON),
evaluated by DuckDB over Arrow columns prepared in NumPy. Rendering in SQL keeps the Python
side free of per-row work and makes the output independent of thread scheduling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa

from siyu_generator.mobiles import MACROS_SQL as MOBILE_MACROS

SHANGHAI = timezone(timedelta(hours=8))


def macros_sql(start: date) -> str:
    """Macros bound to the window's first day (day index 0)."""
    epoch0 = int(datetime(start.year, start.month, start.day, tzinfo=SHANGHAI).timestamp())
    return f"""
CREATE OR REPLACE MACRO yuan(c) AS
  (CASE WHEN c < 0 THEN '-' ELSE '' END) || (abs(c) // 100)::VARCHAR || '.'
  || lpad((abs(c) % 100)::VARCHAR, 2, '0');
CREATE OR REPLACE MACRO local_ts(d, s) AS
  strftime(TIMESTAMP '{start.isoformat()}' + to_seconds(d::BIGINT * 86400 + s),
           '%Y-%m-%d %H:%M:%S');
CREATE OR REPLACE MACRO iso_ts(d, s) AS
  strftime(TIMESTAMP '{start.isoformat()}' + to_seconds(d::BIGINT * 86400 + s),
           '%Y-%m-%dT%H:%M:%S+08:00');
CREATE OR REPLACE MACRO epoch_s(d, s) AS {epoch0} + d::BIGINT * 86400 + s;
CREATE OR REPLACE MACRO ymd(d) AS strftime(DATE '{start.isoformat()}' + d::INTEGER, '%Y%m%d');
CREATE OR REPLACE MACRO yymmdd(d) AS strftime(DATE '{start.isoformat()}' + d::INTEGER, '%y%m%d');
CREATE OR REPLACE MACRO csvq(x) AS
  CASE WHEN contains(x, ',') OR contains(x, '"') OR contains(x, chr(10))
       THEN '"' || replace(x, '"', '""') || '"' ELSE x END;
CREATE OR REPLACE MACRO masked(m) AS (m::VARCHAR)[1:3] || '****' || (m::VARCHAR)[8:11];
{MOBILE_MACROS}
"""


def csv_line(*exprs: str) -> str:
    """SQL for one CSV line; NULLs render empty (concat skips them)."""
    parts = ", ',', ".join(exprs)
    return f"concat({parts}, chr(10))"


def take(values: pa.Array | np.ndarray, idx: np.ndarray,
         valid: np.ndarray | None = None) -> pa.Array:
    """values[idx] as Arrow, NULL where `valid` is False (or idx < 0)."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    idx = np.asarray(idx, dtype=np.int64)
    ok = idx >= 0 if valid is None else (np.asarray(valid) & (idx >= 0))
    mask = ~ok if not ok.all() else None
    return arr.take(pa.array(np.where(ok, idx, 0), mask=mask))


def nullable(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~np.asarray(valid))


@dataclass
class Delivery:
    """One landing entity ready to render: Arrow columns, a line SQL and each row's dt.

    `damage` tells the dirt module where to hurt a copied row: ``key`` (CSV column index or
    JSON path of the record key), ``timestamps`` and ``amounts`` (lists of the same).
    """

    name: str  # "pos/orders"
    fmt: str  # "csv" or "jsonl"
    table: pa.Table
    line_sql: str  # SQL expression over the table's columns giving the line (with \n)
    day: np.ndarray  # dt day index of each row, ascending
    header: str | None = None
    encoding: str = "utf-8"
    bom: bool = False
    damage: dict = field(default_factory=dict)

    @property
    def channel(self) -> str:
        return self.name.split("/")[0]

    def __len__(self) -> int:
        return self.table.num_rows


def sort_rows(*keys: np.ndarray) -> np.ndarray:
    """Row order for a delivery: by the first key (dt), then the next ones (lexicographic)."""
    return np.lexsort(tuple(reversed(keys)))


def arrival_order(rng: np.random.Generator, day: np.ndarray, sec: np.ndarray,
                  p_duplicate: float, p_late: float) -> np.ndarray:
    """Indices of events (sorted by day) in the order they reach the export, repeats included.

    Every event arrives a few seconds after it happened, a share `p_late` minutes later
    (so the file is not in event-time order), and a share `p_duplicate` arrives a second time
    (a retried callback) up to a few minutes after the first copy. Copies stay in their
    event's day (the arrival is capped at 23:59:59), so an event's dt is its own date.
    """
    n = len(day)
    dup = np.flatnonzero(rng.random(n) < p_duplicate)
    idx = np.concatenate([np.arange(n, dtype=np.int64), dup])
    m = len(idx)
    delay = np.where(rng.random(m) < p_late, rng.exponential(900.0, m), rng.exponential(2.0, m))
    delay[n:] += rng.integers(5, 300, len(dup))
    arrival = np.minimum(np.asarray(sec, dtype=np.float64)[idx] + delay, 86399.0)
    return idx[np.lexsort((idx, arrival, np.asarray(day)[idx]))]


def versions(base: np.ndarray, changes: list[np.ndarray], days: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(entity, day) of each delivery of a record first delivered on `base` and re-delivered
    on each change day (>= days or NEVER: no change); same-day changes collapse into one."""
    cand = np.stack([np.asarray(base, dtype=np.int64)]
                    + [np.asarray(c, dtype=np.int64) for c in changes], axis=1)
    entity = np.repeat(np.arange(len(base), dtype=np.int64), cand.shape[1])
    day = cand.ravel()
    keep = (day >= 0) & (day < days)
    key = np.unique(entity[keep] * (days + 1) + day[keep])
    return key // (days + 1), (key % (days + 1)).astype(np.int32)

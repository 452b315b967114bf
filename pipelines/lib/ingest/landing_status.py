"""Has a business day fully landed? Which channel is late? (pure; no Dagster)

The landing contract defines no completion marker, so a channel counts as landed for day `D`
when at least one of its entity folders holds a `dt=D` folder with at least one data file of
the entity's format. Files still being written under a temporary name (`*.tmp`, `*.part`) do
not count, because only the contract's suffixes are read. A day is final only once the
business day is over (a channel may deliver several files during `D`), so `D` is considered
from `D + 1 00:00` Asia/Shanghai on.

A channel is *late* for `D` when it has not landed by the cut-off: `D + 1` at the configured
wall-clock time (default 02:00, half an hour before the nightly schedule).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines.lib.ingest.loader import day_files, landed_days
from pipelines.lib.ingest.specs import ENTITY_SPECS, EntitySpec
from pipelines.settings import BUSINESS_TIMEZONE

TZ = ZoneInfo(BUSINESS_TIMEZONE)
#: The four sales channels of the landing contract, in contract order.
CHANNELS: tuple[str, ...] = tuple(dict.fromkeys(s.channel for s in ENTITY_SPECS))


@dataclass(frozen=True)
class LandingPolicy:
    """When a missing channel becomes late, and how far back the sensor looks on first start."""

    cutoff: time = time(2, 0)
    lookback_days: int = 7

    @classmethod
    def from_env(cls) -> LandingPolicy:
        """`SIYU_LANDING_CUTOFF` (HH:MM, Asia/Shanghai, on the day after `D`) and
        `SIYU_SENSOR_LOOKBACK_DAYS`; operators tune them without a code change."""
        cutoff = os.environ.get("SIYU_LANDING_CUTOFF", "02:00")
        lookback = int(os.environ.get("SIYU_SENSOR_LOOKBACK_DAYS", "7"))
        if lookback < 1:
            raise ValueError("SIYU_SENSOR_LOOKBACK_DAYS must be at least 1")
        return cls(cutoff=time.fromisoformat(cutoff), lookback_days=lookback)


@dataclass(frozen=True)
class DayStatus:
    day: date
    landed: tuple[str, ...]
    missing: tuple[str, ...]
    cutoff_at: datetime
    late: bool

    @property
    def complete(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        """One line for sensor evaluations and logs."""
        if self.complete:
            return f"{self.day}: all channels landed"
        state = (f"LATE (cut-off {self.cutoff_at:%Y-%m-%d %H:%M} {BUSINESS_TIMEZONE} passed)"
                 if self.late else f"not late before {self.cutoff_at:%Y-%m-%d %H:%M}")
        return (f"{self.day}: missing {', '.join(self.missing)} — {state}; "
                f"landed: {', '.join(self.landed) or 'none'}")


def _day_landed(landing_dir: Path, spec: EntitySpec, day: date) -> bool:
    return bool(day_files(landing_dir, spec, day))


def channel_days(landing_dir: Path, specs: Iterable[EntitySpec] = ENTITY_SPECS) -> dict[str, set[date]]:
    """For each channel, the business days for which at least one entity delivered a file."""
    out: dict[str, set[date]] = {}
    for spec in specs:
        days = out.setdefault(spec.channel, set())
        days.update(d for d in landed_days(landing_dir, spec) if _day_landed(landing_dir, spec, d))
    return out


def cutoff_for(day: date, cutoff: time) -> datetime:
    return datetime.combine(day + timedelta(days=1), cutoff, tzinfo=TZ)


def assess(day: date, landed: Mapping[str, set[date]], now: datetime, policy: LandingPolicy,
           channels: tuple[str, ...] = CHANNELS) -> DayStatus:
    have = tuple(c for c in channels if day in landed.get(c, set()))
    missing = tuple(c for c in channels if c not in have)
    deadline = cutoff_for(day, policy.cutoff)
    return DayStatus(day, have, missing, deadline, late=bool(missing) and now >= deadline)


def closed_days(first: date, now: datetime) -> list[date]:
    """Business days from `first` up to yesterday (Asia/Shanghai): days that can be final."""
    last = now.astimezone(TZ).date() - timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Group days into runs of consecutive days: each becomes one single-run backfill."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


@dataclass(frozen=True)
class SensorCursor:
    """What the landing sensor remembers between evaluations (stored as JSON).

    `done_through`: every day up to it has been requested. `requested`: later days already
    requested (a complete day is not held back by an earlier late one: the loader replaces a
    whole day and the newest `dt` wins, so days may be loaded out of order). `late`: each
    late day's missing channels, so a newly late day is reported once, and the cursor shows
    the current lateness in the UI.
    """

    done_through: date | None = None
    requested: tuple[date, ...] = ()
    late: tuple[tuple[date, tuple[str, ...]], ...] = ()

    def to_json(self) -> str:
        return json.dumps({
            "done_through": self.done_through.isoformat() if self.done_through else None,
            "requested": [d.isoformat() for d in self.requested],
            "late": {d.isoformat(): list(ch) for d, ch in self.late},
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> SensorCursor:
        if not text:
            return cls()
        raw = json.loads(text)
        done = raw.get("done_through")
        return cls(
            done_through=date.fromisoformat(done) if done else None,
            requested=tuple(sorted(date.fromisoformat(d) for d in raw.get("requested", []))),
            late=tuple(sorted((date.fromisoformat(d), tuple(ch))
                              for d, ch in raw.get("late", {}).items())),
        )


@dataclass(frozen=True)
class SensorPlan:
    ranges: list[tuple[date, date]]
    statuses: list[DayStatus]
    cursor: SensorCursor
    newly_late: list[DayStatus]

    @property
    def waiting(self) -> list[DayStatus]:
        return [s for s in self.statuses if not s.complete]


def plan_landing_runs(cursor: SensorCursor, landed: Mapping[str, set[date]], now: datetime,
                      policy: LandingPolicy, earliest: date) -> SensorPlan:
    """Decide which closed days to request (grouped into contiguous single-run ranges) and
    which channels are late, from the previous cursor and what is on disk now."""
    default_first = now.astimezone(TZ).date() - timedelta(days=policy.lookback_days)
    first = max(earliest, cursor.done_through + timedelta(days=1) if cursor.done_through
                else default_first)
    already = set(cursor.requested)
    statuses = [assess(d, landed, now, policy) for d in closed_days(first, now)
                if d not in already]
    to_request = [s.day for s in statuses if s.complete]
    requested = already | set(to_request)
    done = cursor.done_through or first - timedelta(days=1)
    while done + timedelta(days=1) in requested:
        done += timedelta(days=1)
    previous_late = dict(cursor.late)
    late_now = [s for s in statuses if s.late]
    newly_late = [s for s in late_now if previous_late.get(s.day) != s.missing]
    new_cursor = SensorCursor(
        done_through=done,
        requested=tuple(sorted(d for d in requested if d > done)),
        late=tuple((s.day, s.missing) for s in late_now),
    )
    return SensorPlan(contiguous_ranges(to_request), statuses, new_cursor, newly_late)

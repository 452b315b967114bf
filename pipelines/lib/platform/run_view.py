"""The progress view of `siyu run`: one line per finished step, and on a terminal a live line.

Fed by the runner from Dagster's event stream (pipelines/runner.py: step start/success/failure,
materialisations with their row counts, check evaluations) and from `progress.report` inside
long steps. Pure Python: it knows steps, assets, rows and checks, not Dagster.

* Not a terminal (CI, a test's subprocess, a pipe into a file): a line per finished step —
  status, step, assets, rows, checks, seconds — and the reason under a failed step; no ANSI
  codes, no carriage returns.
* A terminal: the same lines, plus one status line at the bottom redrawn in place: the running
  step, a bar when the step reports its amount of work, the step's and the run's elapsed time.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

#: lines of a failure's reason shown under the step (the run's summary has all of it)
REASON_LINES = 3
BAR_WIDTH = 24
TICK_SECONDS = 0.25


def fmt_duration(seconds: float) -> str:
    """12.3 s under a minute, else m:ss (h:mm:ss past an hour)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def bar(done: int, total: int, width: int = BAR_WIDTH, unicode: bool = True) -> str:
    filled = round(width * done / total) if total > 0 else 0
    full, empty = ("█", "░") if unicode else ("#", "-")
    return full * filled + empty * (width - filled)


@dataclass
class Step:
    key: str
    index: int
    started: float
    finished: float | None = None
    ok: bool | None = None
    reason: str = ""
    rows: dict[str, int | None] = field(default_factory=dict)  # asset -> its latest row count
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # blocking ones
    checks_warned: list[str] = field(default_factory=list)
    warnings: int = 0
    progress: tuple[int, int, str] | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started

    def columns(self) -> str:
        """assets, rows, checks: numbers right-aligned, blank where the step has none."""
        n = len(self.rows)
        assets = f"{n:>3} {'asset' if n == 1 else 'assets':<6}" if n else " " * 10
        known = [r for r in self.rows.values() if r is not None]
        rows = f"{sum(known):>12,} rows" if known else " " * 17
        evaluated = self.checks_passed + len(self.checks_failed) + len(self.checks_warned)
        checks = " " * 14
        if evaluated:
            count = (str(evaluated) if evaluated == self.checks_passed
                     else f"{self.checks_passed}/{evaluated}")
            checks = f"{count:>7} {'check' if evaluated == 1 else 'checks':<6}"
        return f"{assets} {rows} {checks}"


class RunView:
    """Call `begin`, then the event methods (any thread), then `close`."""

    def __init__(self, out: TextIO, live: bool, color: bool | None = None):
        self.out = out
        self.live = live
        self.color = live and not os.environ.get("NO_COLOR") if color is None else color
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.unicode = encoding.startswith("utf")
        self.planned: list[str] = []
        self.steps: dict[str, Step] = {}
        self.phase = "starting"
        self.t0 = time.time()
        self._lock = threading.RLock()
        self._status_shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def begin(self, title: str) -> None:
        with self._lock:
            self._write(f"{title}\n")
            self._redraw()
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="siyu-run-view", daemon=True)
            self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join()
        with self._lock:
            self._clear_status()
            not_run = [k for k in self.planned if k not in self.steps]
            if not_run:
                self._write(f"  not run (an upstream step failed or a blocking check stopped "
                            f"it): {', '.join(not_run)}\n")
            done = sum(1 for s in self.steps.values() if s.ok is not None)
            total = len(self.planned) or done
            self._write(f"  {done} of {total} steps finished in "
                        f"{fmt_duration(time.time() - self.t0)}\n")
            self.out.flush()

    # -- events ----------------------------------------------------------------------------
    def set_phase(self, text: str) -> None:
        with self._lock:
            self.phase = text
            self._redraw()

    def planned_step(self, key: str) -> None:
        with self._lock:
            if key not in self.planned:
                self.planned.append(key)

    def step_started(self, key: str, at: float) -> None:
        with self._lock:
            self.planned_step(key)
            self.steps[key] = Step(key, len(self.steps) + 1, at)
            self.phase = ""  # between steps: how many are left, until the runner says more
            self._redraw()

    def materialized(self, key: str, asset: str, rows: int | None) -> None:
        with self._lock:
            step = self._step(key)
            if rows is not None or asset not in step.rows:
                step.rows[asset] = rows

    def check(self, key: str, label: str, passed: bool, blocking: bool) -> None:
        with self._lock:
            step = self._step(key)
            if passed:
                step.checks_passed += 1
            else:
                (step.checks_failed if blocking else step.checks_warned).append(label)

    def warning(self, key: str) -> None:
        with self._lock:
            if key in self.steps:  # "not executing" notices of steps that never ran: not_run
                self.steps[key].warnings += 1

    def progress(self, done: int, total: int, unit: str) -> None:
        """Work done inside the running step (one step runs at a time in-process)."""
        with self._lock:
            running = [s for s in self.steps.values() if s.ok is None]
            if running:
                running[-1].progress = (done, total, unit)
                self._redraw()

    def step_finished(self, key: str, at: float, ok: bool, reason: str = "") -> None:
        with self._lock:
            step = self._step(key)
            step.finished, step.ok, step.reason = at, ok, reason.strip()
            self._clear_status()
            self._write(self.step_line(step) + "\n")
            for line in self.detail_lines(step):
                self._write(f"{' ' * 10}{line}\n")
            self._redraw()

    # -- rendering -------------------------------------------------------------------------
    def _index(self, step: Step) -> str:
        total = max(len(self.planned), step.index)
        return f"[{step.index:>{len(str(total))}}/{total}]"

    def step_line(self, step: Step) -> str:
        status = "ok" if step.ok else "FAILED"
        width = min(max([len(k) for k in self.planned] + [len(step.key), 24]), 44)
        text = (f"  {self._index(step)} {self._paint(f'{status:<6}', step)} {step.key:<{width}} "
                f"{step.columns()} {fmt_duration(step.seconds):>7}")
        if step.warnings:  # the run's event log in the Dagster UI, or `siyu run --verbose`
            text += f"  {step.warnings} warning{'s' * (step.warnings != 1)} in the run log"
        return text.rstrip()

    def detail_lines(self, step: Step) -> list[str]:
        lines = [f"blocking check failed: {c}" for c in step.checks_failed]
        lines += [f"check warned: {c}" for c in step.checks_warned]
        if step.ok is False and step.reason:
            reason = [r for r in step.reason.splitlines() if r.strip()]
            lines += reason[:REASON_LINES]
            if len(reason) > REASON_LINES:
                lines.append(f"... ({len(reason) - REASON_LINES} more line(s) in the summary below)")
        return lines

    def status_line(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        total = fmt_duration(now - self.t0)
        running = [s for s in self.steps.values() if s.ok is None]
        if not running:
            left = len([k for k in self.planned if k not in self.steps])
            return f"  > {self.phase or f'{left} step(s) to go'} · {total}"
        s = running[-1]
        text = f"  > {self._index(s)} {s.key}"
        if s.progress and s.progress[1] > 0:
            done, n, unit = s.progress
            text += f"  {bar(done, n, unicode=self.unicode)} {done}/{n} {unit}"
        return f"{text}  {fmt_duration(s.seconds)} · run {total}"

    def _paint(self, text: str, step: Step) -> str:
        if not self.color:
            return text
        code = "31;1" if not step.ok else ("33" if step.checks_warned else "32")
        return f"\x1b[{code}m{text}\x1b[0m"

    # -- terminal --------------------------------------------------------------------------
    def _step(self, key: str) -> Step:
        if key not in self.steps:  # an event before STEP_START (never expected): still count it
            self.step_started(key, time.time())
        return self.steps[key]

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.out.fileno()).columns
        except (OSError, AttributeError, ValueError):
            return 100

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _clear_status(self) -> None:
        if self.live and self._status_shown:
            self.out.write("\r\x1b[K")
            self._status_shown = False

    def _redraw(self) -> None:
        if not self.live:
            return
        line = self.status_line()[: max(self._width() - 1, 20)]
        self.out.write("\r\x1b[K" + line)
        self.out.flush()
        self._status_shown = True

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            with self._lock:
                self._redraw()

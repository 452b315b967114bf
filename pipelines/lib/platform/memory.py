"""The run's peak memory: the largest resident set of the run's process and its children.

Two measures, both taken by `siyu run` around the Dagster run (runner.py) and written into the
run report and the `siyu run` summary:

* `largest_process_bytes` — the kernel's own high-water marks (`getrusage`): this process's
  peak RSS and the peak RSS of the largest child it has waited for (dbt, the PostgreSQL
  tools). Exact, but per process, and this process's figure covers its whole life.
* `tree_peak_bytes` — the sum of the resident sets of this process and all its live
  descendants, sampled every `interval` seconds by a background thread (psutil): what the
  machine had to hold at once while dbt ran beside the Dagster process. A sample can miss a
  spike shorter than the interval. Without psutil (it comes with Dagster) it is None.
"""

from __future__ import annotations

import os
import resource
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PeakMemory:
    largest_process_bytes: int
    tree_peak_bytes: int | None
    samples: int

    @property
    def peak_bytes(self) -> int:
        """The figure the report leads with: the larger of the two measures."""
        return max(self.largest_process_bytes, self.tree_peak_bytes or 0)

    def describe(self) -> str:
        tree = ("n/a" if self.tree_peak_bytes is None
                else f"{gib(self.tree_peak_bytes)} (process tree, sampled)")
        return (f"{gib(self.peak_bytes)} — largest single process {gib(self.largest_process_bytes)}"
                f", process and children together {tree}")


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def largest_process_bytes() -> int:
    """Peak RSS of this process or of its largest waited-for child (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total


class MemoryWatch:
    """Context manager sampling the process tree's RSS; `result` once it exits."""

    # a sample walks every process of the machine (psutil's children() reads all of /proc):
    # ≈ 11 ms with 90 processes, more on a busy machine — twice a second was 2-5 % of a core
    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.result: PeakMemory | None = None
        self._stop = threading.Event()
        self._peak: int | None = None
        self._samples = 0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        import psutil

        proc = psutil.Process(os.getpid())
        while True:
            rss = _tree_rss(proc)
            self._peak = rss if self._peak is None else max(self._peak, rss)
            self._samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> MemoryWatch:
        try:
            import psutil  # noqa: F401
        except ImportError:
            return self
        self._thread = threading.Thread(target=self._sample, name="siyu-memory-watch",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.result = PeakMemory(largest_process_bytes(), self._peak, self._samples)

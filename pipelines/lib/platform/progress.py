"""How far a long step is, for the live view of `siyu run` (lib/platform/run_view.py).

A step that knows its amount of work (a dbt build: the models and tests Dagster selected)
calls `report(done, total, unit)` as it goes. It is a DEBUG record on the `siyu.progress`
logger, carrying the numbers as `record.siyu_progress`: the runner attaches a handler for the
duration of its in-process run; anywhere else (`dagster dev`, tests) nobody listens, the logger
does not propagate, and the call costs one level check.
"""

from __future__ import annotations

import logging

LOGGER = logging.getLogger("siyu.progress")
LOGGER.propagate = False


def report(done: int, total: int, unit: str) -> None:
    if LOGGER.isEnabledFor(logging.DEBUG):
        LOGGER.debug("%d of %d %s", done, total, unit,
                     extra={"siyu_progress": (done, total, unit)})

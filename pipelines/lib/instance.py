"""A persistent Dagster instance under `DAGSTER_HOME`, so CLI runs show up in the UI."""

from __future__ import annotations

import os
from pathlib import Path

#: What earlier versions wrote; a home still holding exactly this is upgraded in place
#: (the event log files stay where they are: the storages share one layout).
_PREVIOUS_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_launcher:
  module: dagster._core.launcher.default_run_launcher
  class: DefaultRunLauncher
"""

#: The event log is Dagster's SQLite one with its engines kept (pipelines/lib/dagster_storage.py);
#: runs and schedules use Dagster's SQLite defaults under the same home.
DAGSTER_YAML = _PREVIOUS_DAGSTER_YAML + """\
event_log_storage:
  module: pipelines.lib.dagster_storage
  class: SiyuSqliteEventLogStorage
"""


def prepare_dagster_home(home: Path) -> Path:
    """Create the home and its dagster.yaml; a dagster.yaml someone edited is left alone."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists() or cfg.read_text(encoding="utf-8") == _PREVIOUS_DAGSTER_YAML:
        cfg.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home

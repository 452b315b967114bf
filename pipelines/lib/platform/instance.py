"""A persistent Dagster instance under `DAGSTER_HOME`, so CLI runs show up in the UI."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
telemetry:
  enabled: false
run_launcher:
  module: dagster._core.launcher.default_run_launcher
  class: DefaultRunLauncher
"""


def prepare_dagster_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home

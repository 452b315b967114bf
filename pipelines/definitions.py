"""The Dagster code location: everything under `pipelines/defs/`, plus resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.resources import build_resources


@dg.definitions
def defs() -> dg.Definitions:
    folder = dg.load_from_defs_folder(project_root=Path(__file__).resolve().parent.parent)
    return dg.Definitions.merge(
        folder,
        dg.Definitions(resources=build_resources(), executor=dg.in_process_executor),
    )

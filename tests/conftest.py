"""Shared fixtures: a hand-made landing zone and a loaded warehouse."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.fixtures.handmade import write_handmade

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
INGESTED_AT = dt.datetime(2024, 1, 1)


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    return write_handmade(tmp_path / "zone")


def load_all(root: Path, warehouse: Path, dts=None):
    from pipelines.lib.ingest.loader import load_entity
    from pipelines.lib.ingest.sinks import DuckDBSink
    from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS
    from pipelines.lib.warehouse import connect

    results = {}
    with connect(warehouse) as con:
        for spec in ENTITY_SPECS + REFERENCE_SPECS:
            results[spec.name] = load_entity(spec, root, dts, DuckDBSink(con), INGESTED_AT)
    return results

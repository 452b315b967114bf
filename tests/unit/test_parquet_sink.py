"""The Spark target's landing format: the same rows as the DuckDB sink, in a layout Spark reads."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from pipelines.defs.ingest.assets import read_lake_days
from pipelines.lib.ingest.loader import load_entity
from pipelines.lib.ingest.sinks import ParquetSink
from pipelines.lib.ingest.specs import ENTITY_SPECS, REFERENCE_SPECS, SPECS_BY_NAME
from pipelines.lib.platform.warehouse import connect
from tests.conftest import INGESTED_AT, load_all


def _lake(handmade: Path, lake: Path) -> None:
    for spec in ENTITY_SPECS + REFERENCE_SPECS:
        load_entity(spec, handmade, None, ParquetSink(lake), INGESTED_AT)


def _lake_rows(lake: Path, schema: str, table: str) -> int:
    glob = lake / schema / table / "**" / "*.parquet"
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
                      ).fetchall()[0][0]


def test_lake_holds_what_the_warehouse_holds(handmade: Path, tmp_path: Path):
    lake = tmp_path / "lake"
    _lake(handmade, lake)
    wh = tmp_path / "wh.duckdb"
    load_all(handmade, wh)
    with connect(wh, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()]
        assert len(tables) > 11
        for table in tables:
            expected = con.execute(f"SELECT count(*) FROM raw.{table}").fetchall()[0][0]
            assert _lake_rows(lake, "raw", table) == expected, table
        rejected = con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchall()[0][0]
    assert rejected > 0
    assert _lake_rows(lake, "quarantine", "rejected_rows") == rejected
    # Hive partitions by day; reference tables keep a typed null `_dt` in the file instead
    assert (lake / "raw" / "pos__members" / "_dt=2024-05-01" / "part-0.parquet").exists()
    assert (lake / "raw" / "reference__stores" / "part-0.parquet").exists()
    assert (lake / "quarantine" / "rejected_rows" / "dt=2024-05-01" / "pos__members.parquet"
            ).exists()


def test_reloading_a_day_replaces_its_file(handmade: Path, tmp_path: Path):
    lake = tmp_path / "lake"
    spec = SPECS_BY_NAME["pos__members"]
    for _ in range(2):
        load_entity(spec, handmade, None, ParquetSink(lake), INGESTED_AT)
    files = sorted(p.relative_to(lake).as_posix() for p in (lake / "raw").rglob("*.parquet"))
    assert files == ["raw/_load_log/dt=2024-05-01/pos__members.parquet",
                     "raw/pos__members/_dt=2024-05-01/part-0.parquet"]
    df = read_lake_days(lake, "pos__members", [date(2024, 5, 1)])
    assert len(df) == _lake_rows(lake, "raw", "pos__members") > 0
    assert set(df["_dt"].astype(str)) == {"2024-05-01"}

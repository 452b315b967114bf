"""Ingestion throughput and overhead: Siyu's loader vs a bare DuckDB read of the same files.

Siyu's path parses, types, validates every field, hashes mobiles, quarantines bad rows and
writes raw + quarantine + load log. The bare path is what DuckDB alone does to get the files
into tables (`read_csv` / `read_json` with errors ignored; GBK files, which DuckDB cannot
decode, are transcoded with pyarrow for the bare path too). Goal: Siyu ≤ 2× bare.

    python benchmarks/bench_ingest.py --data-dir DIR
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.lib.ingest.loader import day_files, landed_days, load_entity
from pipelines.lib.ingest.sinks import DuckDBSink
from pipelines.lib.ingest.specs import ENTITY_SPECS
from pipelines.lib.platform.warehouse import connect


def bare(con: duckdb.DuckDBPyConnection, data_dir: Path) -> int:
    rows = 0
    for spec in ENTITY_SPECS:
        landing = data_dir / "landing"
        files = [str(f) for d in landed_days(landing, spec) for f in day_files(landing, spec, d)]
        if not files:
            continue
        table = f"bare_{spec.name}"
        if spec.fmt == "jsonl":
            # one JSON value per line, no schema inference (inferring a union schema over
            # thousands of files exhausts memory at 1M members)
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM "
                        f"read_ndjson_objects({files}, ignore_errors=true)")
        elif spec.encoding == "gbk":
            names = [f.source for f in spec.fields]
            as_text = pacsv.ConvertOptions(column_types={c: pa.string() for c in names})
            tables = [pacsv.read_csv(f, read_options=pacsv.ReadOptions(
                                         encoding="gbk", column_names=names, skip_rows=1),
                                     convert_options=as_text,
                                     parse_options=pacsv.ParseOptions(
                                         invalid_row_handler=lambda r: "skip"))
                      for f in files]
            arrow = pa.concat_tables(tables, promote_options="permissive")  # noqa: F841
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM arrow")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv({files}, "
                        "all_varchar=true, ignore_errors=true, union_by_name=true, header=true)")
        rows += con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with connect(Path(tmp) / "bare.duckdb") as con:
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET memory_limit = '12GB'")
            bare_rows = bare(con, args.data_dir)
        bare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows_in = accepted = rejected = 0
        with connect(Path(tmp) / "siyu.duckdb") as con:
            for spec in ENTITY_SPECS:
                r = load_entity(spec, args.data_dir, None, DuckDBSink(con), datetime(2026, 1, 1))
                rows_in += r.rows_in
                accepted += r.accepted
                rejected += r.rejected
        siyu_s = time.perf_counter() - t0
    print(json.dumps({
        "rows_in_files": rows_in, "accepted": accepted, "quarantined": rejected,
        "bare_rows": bare_rows,
        "siyu_seconds": round(siyu_s, 2), "bare_duckdb_seconds": round(bare_s, 2),
        "siyu_rows_per_second": round(rows_in / siyu_s),
        "ratio_siyu_to_bare": round(siyu_s / bare_s, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
